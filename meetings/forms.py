"""Forms: they validate and clean; the services and model methods make the changes."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from caseload.models import Resident
from int_app.teams import dates
from int_app.teams.models import User

from .models import Action, AgendaItem, Attendance, Meeting, MeetingSeries
from .services import action_owner_can_see, action_owner_choices

INPUT = "nhsuk-input"
TEXTAREA = "nhsuk-textarea"
SELECT = "nhsuk-select"


def date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date", "class": f"{INPUT} nhsuk-input--width-10"}, format="%Y-%m-%d")


class SeriesForm(forms.ModelForm):
    class Meta:
        model = MeetingSeries
        fields = ["name", "purpose", "weekday", "start_time", "duration_minutes", "location", "video_link", "active"]
        labels = {
            "duration_minutes": "Duration (minutes)",
            "start_time": "Start time",
            "video_link": "Video link",
            "active": "Active: schedule its meetings",
        }
        widgets = {
            "name": forms.TextInput(attrs={"class": INPUT}),
            "purpose": forms.Select(attrs={"class": SELECT}),
            "weekday": forms.Select(attrs={"class": SELECT}),
            "start_time": forms.TimeInput(attrs={"type": "time", "class": f"{INPUT} nhsuk-input--width-5"}, format="%H:%M"),
            "duration_minutes": forms.NumberInput(attrs={"class": f"{INPUT} nhsuk-input--width-4", "min": 15, "max": 480}),
            "location": forms.TextInput(attrs={"class": INPUT}),
            "video_link": forms.URLInput(attrs={"class": INPUT}),
            "active": forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
        }

    def __init__(self, *args, team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_duration_minutes(self) -> int:
        minutes = self.cleaned_data["duration_minutes"]
        if not 15 <= minutes <= 480:
            raise forms.ValidationError("A meeting lasts between 15 minutes and 8 hours.")
        return minutes

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = MeetingSeries.objects.filter(team=self.team, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("The team already has a series with this name.")
        return name

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("location") and not cleaned.get("video_link") and not self.errors:
            raise forms.ValidationError("Give a location, a video link, or both.")
        return cleaned


class CancelMeetingForm(forms.Form):
    reason = forms.CharField(
        label="Why is the meeting cancelled?",
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
        error_messages={"required": "Give a reason for cancelling."},
    )


class MoveMeetingForm(forms.Form):
    date = forms.DateField(label="New date", widget=date_input(), validators=[dates.MEETING_DATE.validate])
    start_time = forms.TimeField(
        label="Start time",
        widget=forms.TimeInput(attrs={"type": "time", "class": f"{INPUT} nhsuk-input--width-5"}, format="%H:%M"),
    )
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)", min_value=15, max_value=480,
        widget=forms.NumberInput(attrs={"class": f"{INPUT} nhsuk-input--width-4"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("date") and cleaned.get("start_time"):
            starts_at = timezone.make_aware(dt.datetime.combine(cleaned["date"], cleaned["start_time"]))
            if starts_at < timezone.now():
                raise forms.ValidationError("A meeting cannot be moved into the past.")
            cleaned["starts_at"] = starts_at
        return cleaned


class AddResidentForm(forms.Form):
    resident = forms.ModelChoiceField(
        queryset=Resident.objects.none(),
        label="Add a resident",
        empty_label="Choose a resident",
        widget=forms.Select(attrs={"class": SELECT}),
        error_messages={"required": "Choose a resident to add.", "invalid_choice": "Choose one of the team's open cases."},
    )
    reason = forms.ChoiceField(choices=AgendaItem.Reason.choices, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, meeting: Meeting, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the team's own open cases: another team's resident is not a valid choice.
        self.fields["resident"].queryset = (
            Resident.objects.open_to_planning().filter(team_id=meeting.team_id, status__in=Resident.Status.open_values())
            .exclude(agenda_items__meeting=meeting)
            .order_by("family_name", "given_name")
        )


class RemoveItemForm(forms.Form):
    item = forms.ModelChoiceField(queryset=AgendaItem.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args, meeting: Meeting, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only this meeting's items: anything else, or anything that is not an id, is "no longer on it".
        self.fields["item"].queryset = meeting.items.select_related("resident")


class AgendaItemForm(forms.ModelForm):
    class Meta:
        model = AgendaItem
        fields = ["minutes", "presenter"]
        widgets = {
            "minutes": forms.NumberInput(attrs={"class": f"{INPUT} nhsuk-input--width-2", "min": 1, "max": 120}),
            "presenter": forms.Select(attrs={"class": SELECT}),
        }

    def __init__(self, *args, presenters: list[User], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["presenter"].queryset = User.objects.filter(pk__in=[p.pk for p in presenters])
        self.fields["presenter"].empty_label = "The coordinator"
        self.fields["minutes"].error_messages["required"] = "Give the minutes for this item."

    def clean_minutes(self) -> int:
        minutes = self.cleaned_data["minutes"]
        if not 1 <= minutes <= 120:
            raise forms.ValidationError("Allow between 1 and 120 minutes for an item.")
        return minutes


class AttendanceForm(forms.ModelForm):
    class Meta:
        model = Attendance
        fields = ["status", "deputy_name"]
        widgets = {
            "status": forms.RadioSelect(attrs={"class": "nhsuk-radios__input"}),
            "deputy_name": forms.TextInput(attrs={"class": f"{INPUT} nhsuk-input--width-20"}),
        }
        labels = {"deputy_name": "Deputy's name"}

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("status") == Attendance.Status.DEPUTY and not cleaned.get("deputy_name", "").strip():
            self.add_error("deputy_name", f"Name the deputy who came for {self.instance.user}.")
        return cleaned


class NotesForm(forms.Form):
    notes = forms.CharField(
        label="Notes", required=False, widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 4})
    )


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[(AgendaItem.Outcome.DISCUSSED, "Discussed"), (AgendaItem.Outcome.NOT_REACHED, "Not reached")],
        error_messages={"required": "Say whether the item was discussed or not reached."},
    )


class DecisionForm(forms.Form):
    text = forms.CharField(
        label="Decision",
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 2}),
        error_messages={"required": "Write the decision."},
    )
    is_clinical = forms.BooleanField(
        label="Clinical decision (the GP signs it off)",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
    )


class OwnerField(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        return user.full_name


class ActionForm(forms.Form):
    """A new action: the owner must be someone who can see the resident's case."""

    description = forms.CharField(
        label="Action",
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 2}),
        error_messages={"required": "Describe the action."},
    )
    owner = OwnerField(
        queryset=User.objects.none(),
        label="Owner",
        empty_label="Choose who owns it",
        widget=forms.Select(attrs={"class": SELECT}),
        error_messages={"required": "Choose who owns the action.", "invalid_choice": "Choose a member of the team."},
    )
    due_date = forms.DateField(
        label="Due date", widget=date_input(), validators=[dates.ACTION_DUE_DATE.validate],
        error_messages={"required": "Give a due date.", "invalid": "Give a real date."},
    )

    def __init__(self, *args, resident: Resident, owners: list[User], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resident = resident
        # Anyone in the team is a valid value, so that the check below can say plainly why a
        # member who cannot see the case is refused; the list offers only those who own actions.
        # `owners` is read once per page, not once per agenda item.
        self.fields["owner"].queryset = User.objects.filter(memberships__team_id=resident.team_id).distinct()
        self.fields["owner"].widget.choices = [("", "Choose who owns it")] + [(u.pk, u.full_name) for u in owners]
        if not self.is_bound and resident.key_worker_id:
            self.initial.setdefault("owner", resident.key_worker_id)

    def clean_owner(self) -> User:
        owner = self.cleaned_data["owner"]
        if not action_owner_can_see(owner=owner, resident=self.resident):
            raise forms.ValidationError(f"{owner} cannot see {self.resident}'s case, so cannot own an action for them.")
        return owner

    def clean_due_date(self) -> dt.date:
        due = self.cleaned_data["due_date"]
        if due < timezone.localdate():
            raise forms.ValidationError("The due date cannot be in the past.")
        return due


class ActionStatusForm(forms.Form):
    """A one-tap status change: the button pressed carries the new status."""

    to = forms.ChoiceField(choices=Action.Status.choices, error_messages={"required": "Choose the new status."})
    comment = forms.CharField(
        label="Comment", required=False, max_length=2000, widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, error_messages={"required": "Reload the page and try again."})

    def __init__(self, *args, action: Action, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        self.fields["comment"].widget.attrs["id"] = f"comment-{action.pk}"
        self.fields["comment"].label = "Comment (needed to cancel)"

    def clean(self) -> dict:
        cleaned = super().clean()
        to = cleaned.get("to")
        if to == Action.Status.CANCELLED and not cleaned.get("comment", "").strip():
            self.add_error("comment", "Say why the action is cancelled.")
        return cleaned


class ActionEditForm(forms.Form):
    description = forms.CharField(
        label="Action", widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
        error_messages={"required": "Describe the action."},
    )
    owner = OwnerField(queryset=User.objects.none(), label="Owner", widget=forms.Select(attrs={"class": SELECT}))
    due_date = forms.DateField(
        label="Due date", widget=date_input(), validators=[dates.ACTION_DUE_DATE.validate], error_messages={"invalid": "Give a real date."}
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, action: Action, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resident = action.resident
        self.fields["owner"].queryset = User.objects.filter(memberships__team_id=action.resident.team_id).distinct()
        self.fields["owner"].widget.choices = [(u.pk, u.full_name) for u in action_owner_choices(team=action.resident.team)]

    def clean_owner(self) -> User:
        owner = self.cleaned_data["owner"]
        if not action_owner_can_see(owner=owner, resident=self.resident):
            raise forms.ValidationError(f"{owner} cannot see {self.resident}'s case, so cannot own an action for them.")
        return owner


class AddendumForm(forms.Form):
    text = forms.CharField(
        label="Correction",
        help_text="Say what was wrong and what is right. It is added, dated, below the published minutes.",
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 4}),
        error_messages={"required": "Write the correction."},
    )
    correct_summaries_of = forms.ModelMultipleChoiceField(
        label="Send a corrected outcome summary to the GP practice of",
        help_text="Each resident chosen gets a new summary, marked as an addendum, with this correction.",
        queryset=AgendaItem.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Choose residents discussed at this meeting.", "invalid_pk_value": "Choose residents discussed at this meeting."},
    )

    def __init__(self, *args, meeting: Meeting, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["correct_summaries_of"]
        field.queryset = meeting.items.filter(outcome=AgendaItem.Outcome.DISCUSSED).select_related("resident__practice").order_by("position")
        field.label_from_instance = lambda item: f"{item.resident} ({item.resident.practice.name})"


class SummaryCorrectionForm(forms.Form):
    correction = forms.CharField(
        label="What does the corrected summary correct?",
        help_text="The practice reads this at the top of the summary, marked as an addendum.",
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
        error_messages={"required": "Say what the corrected summary corrects."},
    )


class ReassignActionsForm(forms.Form):
    """One form for all of a person's open actions: a new owner for each, or one for all (an
    owner chosen for one action wins over the one for all). Each action carries the version the
    page showed, so a change someone made since is caught, not overwritten."""

    owner_for_all = OwnerField(
        queryset=User.objects.none(),
        required=False,
        label="One new owner for all of them",
        empty_label="Choose for each action below",
        widget=forms.Select(attrs={"class": SELECT}),
        error_messages={"invalid_choice": "Choose a member of the team."},
    )

    def __init__(self, *args, actions: list[Action], owners: list[User], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.actions = actions
        choices = [(u.pk, u.full_name) for u in owners]
        queryset = User.objects.filter(pk__in=[u.pk for u in owners])
        self.fields["owner_for_all"].queryset = queryset
        self.fields["owner_for_all"].widget.choices = [("", "Choose for each action below"), *choices]
        for action in actions:
            field = OwnerField(
                queryset=queryset,
                required=False,
                label=f"New owner of “{action.description[:60]}” for {action.resident}",
                empty_label="Same as for all",
                widget=forms.Select(attrs={"class": SELECT}),
                error_messages={"invalid_choice": "Choose a member of the team."},
            )
            field.widget.choices = [("", "Same as for all"), *choices]
            self.fields[f"owner_{action.pk}"] = field
            self.fields[f"version_{action.pk}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=action.version, error_messages={"required": "Reload the page and try again."}
            )

    def rows(self) -> list[tuple[Action, forms.BoundField, forms.BoundField]]:
        return [(action, self[f"owner_{action.pk}"], self[f"version_{action.pk}"]) for action in self.actions]

    def clean(self) -> dict:
        cleaned = super().clean()
        self.assignments: list[tuple[Action, User, int]] = []
        for action in self.actions:
            owner = cleaned.get(f"owner_{action.pk}") or cleaned.get("owner_for_all")
            version = cleaned.get(f"version_{action.pk}")
            if owner is None or version is None:
                continue
            if not action_owner_can_see(owner=owner, resident=action.resident):
                self.add_error(f"owner_{action.pk}", f"{owner} cannot see {action.resident}'s case, so cannot own an action for them.")
                continue
            self.assignments.append((action, owner, version))
        if not self.errors and not self.assignments:
            self.add_error("owner_for_all", "Choose a new owner for all the actions, or for at least one of them.")
        return cleaned
