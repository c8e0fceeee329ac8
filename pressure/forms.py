from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from int_app.teams import dates
from int_app.teams.models import PCN, Neighbourhood
from int_app.teams.roles import Right

from .models import MAX_APPOINTMENTS, MAX_STAFF, week_start_of
from .scales import Scale


class RadioSelect(forms.RadioSelect):
    """Radios that know each level's colour, so the form shows the scale's colours beside its words.
    Named as Django's: a bound field's `widget_type` (the error summary's link to the first radio)
    comes from the class name."""

    def __init__(self, *args, colours: dict[int, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.colours = colours or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["colour_class"] = self.colours.get(value, "app-colour--none")
        return option


class PressureReportForm(forms.Form):
    practice = forms.ModelChoiceField(queryset=None, empty_label=None)
    level = forms.TypedChoiceField(coerce=int, widget=RadioSelect, label="Pressure this week")
    appointments_offered = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_APPOINTMENTS, label="Appointments offered on the day (optional)",
        help_text="All appointments offered today, of any kind: with your list size this gives activity per 1,000 patients.",
    )
    clinical_staff_available = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_STAFF, label="Clinical staff available (optional)",
        help_text="GPs, nurses and other clinicians working today.",
    )
    comment = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
        label="Comment (optional)", help_text="Anything else: what is causing the pressure, and what would help.",
    )
    same_day_appointments_available = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_APPOINTMENTS, label="Same-day appointments still available (optional)"
    )
    clinical_staff_absent = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_STAFF, label="Clinical staff absent (optional)"
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, practices, scale: Scale, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practice"].queryset = practices
        level = self.fields["level"]
        level.choices = [(choice.number, choice.choice_label) for choice in scale.levels]
        level.widget.colours = {choice.number: choice.colour_class for choice in scale.levels}
        level.help_text = scale.alert_hint()
        self.fields["comment"].widget.attrs["class"] = "nhsuk-textarea"
        for name in ("same_day_appointments_available", "clinical_staff_absent", "appointments_offered", "clinical_staff_available"):
            self.fields[name].widget.attrs["class"] = "nhsuk-input nhsuk-input--width-4"
            self.fields[name].widget.attrs["inputmode"] = "numeric"
        self.fields["practice"].widget.attrs["class"] = "nhsuk-select"


class PracticeChoiceForm(forms.Form):
    """The practice named in the address or the form, to show its report for this week: only one
    the person reports for, and nothing at all for a value that is not one (such as "²")."""

    practice = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, practices, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practice"].queryset = practices


class HeatmapFilterForm(forms.Form):
    neighbourhood = forms.ModelChoiceField(queryset=None, required=False, empty_label="All neighbourhoods")
    pcn = forms.ModelChoiceField(queryset=None, required=False, empty_label="All PCNs", label="PCN")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the PCNs of the teams where this person may view pressure, as the heatmap itself.
        self.fields["pcn"].queryset = PCN.objects.visible_to(user, Right.VIEW_PRESSURE).order_by("name")
        self.fields["neighbourhood"].queryset = Neighbourhood.objects.filter(
            pcns__in=PCN.objects.visible_to(user, Right.VIEW_PRESSURE)
        ).distinct().order_by("name")
        for field in self.fields.values():
            field.widget.attrs["class"] = "nhsuk-select"


class SitrepWeekForm(forms.Form):
    """The week a situation report is for: any day of it, this week when none is given."""

    week = forms.DateField(required=False, label="Week including", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["week"].widget.attrs["class"] = "nhsuk-input nhsuk-input--width-10"

    def clean_week(self) -> datetime.date | None:
        day = self.cleaned_data["week"]
        if day is None:
            return None
        if problem := dates.PRESSURE_WEEK.problem(day):
            raise forms.ValidationError(f"{problem}.")
        return week_start_of(day)

    def chosen_week(self) -> datetime.date:
        """The week asked for, or this week when the form is empty or wrong (its errors say why)."""
        if self.is_bound and self.is_valid() and self.cleaned_data["week"]:
            return self.cleaned_data["week"]
        return week_start_of(timezone.localdate())
