from django.contrib import admin

from int_app.teams.admin import ReadOnlyAdmin, TeamScopedAdmin

from .models import ImportJob, Intervention, ResidentAccess

# Residents are not in the admin: every change to one goes through the caseload pages, where the
# journey checks it and records it in the history.


@admin.register(Intervention)
class InterventionAdmin(TeamScopedAdmin):
    team_path = "team"
    list_display = ["name", "team", "category", "provider", "is_active"]
    list_filter = ["team", "category", "is_active"]
    list_select_related = ["team"]
    search_fields = ["name", "provider"]


@admin.register(ImportJob)
class ImportJobAdmin(TeamScopedAdmin):
    team_path = "teams"
    list_display = ["file_name", "status", "rows_total", "rows_loaded", "error_count", "uploaded_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["uploaded_by"]
    exclude = ["stored_as"]
    readonly_fields = [
        "teams", "uploaded_by", "file_name", "status", "rows_total", "rows_checked", "rows_loaded",
        "rows_already_loaded", "error_count", "errors", "created_at", "started_at", "finished_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ResidentAccess)
class ResidentAccessAdmin(ReadOnlyAdmin):
    """Staff admins search who opened their own teams' records (superusers all of them)."""

    team_path = "resident__team"
    list_display = ["at", "user", "resident_id", "page", "path"]
    list_filter = ["page"]
    search_fields = ["user__email", "user__full_name", "=resident__id", "path", "request_id"]
    date_hierarchy = "at"
    list_select_related = ["user"]
