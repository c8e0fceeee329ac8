from django.contrib import admin

from int_app.teams.admin import TeamScope, TeamScopedAdmin

from .models import PressureAlert, PressureReport, PressureReportChange


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
