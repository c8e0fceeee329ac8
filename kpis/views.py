import csv

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from caseload.models import PopulationExtract
from caseload.population import MONTHS_REQUIRED, population_extract_create
from int_app.teams.models import Team
from int_app.teams.page_cache import cached_page
from int_app.teams.roles import Right
from pressure.services import pressure_banner

from .dashboard import EXPORT_COLUMNS, DashboardFigures, Scope, balance_rows, export_rows, scope_for
from .forms import KpiFilterForm, PopulationUploadForm
from .matching import BALANCE_VARIABLES, MATCHES, SMD_BAR
from .models import ALL_KINDS, KpiRun, KpiUnits, kpi_units_for

# A run's figures never change, so the figures region is cached per run and filters (the cache
# key has the run); a day is long enough to help and short enough not to pile up.
FIGURES_CACHE_SECONDS = 24 * 3600


def _require_kpi_right(request: HttpRequest) -> None:
    """Refused unless the person holds the right to view KPIs in a team (from the memberships the
    request has read already, so it can come before the page cache is asked)."""
    if not request.user.memberships_with_right(Right.VIEW_KPIS):
        raise PermissionDenied("The KPI dashboard is for PCN leads and coordinators.")


def _kpi_units(request: HttpRequest) -> KpiUnits:
    """The units whose figures this person sees."""
    _require_kpi_right(request)
    return kpi_units_for(request.user)


def _chosen_scope(filters: KpiFilterForm, units: KpiUnits) -> Scope:
    chosen = filters.cleaned_data if filters.is_valid() else {}
    return scope_for(
        units,
        neighbourhood_id=chosen.get("neighbourhood"),
        team_id=chosen.get("team"),
        pcn_id=chosen.get("pcn"),
        start_from=chosen.get("start_from"),
        start_to=chosen.get("start_to"),
    )


@require_GET
def kpi_dashboard(request: HttpRequest) -> HttpResponse:
    _require_kpi_right(request)
    cached = None if request.htmx else cached_page(request, "kpi_dashboard")
    if cached and cached.hit:
        return cached.response(request)
    units = kpi_units_for(request.user)
    filters = KpiFilterForm(request.GET or None, units=units)
    scope = _chosen_scope(filters, units)
    chosen = filters.cleaned_data if filters.is_bound and not filters.errors else {}
    run = KpiRun.objects.current()
    figures = (
        DashboardFigures(
            run,
            scope,
            kind=chosen.get("kind") or ALL_KINDS,
            projected_residents=chosen.get("residents") or settings.KPI_PROJECTION_RESIDENTS,
        )
        if run
        else None
    )
    context = {
        "filters": filters,
        "scope": scope,
        "run": run,
        "figures": figures,
        "export_query": request.GET.urlencode(),
        "window_months": run.window_months if run else settings.KPI_WINDOW_MONTHS,
        "process_weeks": settings.KPI_PROCESS_WEEKS,
        "min_residents": settings.KPI_MIN_RESIDENTS,
        "smd_bar": SMD_BAR,
        "cache_seconds": FIGURES_CACHE_SECONDS,
    }
    if request.htmx:
        return render(request, "kpis/dashboard.html#figures", context)
    return render(request, "kpis/dashboard.html", {**context, "cached_page": cached, "pressure_alerts": pressure_banner(request.user)})


@require_GET
def kpi_export(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures for the same filters, one row per level, unit and kind."""
    units = _kpi_units(request)
    scope = _chosen_scope(KpiFilterForm(request.GET or None, units=units), units)
    run = KpiRun.objects.current()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    as_of = f"-{run.as_of:%Y-%m-%d}" if run else ""
    response["Content-Disposition"] = f'attachment; filename="int-kpis{as_of}.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    if run is not None:
        writer.writerows(export_rows(run, scope))
    return response


@require_GET
def kpi_methods(request: HttpRequest) -> HttpResponse:
    """How the figures are worked out, in plain words: for everyone who reads them."""
    run = KpiRun.objects.current()
    return render(
        request,
        "kpis/methods.html",
        {
            "window_months": settings.KPI_WINDOW_MONTHS,
            "min_residents": settings.KPI_MIN_RESIDENTS,
            "process_weeks": settings.KPI_PROCESS_WEEKS,
            "projected_residents": settings.KPI_PROJECTION_RESIDENTS,
            "city_contacts": settings.KPI_CITY_CONTACTS_PER_YEAR,
            "ambition_percent": settings.KPI_AMBITION_PERCENT,
            "run": run,
            "matches": MATCHES,
            "smd_bar": SMD_BAR,
            "balance_variables": BALANCE_VARIABLES,
            # Balance per team, for the teams whose KPIs this person sees.
            "balance": balance_rows(run, kpi_units_for(request.user).team_ids) if run else [],
        },
    )


# --- the population extract ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def population_upload(request: HttpRequest) -> HttpResponse:
    """The coordinator (or a system admin, for any team) loads a team's population extract."""
    teams = list(Team.objects.visible_to(request.user, Right.IMPORT_POPULATION).order_by("name"))
    if not teams:
        raise PermissionDenied
    form = PopulationUploadForm(request.POST or None, request.FILES or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        extract = population_extract_create(
            content=upload.chunks(), file_name=upload.name, team=form.cleaned_data["team"], by=request.user
        )
        return redirect("kpis:population_extract", extract.pk)
    recent = (
        PopulationExtract.objects.visible_to(request.user, Right.IMPORT_POPULATION)
        .select_related("team", "uploaded_by")
        .order_by("-created_at")[:10]
    )
    return render(
        request,
        "kpis/population.html",
        {"form": form, "teams": teams, "recent": recent, "months_required": MONTHS_REQUIRED, "kinds": _kinds()},
    )


@require_GET
def population_extract(request: HttpRequest, pk: int) -> HttpResponse:
    # The address names no team: another team's extract, or one without the right, is not found.
    extract = get_object_or_404(
        PopulationExtract.objects.visible_to(request.user, Right.IMPORT_POPULATION).select_related("team", "uploaded_by"), pk=pk
    )
    template = "kpis/population_extract.html#progress" if request.htmx else "kpis/population_extract.html"
    return render(request, template, {"extract": extract})


def _kinds() -> list[tuple[str, str]]:
    from caseload.models import ServiceUseEvent

    return list(ServiceUseEvent.Kind.choices)
