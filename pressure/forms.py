from django import forms

from int_app.teams.models import PCN, Neighbourhood
from int_app.teams.roles import Right

from .services import level_choices


class PressureReportForm(forms.Form):
    practice = forms.ModelChoiceField(queryset=None, empty_label=None)
    level = forms.TypedChoiceField(
        coerce=int,
        choices=level_choices,
        widget=forms.RadioSelect,
        label="Pressure this week",
        help_text="1 is the lowest. Levels 5 and 6 alert your PCN lead.",
    )
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    same_day_appointments_available = forms.IntegerField(
        required=False, min_value=0, max_value=10_000, label="Same-day appointments available (optional)"
    )
    clinical_staff_absent = forms.IntegerField(
        required=False, min_value=0, max_value=1_000, label="Clinical staff absent (optional)"
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, practices, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practice"].queryset = practices
        self.fields["comment"].widget.attrs["class"] = "nhsuk-textarea"
        for name in ("same_day_appointments_available", "clinical_staff_absent"):
            self.fields[name].widget.attrs["class"] = "nhsuk-input nhsuk-input--width-4"
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
