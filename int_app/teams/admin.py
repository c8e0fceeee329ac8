"""The admin keeps a staff member who is not a superuser to the teams they belong to.

Every model in the admin is one of three kinds, and a test walks them all as a staff member of one
team (tests/test_admin_scoping.py):
- team data (`TeamScopedAdmin`, and `TeamScope` for inlines): each admin names the path from its
  model to a team (`team_path`); lists, change pages, filters and the choices of every form field
  are cut to `Team.objects.visible_to(user)`;
- shared lists that belong to no team (`SharedListAdmin`: employers): every staff member reads
  them and picks from them, only superusers change them;
- everything else (`SuperusersOnly`: groups, sign-in records, authenticators, KPI runs).

Django's "View on site" redirect (`/admin/r/<content type>/<id>/`) is kept to the same rows: for
a staff member it answers only for an object their admin for that model shows them
(`view_on_site`, wired in int_app/urls.py ahead of the admin's own).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path, lookup_spawns_duplicates
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from . import ods
from .models import (
    PCN,
    Membership,
    Neighbourhood,
    Organisation,
    PCNMembership,
    Place,
    Practice,
    Team,
    User,
)


def _is_superuser(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


class SuperusersOnly:
    """Mixed into an admin that only superusers may open at all, whatever permissions a staff
    member holds."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request)


class ChangedBySuperusersOnly:
    """Mixed into an admin whose rows staff members may read but only superusers add, change or
    delete."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _is_superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request) and super().has_delete_permission(request, obj)


def field_choices(admin_site: admin.AdminSite, db_field: models.Field, request: HttpRequest, queryset):
    """The rows a form field may offer a staff member: those the related model's own admin shows
    them. A model the admin does not scope offers nothing, so a new relation fails closed."""
    model = db_field.remote_field.model
    if queryset is None:
        queryset = model._default_manager.all()
    if _is_superuser(request):
        return queryset
    related_admin = admin_site.get_model_admin(model) if admin_site.is_registered(model) else None
    if isinstance(related_admin, TeamScope):
        return related_admin.within_teams(queryset, request)
    if isinstance(related_admin, SharedListAdmin):
        return queryset
    return queryset.none()


class TeamScope:
    """Mixed into a ModelAdmin or an inline: a staff member who is not a superuser sees, opens and
    picks only rows of the teams they belong to.

    `team_path` is the lookup from the model to its team: "team", "resident__team",
    "practice__pcn__neighbourhood__team"; "pk" when the model is Team itself.
    """

    team_path: str = ""

    def within_teams(self, queryset, request: HttpRequest):
        if _is_superuser(request):
            return queryset
        if not self.team_path:
            raise ImproperlyConfigured(f"{type(self).__name__} must say how its rows reach a team (team_path).")
        in_teams = {f"{self.team_path}__in": Team.objects.visible_to(request.user)}
        if lookup_spawns_duplicates(queryset.model._meta, self.team_path):
            # A person in two of the admin's teams would be listed twice; a subquery keeps one row.
            return queryset.filter(pk__in=queryset.model._default_manager.filter(**in_teams).values("pk"))
        return queryset.filter(**in_teams)

    def get_queryset(self, request: HttpRequest):
        return self.within_teams(super().get_queryset(request), request)

    def get_field_queryset(self, db, db_field, request: HttpRequest):
        return field_choices(self.admin_site, db_field, request, super().get_field_queryset(db, db_field, request))

    def get_list_filter(self, request: HttpRequest):
        """A filter on a relation lists every row of the related table (every team's name); for
        staff it lists only the values present in the rows they see."""
        list_filter = super().get_list_filter(request)
        if _is_superuser(request):
            return list_filter
        return [
            (entry, admin.RelatedOnlyFieldListFilter)
            if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation
            else entry
            for entry in list_filter
        ]


class TeamScopedAdmin(TeamScope, admin.ModelAdmin):
    pass


class ReadOnlyAdmin(TeamScopedAdmin):
    """A record kept for the record (an audit trail, an access log): staff search it, nobody
    changes it."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SharedListAdmin(ChangedBySuperusersOnly, admin.ModelAdmin):
    """A list that belongs to no team (employers, which are public bodies): every staff member may
    read it and choose from it in a form; only superusers change it."""


# Places and neighbourhoods sit above teams (a place holds several), so only superusers set them
# up; a staff member sees those of their own teams.
@admin.register(Place)
class PlaceAdmin(ChangedBySuperusersOnly, TeamScopedAdmin):
    team_path = "neighbourhoods__team"
    search_fields = ["name"]


@admin.register(Neighbourhood)
class NeighbourhoodAdmin(ChangedBySuperusersOnly, TeamScopedAdmin):
    team_path = "team"
    list_display = ["name", "place"]
    list_select_related = ["place"]


class UnassignedFilter(admin.SimpleListFilter):
    """PCNs the ODS import loaded that no neighbourhood holds yet: their practices are in no team."""

    title = "neighbourhood"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin):
        return [("no", "Not yet assigned"), ("yes", "Assigned")]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() in {"no", "yes"}:
            return queryset.filter(neighbourhood__isnull=self.value() == "no")
        return queryset


