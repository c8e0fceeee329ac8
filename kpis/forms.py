from django import forms

from int_app.teams import dates


class MonthField(forms.DateField):
    """A month as YYYY-MM (what <input type="month"> sends); cleaned to its first day."""

    widget = forms.DateInput(attrs={"type": "month", "class": "nhsuk-input nhsuk-input--width-10"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]
    default_validators = [dates.KPI_MONTH.validate]

    def to_python(self, value):
        day = super().to_python(value)
        return day.replace(day=1) if day else day


class KpiFilterForm(forms.Form):
    """The dashboard's and the export's filters. Every choice is a unit the person may see: the
    choices come from their KpiUnits, so a unit of another team is "not one of the choices"."""

    neighbourhood = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    team = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    pcn = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="PCN")
    start_from = MonthField(required=False, label="Intervention started from", help_text="Month, for example 2026-01")
    start_to = MonthField(required=False, label="to", help_text="Month, included")
    kind = forms.ChoiceField(required=False, label="Kind of contact in the tables")
    residents = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        label="Residents supported, for the projection",
        widget=forms.NumberInput(attrs={"class": "nhsuk-input nhsuk-input--width-10", "inputmode": "numeric"}),
    )

    def __init__(self, *args, units, **kwargs) -> None:
        from caseload.models import ServiceUseEvent

        from .models import ALL_KINDS, Level

        super().__init__(*args, **kwargs)
        self.fields["neighbourhood"].choices = [("", "All your neighbourhoods"), *units.choices(Level.NEIGHBOURHOOD)]
        self.fields["team"].choices = [("", "All your teams"), *units.choices(Level.TEAM)]
        self.fields["pcn"].choices = [("", "All your PCNs"), *units.choices(Level.PCN)]
        self.fields["kind"].choices = [(ALL_KINDS, "All kinds together"), *ServiceUseEvent.Kind.choices]
        for name in ("neighbourhood", "team", "pcn", "kind"):
            self.fields[name].widget.attrs["class"] = "nhsuk-select"

    def clean(self) -> dict:
        cleaned = super().clean()
        start_from, start_to = cleaned.get("start_from"), cleaned.get("start_to")
        if start_from and start_to and start_from > start_to:
            self.add_error("start_to", "The last month must not be before the first.")
        return cleaned


class PopulationUploadForm(forms.Form):
    """A team's population extract: the team (among those the person may load one for) and the file."""

    MAX_BYTES = 2 * 1024 * 1024 * 1024

    team = forms.TypedChoiceField(coerce=int, label="Team", help_text="The extract replaces this team's current one once it has loaded.")
    file = forms.FileField(
        label="Population extract (CSV)",
        help_text="Columns: nhs_number,practice_ods,birth_year,sex,month,kind,contacts. Months as YYYY-MM.",
        widget=forms.ClearableFileInput(attrs={"class": "nhsuk-file-upload__input", "accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, teams, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teams = {team.pk: team for team in teams}
        self.fields["team"].choices = [(team.pk, team.name) for team in teams]
        self.fields["team"].widget.attrs["class"] = "nhsuk-select"
        if len(teams) == 1:
            self.fields["team"].initial = teams[0].pk

    def clean_team(self):
        return self.teams[self.cleaned_data["team"]]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 GB: ask for the extract in one file per PCN.")
        return upload
