"""Staff admins search the whole log here; nothing can be changed or deleted."""

from django.apps import apps
from django.contrib import admin

from .models import ResidentAccess


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ResidentAccess)
class ResidentAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "resident_id", "page", "path"]
    list_filter = ["page"]
    search_fields = ["user__email", "user__full_name", "=resident__id", "path", "request_id"]
    date_hierarchy = "at"
    list_select_related = ["user"]


class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["pgh_created_at", "pgh_label", "pgh_obj_id", "pgh_context_id"]
    list_filter = ["pgh_label"]
    search_fields = ["=pgh_obj_id", "pgh_context__metadata__user", "pgh_context__metadata__url"]
    date_hierarchy = "pgh_created_at"


for model in apps.get_app_config("audit").get_models():
    if model.__name__.endswith("Change"):
        admin.site.register(model, ChangeAdmin)
