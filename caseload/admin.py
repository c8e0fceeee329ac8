from django.contrib import admin

from int_app.teams.admin import ReadOnlyAdmin, TeamScopedAdmin

from .models import ImportJob, Intervention, ResidentAccess, SubjectAccessRequest

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


@admin.register(SubjectAccessRequest)
class SubjectAccessRequestAdmin(TeamScopedAdmin):
    """Staff admins extend a complex request's deadline (by up to two months) here; the
    coordinator logs, produces and answers requests on the caseload's records page."""

    team_path = "resident__team"
    list_display = ["received_on", "deadline", "answered_on", "resident_id", "received_by"]
    list_filter = ["answered_on"]
    list_select_related = ["received_by"]
    search_fields = ["=resident__id"]
    fields = ["resident", "received_on", "received_by", "deadline", "answered_on", "answered_by", "last_produced_at"]
    readonly_fields = ["resident", "received_on", "received_by", "answered_on", "answered_by", "last_produced_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
