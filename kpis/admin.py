from django.contrib import admin

from int_app.teams.admin import SuperusersOnly

from .models import KpiRun


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