@admin.register(PCN)
class PCNAdmin(TeamScopedAdmin):
    team_path = "neighbourhood__team"
    list_display = ["name", "ods_code", "neighbourhood"]
    list_filter = [UnassignedFilter]
    list_select_related = ["neighbourhood"]
    search_fields = ["name", "ods_code"]


class PCNMembershipInline(TeamScope, admin.TabularInline):
    """A practice's PCNs over time, as the ODS import keeps them: read only."""

    model = PCNMembership
    team_path = "practice__pcn__neighbourhood__team"
    fields = ["pcn", "started_on", "ended_on"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OdsFilesForm(forms.Form):
    practices_file = forms.FileField(label="Practices file (epraccur.csv)")
    pcn_file = forms.FileField(label="PCN core-partner file (epcncorepartnerdetails.csv)")


class ListSizesForm(forms.Form):
    list_sizes_file = forms.FileField(label="Patients registered at a GP practice (gp-reg-pat-prac-all.csv)")
    dry_run = forms.BooleanField(label="Only say what would change", required=False)


# An ODS file of all England is a few megabytes; anything far larger is not one.
LARGEST_ODS_FILE = 50 * 1024 * 1024
PREVIEW_SESSION_KEY = "ods_import_preview"


def _preview_paths(token: str) -> tuple[Path, Path]:
    folder = Path(settings.INT_IMPORT_DIR)
    return folder / f"ods-{token}-practices.csv", folder / f"ods-{token}-pcns.csv"


def _forget_preview(request: HttpRequest) -> None:
    """This person's previewed files, and anyone's left from a preview a day old and never loaded."""
    token = request.session.pop(PREVIEW_SESSION_KEY, None)
    if token:
        for stored in _preview_paths(token):
            stored.unlink(missing_ok=True)
    folder = Path(settings.INT_IMPORT_DIR)
    if folder.is_dir():
        a_day_ago = time.time() - 24 * 60 * 60
        for stored in folder.glob("ods-*.csv"):
            try:
                if stored.stat().st_mtime < a_day_ago:
                    stored.unlink(missing_ok=True)
            except FileNotFoundError:
                pass  # another process cleared it first


@admin.register(Practice)
class PracticeAdmin(TeamScopedAdmin):
    team_path = "pcn__neighbourhood__team"
    # The shared mailbox is where outcome summaries of its patients' discussions go: a blank one
    # holds them back ("not sent: no mailbox") until it is set here.
    list_display = ["name", "ods_code", "pcn", "status", "list_size", "shared_mailbox"]
    list_filter = ["status"]
    list_select_related = ["pcn"]
    search_fields = ["name", "ods_code", "postcode"]
    inlines = [PCNMembershipInline]

    def get_urls(self):
        return [
            # The methods first, so that any other is refused before the admin's login check.
            path(
                "import/",
                require_http_methods(["GET", "POST"])(self.admin_site.admin_view(self.import_view)),
                name="teams_practice_import",
            ),
            *super().get_urls(),
        ]

    def may_import(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)


    def import_view(self, request: HttpRequest) -> HttpResponse:
        """"Import from the ODS": choose the two files, see what would change (nothing written), then
        load exactly those files; and list sizes, in one step. Bad files are told by line."""
        if not self.may_import(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import practices from the ODS",
            "area": ods.area_codes(),
            "ods_form": OdsFilesForm(),
            "list_sizes_form": ListSizesForm(),
        }
        action = request.POST.get("action") if request.method == "POST" else None
        if action == "preview":
            context["ods_form"] = form = OdsFilesForm(request.POST, request.FILES)
            if form.is_valid():
                context.update(self._preview(request, form))
        elif action == "load":
            loaded = self._load(request)
            if isinstance(loaded, HttpResponse):
                return loaded
            context["problems"] = loaded
        elif action == "list_sizes":
            context["list_sizes_form"] = form = ListSizesForm(request.POST, request.FILES)
            if form.is_valid():
                context.update(self._list_sizes(request, form))
        return TemplateResponse(request, "admin/teams/practice/import.html", context)

    def _preview(self, request: HttpRequest, form: OdsFilesForm) -> dict:
        uploads = (form.cleaned_data["practices_file"], form.cleaned_data["pcn_file"])
        if any(upload.size > LARGEST_ODS_FILE for upload in uploads):
            return {"problems": ["A file is larger than 50 MB: it is not an ODS practices or PCN file."]}
        contents = [upload.read() for upload in uploads]
        try:
            report = ods.import_ods(*contents, dry_run=True)
        except ods.ImportRejected as rejected:
            return {"problems": rejected.problems}
        # Kept where every web process sees them, so that "Load" loads exactly the files previewed.
        _forget_preview(request)
        token = secrets.token_hex(16)
        Path(settings.INT_IMPORT_DIR).mkdir(parents=True, exist_ok=True)
        for stored, content in zip(_preview_paths(token), contents, strict=True):
            stored.write_bytes(content)
        request.session[PREVIEW_SESSION_KEY] = token
        return {"report": report, "token": token}

    def _load(self, request: HttpRequest) -> HttpResponse | list[str]:
        """The previewed files loaded (and a redirect to the practices), or why not."""
        token = request.session.get(PREVIEW_SESSION_KEY)
        stored = _preview_paths(token) if token else None
        if not token or request.POST.get("token") != token or not all(p.is_file() for p in stored):
            return ["Nothing to load: choose the files and preview them first."]
        try:
            report = ods.import_ods(stored[0].read_bytes(), stored[1].read_bytes())
        except ods.ImportRejected as rejected:
            return rejected.problems
        _forget_preview(request)
        messages.success(request, f"Loaded from the ODS: {report.summary()}.")
        for label, lines in report.sections():
            if label.startswith("new PCNs"):
                messages.warning(request, f"{len(lines)} new PCN(s) to assign to a neighbourhood: {', '.join(lines)}.")
        return redirect(reverse("admin:teams_practice_changelist"))

    def _list_sizes(self, request: HttpRequest, form: ListSizesForm) -> dict:
        upload = form.cleaned_data["list_sizes_file"]
        if upload.size > LARGEST_ODS_FILE:
            return {"list_size_problems": ["The file is larger than 50 MB: load the practice totals file (gp-reg-pat-prac-all.csv)."]}
        try:
            report = ods.import_list_sizes(upload.read(), dry_run=form.cleaned_data["dry_run"])
        except ods.ImportRejected as rejected:
            return {"list_size_problems": rejected.problems}
        return {"list_size_report": report}


class MembershipInline(TeamScope, admin.TabularInline):
    model = Membership
    team_path = "team"
    extra = 1
    autocomplete_fields = ["user", "organisation"]


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    team_path = "pk"
    list_display = ["name", "slug", "neighbourhood"]
    list_select_related = ["neighbourhood"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    # A new team needs a neighbourhood without one, and its admin would not be in it; deleting a
    # team takes its memberships with it. Both are for superusers.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_superuser(request)


@admin.register(Organisation)
class OrganisationAdmin(SharedListAdmin):
    list_display = ["name", "kind"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    team_path = "team"
    list_display = ["user", "team", "role", "organisation"]
    list_filter = ["team", "role"]
    list_select_related = ["user", "team", "organisation"]
    autocomplete_fields = ["user", "organisation"]


class PersonMembershipInline(TeamScope, admin.TabularInline):
    """A person's memberships in the admin's own teams; those elsewhere are not shown."""

    model = Membership
    team_path = "team"
    extra = 0
    fields = ["team", "role", "organisation", "practice"]
    autocomplete_fields = ["organisation"]

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None and not _is_superuser(request):
            # Someone a staff member adds joins one of their teams: otherwise the new account
            # would be out of their sight the moment it is saved.
            kwargs.update(min_num=1, validate_min=True)
        return super().get_formset(request, obj, **kwargs)


PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(TeamScope, DjangoUserAdmin):
    team_path = "memberships__team"
    ordering = ["full_name"]
    list_display = ["email", "full_name", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", *PRIVILEGES)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)
    inlines = [PersonMembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if _is_superuser(request) else (*readonly, *PRIVILEGES)

    def may_manage(self, request: HttpRequest, person: User) -> bool:
        """A staff member changes only themselves and people wholly inside their teams who are not
        admins: a new email address or password for anyone else would let them sign in as that
        person, and so into another team or with more rights."""
        if _is_superuser(request) or person.pk == request.user.pk:
            return True
        if person.is_staff or person.is_superuser:
            return False
        return not person.memberships.exclude(team__in=Team.objects.visible_to(request.user)).exists()

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or self.may_manage(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or self.may_manage(request, obj))


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """Django's "View on site" redirect, for a staff member only to an object their admin for that
    model shows them. For another team's object (or a model the admin does not show them) it is
    not found, as the change page is, rather than a redirect that confirms the object exists."""
    if not _is_superuser(request):
        try:
            model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
        except (ContentType.DoesNotExist, ValueError):
            raise Http404 from None
        model_admin = admin.site.get_model_admin(model) if model and admin.site.is_registered(model) else None
        # get_object reads the admin's own queryset, so the team scoping above decides.
        found = model_admin.get_object(request, object_id) if model_admin else None
        if found is None or not model_admin.has_view_or_change_permission(request, found):
            raise Http404
    return shortcut(request, content_type_id, object_id)


# Models other packages register (Django's groups, allauth's email addresses, authenticators and
# sessions, axes' sign-in records) are accounts' security records and no team's: superusers only.
# Those packages come before this app in INSTALLED_APPS, so their admins are registered by now.
for _model, _model_admin in list(admin.site._registry.items()):
    if not isinstance(_model_admin, (TeamScope, SharedListAdmin, SuperusersOnly)):
        admin.site.unregister(_model)
        admin.site.register(_model, type(type(_model_admin).__name__, (SuperusersOnly, type(_model_admin)), {}))
