"""Forms for the caseload: each validates and cleans its input, and save() does the change
through the model method or service that owns it."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from int_app.teams import dates
from int_app.teams.models import Practice, Team, User
from int_app.teams.roles import Role

from .models import Goal, Intervention, Resident, ServiceUseEvent, SubjectAccessRequest, key_worker_caseloads
from .nhs_number import normalise_nhs_number, validate_nhs_number
from .records import resident_restrict
from .services import AlreadyOpen, open_episode_of, resident_refer

INPUT = "nhsuk-input"
SELECT = "nhsuk-select"
TEXTAREA = "nhsuk-textarea"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"class": f"{INPUT} nhsuk-input--width-10", **(attrs or {})}, format="%Y-%m-%d")


class NhsNumberField(forms.CharField):
    """Accepts 943 476 5919 or 943-476-5919; cleans to the ten digits."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", "NHS number")
        kwargs.setdefault("help_text", "10 digits, for example 943 476 5919")
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={"class": f"{INPUT} nhsuk-input--width-10", "inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"}
            ),
        )
        super().__init__(max_length=14, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        validate_nhs_number(value)
        return normalise_nhs_number(value)


def open_referral_link(existing: Resident, user: User) -> str | None:
    """The open record's address when the user may see it; otherwise nothing is said about it."""
    if Resident.objects.visible_to(user).filter(pk=existing.pk).exists():
        return existing.get_absolute_url()
    return None


OPEN_HERE = "This person already has an open referral with your team."
OPEN_ELSEWHERE = "This person already has an open referral with another team. Contact that team before referring again."


class ReferralForm(forms.Form):
    nhs_number = NhsNumberField()
    given_name = forms.CharField(label="First name", max_length=100, widget=forms.TextInput(attrs={"class": INPUT, "autocomplete": "off"}))
    family_name = forms.CharField(label="Last name", max_length=100, widget=forms.TextInput(attrs={"class": INPUT, "autocomplete": "off"}))
    date_of_birth = forms.DateField(label="Date of birth", widget=DateInput(), validators=[dates.DATE_OF_BIRTH.validate])
    practice = forms.ModelChoiceField(
        label="Registered GP practice",
        help_text="The practice decides which INT the resident belongs to.",
        queryset=Practice.objects.none(),
        widget=forms.Select(attrs={"class": SELECT}),
    )
    referral_date = forms.DateField(label="Referral date", widget=DateInput(), validators=[dates.REFERRAL_DATE.validate])
    referral_source = forms.ChoiceField(
        label="Referred by (source)", choices=Resident.ReferralSource.choices, widget=forms.Select(attrs={"class": SELECT})
    )
    referrer = forms.CharField(
        label="Referrer", help_text="Name and service, for example Dr Khan, Church Road Surgery", max_length=160,
        widget=forms.TextInput(attrs={"class": INPUT}),
    )
    referral_reason = forms.CharField(label="Reason for referral", widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 4}))

    def __init__(self, *args, user: User, teams: list[Team], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # Set when the person is already open and the user may see their record: the page links to it.
        self.open_record_url: str | None = None
        self.fields["practice"].queryset = Practice.objects.open().filter(
            pcn__neighbourhood__team__in=teams
        ).select_related("pcn").order_by("name")
        self.fields["referral_date"].initial = timezone.localdate()
        birth_year = self.initial.get("birth_year")
        if birth_year:
            # Case finding knows the year of birth only: the date is asked for, with the year as a check.
            self.fields["date_of_birth"].help_text = f"The population extract gives the year of birth as {birth_year}."

    def clean(self) -> dict:
        cleaned = super().clean()
        born, referred = cleaned.get("date_of_birth"), cleaned.get("referral_date")
        if born and referred and referred < born:
            self.add_error("referral_date", "The referral date cannot be before the date of birth.")
        nhs_number = cleaned.get("nhs_number")
        if nhs_number:
            existing = open_episode_of(nhs_number)
            if existing is not None:
                self.refuse_as_open(existing)
        return cleaned

    def refuse_as_open(self, existing: Resident) -> None:
        self.open_record_url = open_referral_link(existing, self.user)
        self.add_error("nhs_number", OPEN_HERE if self.open_record_url else OPEN_ELSEWHERE)

    def save(self) -> Resident | None:
        """The new resident, or None when the referral was refused (the form has the reason)."""
        try:
            return resident_refer(by=self.user, **self.cleaned_data)
        except AlreadyOpen as refused:
            self.refuse_as_open(refused.existing)
        except ValidationError as refused:
            self.add_error(None, refused)
        return None


class ResidentChangeForm(forms.Form):
    """A change to one resident: carries the version the person saw, so a stale page is refused."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, resident: Resident, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resident = resident
        self.user = user
        self.fields["version"].initial = resident.version

    def clean_version(self) -> int:
        version = self.cleaned_data["version"]
        if version != self.resident.version:
            raise ValidationError(
                f"Someone else changed {self.resident.full_name}'s record after you opened this page. "
                "Nothing was saved: check the record and try again.",
                code="stale",
            )
        return version

    def save(self) -> bool:
        """Make the change; a refusal from the journey becomes a form error and returns False."""
        try:
            self.apply()
        except ValidationError as refused:
            self.add_error(None, refused)
            return False
        return True

    def apply(self) -> None:
        raise NotImplementedError


def today_field(label: str, rule: dates.DateRule) -> forms.DateField:
    return forms.DateField(label=label, widget=DateInput(), validators=[rule.validate], initial=timezone.localdate)


class KeyWorkerChoice(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        return f"{user.full_name} – {Role(user.key_worker_role).label}, {user.key_worker_organisation} ({user.active_count} active)"


class TriageForm(ResidentChangeForm):
    ACCEPT, NOT_ACCEPT = "accept", "not_accept"
    decision = forms.ChoiceField(
        label="Triage decision",
        choices=[(ACCEPT, "Accept: the INT will support this resident"), (NOT_ACCEPT, "Do not accept")],
        widget=forms.RadioSelect,
    )
    key_worker = KeyWorkerChoice(
        label="Key worker", required=False, queryset=User.objects.none(), widget=forms.Select(attrs={"class": SELECT}),
        help_text="Their current number of active residents is shown beside each name.",
    )
    not_accepted_reason = forms.ChoiceField(
        label="Reason", required=False, choices=[("", "Choose a reason")] + Resident.NotAcceptedReason.choices,
        widget=forms.Select(attrs={"class": SELECT}),
    )
    not_accepted_detail = forms.CharField(
        label="Details", required=False, widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3})
    )
    on = today_field("Triage date", dates.TRIAGE_DATE)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key_worker"].queryset = key_worker_caseloads(self.resident.team)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("decision") == self.ACCEPT and not cleaned.get("key_worker"):
            self.add_error("key_worker", "Choose the key worker who will be the resident's named contact.")
        if cleaned.get("decision") == self.NOT_ACCEPT:
            if not cleaned.get("not_accepted_reason"):
                self.add_error("not_accepted_reason", "Choose why the referral is not accepted.")
            elif cleaned["not_accepted_reason"] == Resident.NotAcceptedReason.OTHER and not cleaned.get("not_accepted_detail", "").strip():
                self.add_error("not_accepted_detail", "Say why the referral is not accepted.")
        return cleaned

    def apply(self) -> None:
        data = self.cleaned_data
        if data["decision"] == self.ACCEPT:
            self.resident.accept(key_worker=data["key_worker"], by=self.user, on=data["on"])
        else:
            self.resident.not_accept(
                reason=data["not_accepted_reason"], detail=data["not_accepted_detail"], by=self.user, on=data["on"]
            )


class StartInterventionForm(ResidentChangeForm):
    on = today_field("Intervention start date", dates.INTERVENTION_START)

    def apply(self) -> None:
        self.resident.start_intervention(on=self.cleaned_data["on"], by=self.user)


class ConsentForm(ResidentChangeForm):
    on = today_field("Date consent was given", dates.CONSENT_DATE)
    method = forms.ChoiceField(
        label="How consent was obtained", choices=Resident.ConsentMethod.choices, widget=forms.RadioSelect
    )

    def apply(self) -> None:
        self.resident.record_consent(on=self.cleaned_data["on"], method=self.cleaned_data["method"], by=self.user)


class StepDownForm(ResidentChangeForm):
    on = today_field("Step-down date", dates.STEP_DOWN_DATE)
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("", "Choose the outcome")] + Resident.StepDownOutcome.choices,
        widget=forms.Select(attrs={"class": SELECT}),
    )
    feedback_score = forms.TypedChoiceField(
        label="Resident feedback",
        help_text="How the resident rated the support, from 1 (poor) to 5 (excellent). Leave blank if they gave none.",
        choices=[(str(n), str(n)) for n in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    feedback_comment = forms.CharField(
        label="What the resident said", required=False, widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3})
    )

    def apply(self) -> None:
        data = self.cleaned_data
        self.resident.step_down(
            on=data["on"],
            outcome=data["outcome"],
            feedback_score=data["feedback_score"],
            feedback_comment=data["feedback_comment"],
            by=self.user,
        )


class CloseForm(ResidentChangeForm):
    on = today_field("Closing date", dates.CLOSING_DATE)

    def apply(self) -> None:
        self.resident.close(on=self.cleaned_data["on"], by=self.user)


class GoalForm(forms.Form):
    text = forms.CharField(
        label="New goal", help_text="In the resident's words where possible.", max_length=500,
        widget=forms.TextInput(attrs={"class": INPUT}),
    )


class GoalStatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=Goal.Status.choices, widget=forms.Select(attrs={"class": SELECT}))


class PlanInterventionsForm(forms.Form):
    interventions = forms.ModelMultipleChoiceField(
        label="Interventions from the directory",
        queryset=Intervention.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, resident: Resident, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        chosen = resident.planned_interventions.values("intervention")
        # Active entries, plus any chosen earlier that has since been withdrawn from the directory.
        self.fields["interventions"].queryset = Intervention.objects.filter(team=resident.team).filter(
            Q(is_active=True) | Q(pk__in=chosen)
        )
        self.fields["interventions"].initial = [p.intervention_id for p in resident.planned_interventions.all()]


class InterventionForm(forms.ModelForm):
    class Meta:
        model = Intervention
        fields = ["name", "provider", "category", "contact", "eligibility", "is_active"]
        widgets = {
            "name": forms.TextInput(attrs={"class": INPUT}),
            "provider": forms.TextInput(attrs={"class": INPUT}),
            "category": forms.Select(attrs={"class": SELECT}),
            "contact": forms.TextInput(attrs={"class": INPUT}),
            "eligibility": forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
            "is_active": forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = Intervention.objects.filter(team=self.instance.team, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError("The directory already has an intervention with this name.")
        return name


class CaseloadFilterForm(forms.Form):
    """The caseload list's search and filters: read from the query string, never saved."""

    OPEN, ALL = "open", "all"
    SORTS = {
        "relevance": ("Best match", None),
        "name": ("Name", ["family_name", "given_name", "pk"]),
        "referral": ("Newest referral first", ["-referral_date", "pk"]),
        "contact": ("Longest without contact first", ["last_contact", "pk"]),
        "key_worker": ("Key worker", ["key_worker__full_name", "family_name", "pk"]),
    }

    q = forms.CharField(
        label="Search by name or NHS number", required=False, max_length=100,
        widget=forms.TextInput(attrs={"class": INPUT, "type": "search", "autocomplete": "off"}),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[(OPEN, "Open cases")] + Resident.Status.choices + [(ALL, "All, including closed")],
        widget=forms.Select(attrs={"class": SELECT}),
    )
    key_worker = forms.ModelChoiceField(
        label="Key worker", required=False, queryset=User.objects.none(), empty_label="Any key worker",
        widget=forms.Select(attrs={"class": SELECT}),
    )
    practice = forms.ModelChoiceField(
        label="Practice", required=False, queryset=Practice.objects.none(), empty_label="Any practice",
        widget=forms.Select(attrs={"class": SELECT}),
    )
    no_consent = forms.BooleanField(label="No consent recorded", required=False, widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}))
    no_contact = forms.BooleanField(label="No contact in 28 days", required=False, widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}))
    sort = forms.ChoiceField(
        label="Sort by", required=False, choices=[(key, label) for key, (label, _order) in SORTS.items()],
        widget=forms.Select(attrs={"class": SELECT}),
    )

    def __init__(self, data, *, team: Team, key_workers: list[User], practices: list[Practice]) -> None:
        super().__init__(data)
        self.team = team
        self.fields["key_worker"].queryset = User.objects.filter(pk__in=[u.pk for u in key_workers])
        self.fields["key_worker"].choices = [("", "Any key worker")] + [(u.pk, u.full_name) for u in key_workers]
        self.fields["practice"].queryset = Practice.objects.filter(pk__in=[p.pk for p in practices])
        self.fields["practice"].choices = [("", "Any practice")] + [(p.pk, p.name) for p in practices]

    def residents(self, residents: QuerySet[Resident]) -> QuerySet[Resident]:
        """Apply the search, filters and sort; a value that does not make sense is ignored."""
        data = self.cleaned_data if self.is_valid() else {}
        status = data.get("status") or self.OPEN
        if status == self.OPEN:
            residents = residents.open()
        elif status != self.ALL:
            residents = residents.filter(status=status)
        if data.get("key_worker"):
            residents = residents.filter(key_worker=data["key_worker"])
        if data.get("practice"):
            residents = residents.filter(practice=data["practice"])
        if data.get("no_consent"):
            residents = residents.without_consent()
        if data.get("no_contact"):
            residents = residents.without_contact_since(timezone.now() - datetime.timedelta(days=28))
        query = data.get("q", "").strip()
        sort = data.get("sort") or ("relevance" if query else "name")
        if query:
            residents = residents.matching(query)
        order = self.SORTS[sort][1]
        if order is None:
            order = ["-name_match", "family_name", "pk"] if query and "name_match" in residents.query.annotations else self.SORTS["name"][1]
        return residents.order_by(*order)

    @property
    def is_filtered(self) -> bool:
        data = self.cleaned_data if self.is_valid() else {}
        return any(data.get(name) for name in ("q", "key_worker", "practice", "no_consent", "no_contact")) or (
            data.get("status") not in ("", None, self.OPEN)
        )


