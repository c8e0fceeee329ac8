from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import PCN, Membership, Neighbourhood, Organisation, Place, Practice, Team, User


class TeamScopedAdmin(admin.ModelAdmin):
    """A staff admin who is not a superuser sees only the teams they belong to."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if hasattr(queryset, "visible_to"):
            return queryset.visible_to(request.user)
        return queryset


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Neighbourhood)
class NeighbourhoodAdmin(admin.ModelAdmin):
    list_display = ["name", "place"]
    list_select_related = ["place"]


@admin.register(PCN)
class PCNAdmin(TeamScopedAdmin):
    list_display = ["name", "ods_code", "neighbourhood"]
    list_select_related = ["neighbourhood"]
    search_fields = ["name", "ods_code"]


@admin.register(Practice)
class PracticeAdmin(TeamScopedAdmin):
    list_display = ["name", "ods_code", "pcn"]
    list_select_related = ["pcn"]
    search_fields = ["name", "ods_code"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user", "organisation"]


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    list_display = ["name", "slug", "neighbourhood"]
    list_select_related = ["neighbourhood"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    list_display = ["user", "team", "role", "organisation"]
    list_filter = ["team", "role"]
    list_select_related = ["user", "team", "organisation"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["full_name"]
    list_display = ["email", "full_name", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__team__in=Team.objects.visible_to(request.user)).distinct()
