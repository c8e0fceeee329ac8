from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from int_app.teams.admin import SuperusersOnly, TeamScope, TeamScopedAdmin

from .models import SCALE_PK, PressureAlert, PressureReport, PressureReportChange, PressureScale, PressureScaleLevel
from .scales import MAX_LEVELS, Level, Preset, scale_problems
from .services import current_scale, pressure_scale_use_preset


class PressureReportChangeInline(TeamScope, admin.TabularInline):
    model = PressureReportChange
    team_path = "report__practice__pcn__neighbourhood__team"
    extra = 0
    can_delete = False
    readonly_fields = [
        "level", "level_label", "opel", "comment", "appointments_offered", "clinical_staff_available",
        "same_day_appointments_available", "clinical_staff_absent", "changed_by", "changed_at",
    ]


@admin.register(PressureReport)
class PressureReportAdmin(TeamScopedAdmin):
    team_path = "practice__pcn__neighbourhood__team"
    list_display = ["practice", "week_start", "level", "level_label", "opel", "reported_by"]
    list_filter = ["opel", "week_start"]
    list_select_related = ["practice", "reported_by"]
    inlines = [PressureReportChangeInline]


@admin.register(PressureAlert)
class PressureAlertAdmin(TeamScopedAdmin):
    team_path = "report__practice__pcn__neighbourhood__team"
    list_display = ["report", "level", "raised_at", "emailed_at", "acknowledged_by", "acknowledged_at"]
    list_select_related = ["report__practice", "acknowledged_by"]


class PressureScaleLevelFormSet(BaseInlineFormSet):
    """The levels together make a scale: numbered from 1 without gaps, words unique, OPEL values
    that never fall as the level rises (pressure/scales.py scale_problems)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or getattr(self.instance, "apply_preset", ""):
            return
        kept = [form.cleaned_data for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        levels = [
            Level(row["number"], row["label"], row["colour"], row["opel"], row.get("alerts", False))
            for row in sorted(kept, key=lambda row: row["number"])
        ]
        if problems := scale_problems(levels):
            raise ValidationError(problems)


class PressureScaleLevelInline(SuperusersOnly, admin.TabularInline):
    model = PressureScaleLevel
    formset = PressureScaleLevelFormSet
    extra = 0
    max_num = MAX_LEVELS


class PressureScaleForm(forms.ModelForm):
    use_preset = forms.ChoiceField(
        choices=[("", "No: keep the levels below"), *Preset.choices],
        required=False,
        label="Replace the levels with a preset",
        help_text="Reports already made keep their level, word, colour and OPEL value as they were.",
    )

    class Meta:
        model = PressureScale
        fields = ["name", "use_preset"]

    def clean(self):
        cleaned = super().clean()
        # Read by the levels' formset, which then leaves its rows to the preset.
        self.instance.apply_preset = cleaned.get("use_preset", "")
        return cleaned


@admin.register(PressureScale)
class PressureScaleAdmin(SuperusersOnly, admin.ModelAdmin):
    """The deployment's one alert scale: only superusers choose it."""

    form = PressureScaleForm
    inlines = [PressureScaleLevelInline]
    list_display = ["name", "preset", "updated_at"]
    readonly_fields = ["preset", "updated_at"]

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return super().has_add_permission(request, *args) and not PressureScale.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"name": current_scale().name}

    def save_model(self, request: HttpRequest, obj: PressureScale, form, change: bool) -> None:
        obj.pk = SCALE_PK
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        preset = form.cleaned_data.get("use_preset")
        if preset:
            pressure_scale_use_preset(preset=Preset(preset))
            for formset in formsets:  # the rows typed below were left for the preset's: none saved
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_related(request, form, formsets, change)
        if any(formset.has_changed() for formset in formsets):
            PressureScale.objects.filter(pk=SCALE_PK).update(preset="")  # its own levels now, not the preset's
