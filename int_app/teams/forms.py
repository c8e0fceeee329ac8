"""Forms of the teams layer's own pages: inviting people, and accepting an invitation."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from .invitations import Invitee, check_invitee, clean_email, clean_name, teams_to_invite_into
from .models import Organisation, Practice, Team, User
from .roles import Role

INPUT = "nhsuk-input"
SELECT = "nhsuk-select"


class PracticeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, practice: Practice) -> str:
        return f"{practice.name} ({practice.ods_code})"


class InviteForm(forms.Form):
    email = forms.CharField(label="Email address", max_length=254, widget=forms.EmailInput(attrs={"class": INPUT, "autocomplete": "off", "spellcheck": "false"}))
    given_name = forms.CharField(label="Given name", max_length=200, widget=forms.TextInput(attrs={"class": INPUT}))
    family_name = forms.CharField(label="Family name", max_length=200, widget=forms.TextInput(attrs={"class": INPUT}))
    team = forms.ModelChoiceField(queryset=Team.objects.none(), label="Team", empty_label="Choose a team", widget=forms.Select(attrs={"class": SELECT}))
    role = forms.ChoiceField(label="Role in the team", choices=[("", "Choose a role"), *Role.choices], widget=forms.Select(attrs={"class": SELECT}))
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.all(),
        label="Organisation they work for",
        empty_label="Choose an organisation",
        widget=forms.Select(attrs={"class": SELECT}),
    )
    practice = PracticeChoiceField(
        queryset=Practice.objects.none(),
        required=False,
        label="Practice (practice managers only)",
        empty_label="None",
        widget=forms.Select(attrs={"class": SELECT}),
    )

    def __init__(self, *args, admin: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        teams = teams_to_invite_into(admin)
        self.fields["team"].queryset = Team.objects.filter(pk__in=[team.pk for team in teams])
        self.fields["practice"].queryset = Practice.objects.filter(
            pcn__neighbourhood__team__in=[team.pk for team in teams]
        ).select_related("pcn")
        for name, message in (
            ("email", "Give an email address."),
            ("given_name", "Give the given name."),
            ("family_name", "Give the family name."),
            ("team", "Choose the team."),
            ("role", "Choose the role."),
            ("organisation", "Choose the organisation they work for."),
        ):
            self.fields[name].error_messages["required"] = message

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])

    def clean_given_name(self) -> str:
        return clean_name(self.cleaned_data["given_name"], "given name")

    def clean_family_name(self) -> str:
        return clean_name(self.cleaned_data["family_name"], "family name")

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self.invitee = Invitee(
            email=cleaned["email"],
            given_name=cleaned["given_name"],
            family_name=cleaned["family_name"],
            team=cleaned["team"],
            role=cleaned["role"],
            organisation=cleaned["organisation"],
            practice=cleaned.get("practice"),
        )
        for problem in check_invitee(self.invitee):
            self.add_error(None, problem)
        return cleaned


class InviteCSVForm(forms.Form):
    MAX_BYTES = 1024 * 1024

    file = forms.FileField(
        label="People to invite (CSV)",
        help_text="Columns: email,given_name,family_name,team,role,organisation (and practice, for practice managers).",
        widget=forms.ClearableFileInput(attrs={"class": "nhsuk-file-upload__input", "accept": ".csv,text/csv"}),
        error_messages={"required": "Choose a CSV file.", "empty": "The file is empty."},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 1 MB: split it.")
        return upload


class AcceptInvitationForm(forms.Form):
    """The person's password, checked by the same rules as any other (AUTH_PASSWORD_VALIDATORS)."""

    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        help_text="At least 12 characters; not a common password, not all numbers, not like your name or email.",
        widget=forms.PasswordInput(attrs={"class": INPUT, "autocomplete": "new-password"}),
        error_messages={"required": "Choose a password."},
    )
    password2 = forms.CharField(
        label="Type the password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"class": INPUT, "autocomplete": "new-password"}),
        error_messages={"required": "Type the password again."},
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict:
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned
