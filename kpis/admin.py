from django.contrib import admin

from int_app.teams.admin import SuperusersOnly, TeamScope, TeamScopedAdmin

from .models import KpiRun, PressureAlert, PressureReport, PressureReportChange


class PressureReportChangeInline(TeamScope, admin.TabularInline):
    model = PressureReportChange
    team_path = "report__practice__pcn__neighbourhood__team"
    extra = 0
    can_delete = False
    readonly_fields = ["level", "comment", "same_day_appointments_available", "clinical_staff_absent", "changed_by", "changed_at"]


@admin.register(PressureReport)
class PressureReportAdmin(TeamScopedAdmin):
    team_path = "practice__pcn__neighbourhood__team"
    list_display = ["practice", "week_start", "level", "reported_by"]
    list_filter = ["level", "week_start"]
    list_select_related = ["practice", "reported_by"]
    inlines = [PressureReportChangeInline]


@admin.register(PressureAlert)
class PressureAlertAdmin(TeamScopedAdmin):
    team_path = "report__practice__pcn__neighbourhood__team"
    list_display = ["report", "level", "raised_at", "emailed_at", "acknowledged_by", "acknowledged_at"]
    list_select_related = ["report__practice", "acknowledged_by"]


@admin.register(KpiRun)
class KpiRunAdmin(SuperusersOnly, admin.ModelAdmin):
    """The record of each KPI recompute, for operators (superusers): when, how long, how many rows,
    and why one failed. A run spans every team, and its error can quote any of them. Runs are
    written by the recompute only, so nothing here can be changed."""

    list_display = ["pk", "started_at", "finished_at", "status", "mode", "is_current", "as_of", "duration", "rows", "residents_recounted"]
    list_filter = ["status", "mode", "is_current"]
    readonly_fields = [field.name for field in KpiRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