class ImportForm(forms.Form):
    MAX_BYTES = 200 * 1024 * 1024

    file = forms.FileField(
        label="Service-use extract (CSV)",
        help_text="Columns: nhs_number,date,kind,source,source_id. Dates as YYYY-MM-DD.",
        widget=forms.ClearableFileInput(attrs={"class": "nhsuk-file-upload__input", "accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise ValidationError("The file is empty.")
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 200 MB: split it into smaller extracts.")
        return upload



# --- the record on request, restricted --------------------------------------------------------------


class SubjectAccessRequestForm(ResidentChangeForm):
    received_on = today_field("Date the request was received", dates.SUBJECT_ACCESS_DATE)

    def apply(self) -> None:
        self.request = SubjectAccessRequest.log(resident=self.resident, received_on=self.cleaned_data["received_on"], by=self.user)


class RestrictForm(ResidentChangeForm):
    reason = forms.CharField(
        label="Why is the record restricted?",
        help_text="For example: the resident objected to the team using their information, or withdrew their consent.",
        max_length=1000,
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
    )

    def apply(self) -> None:
        resident_restrict(resident=self.resident, reason=self.cleaned_data["reason"], by=self.user)


class LiftRestrictionForm(ResidentChangeForm):
    reason = forms.CharField(
        label="Why is the restriction lifted?",
        help_text="For example: the resident gave their consent again.",
        max_length=1000,
        widget=forms.Textarea(attrs={"class": TEXTAREA, "rows": 3}),
    )

    def apply(self) -> None:
        self.resident.lift_restriction(reason=self.cleaned_data["reason"], by=self.user)


class CaseFindingFilterForm(forms.Form):
    """Case finding's filters: a practice of the team, an age band, a kind of recent contact."""

    practice = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Practice")
    age_band = forms.ChoiceField(required=False, label="Age")
    kind = forms.ChoiceField(required=False, label="Recent contact of this kind")

    def __init__(self, *args, practices: list[Practice], **kwargs) -> None:
        from .case_finding import AGE_BANDS

        super().__init__(*args, **kwargs)
        self.fields["practice"].choices = [("", "All the team's practices"), *((p.pk, p.name) for p in practices)]
        self.fields["age_band"].choices = [("", "Any age"), *((value, label) for value, label, _y, _o in AGE_BANDS)]
        self.fields["kind"].choices = [("", "Any kind"), *ServiceUseEvent.Kind.choices]
        for field in self.fields.values():
            field.widget.attrs["class"] = SELECT

    def people(self, people: QuerySet, *, last_year: int) -> QuerySet:
        """The people the chosen filters keep (all of them when the filters are not valid)."""
        from .case_finding import AGE_BANDS

        chosen = self.cleaned_data if self.is_valid() else {}
        if chosen.get("practice"):
            people = people.filter(practice_id=chosen["practice"])
        if chosen.get("age_band"):
            _value, _label, youngest, oldest = next(band for band in AGE_BANDS if band[0] == chosen["age_band"])
            people = people.born_between(last_year - oldest, last_year - youngest)
        if chosen.get("kind"):
            people = people.with_recent(chosen["kind"])
        return people

