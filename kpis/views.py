import csv

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from int_app.teams.roles import Right

from .dashboard import EXPORT_COLUMNS, DashboardFigures, Scope, export_rows, scope_for
from .forms import HeatmapFilterForm, KpiFilterForm, PracticeChoiceForm, PressureReportForm
from .models import ALL_KINDS, KpiRun, KpiUnits, PressureAlert, PressureReport, kpi_units_for, week_start_of
from .pressure import (
    StaleReport,
    build_heatmap,
    can_report_for,
    can_view_pressure,
    can_view_pressure_of,
    practices_for_heatmap,
    pressure_alert_acknowledge,
    pressure_banner,
    pressure_report_submit,
    reportable_practices,
)


@require_GET
def pressure_heatmap(request: HttpRequest) -> HttpResponse:
    if not can_view_pressure(request.user):
        raise PermissionDenied("The pressure heatmap is for PCN leads and coordinators.")
    filters = HeatmapFilterForm(request.GET or None, user=request.user)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    practices = practices_for_heatmap(
        request.user,
        pcn_id=getattr(chosen.get("pcn"), "pk", None),
        neighbourhood_id=getattr(chosen.get("neighbourhood"), "pk", None),
    )
    context = {
        "filters": filters,
        "heatmap": build_heatmap(practices),
        "pressure_alerts": pressure_banner(request.user),
    }
    template = "kpis/pressure_heatmap.html#heatmap" if request.htmx else "kpis/pressure_heatmap.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def report_pressure(request: HttpRequest) -> HttpResponse:
    practices = reportable_practices(request.user)
    if not practices.exists():
        raise PermissionDenied("Only a practice manager or the team's coordinator can report pressure.")
    week = week_start_of(timezone.localdate())
    chosen_id = request.POST.get("practice") or request.GET.get("practice")
    chosen = PracticeChoiceForm({"practice": chosen_id}, practices=practices)
    existing = (
        PressureReport.objects.visible_to(request.user, Right.REPORT_PRESSURE)
        .filter(practice=chosen.cleaned_data["practice"], week_start=week)
        .first()
        if chosen_id and chosen.is_valid()
        else None
    )
    if existing is None and not chosen_id and practices.count() == 1:
        existing = (
            PressureReport.objects.visible_to(request.user, Right.REPORT_PRESSURE)
            .filter(practice__in=practices, week_start=week)
            .first()
        )
    initial = {"practice": existing.practice_id, "level": existing.level, "comment": existing.comment,
               "same_day_appointments_available": existing.same_day_appointments_available,
               "clinical_staff_absent": existing.clinical_staff_absent, "version": existing.version} if existing else {}
    form = PressureReportForm(request.POST or None, practices=practices, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = pressure_report_submit(
                practice=data["practice"],
                week_start=week,
                level=data["level"],
                comment=data["comment"],
                same_day_appointments_available=data["same_day_appointments_available"],
                clinical_staff_absent=data["clinical_staff_absent"],
                # The empty form saw no report: version 0, so a first report saved meanwhile is a conflict too.
                expected_version=data["version"] or 0,
                by=request.user,
            )
        except StaleReport as refused:
            conflict = refused
            # A fresh form on their version, keeping what this person chose, so saving again is a choice.
            form = PressureReportForm(
                practices=practices,
                initial={**data, "practice": data["practice"].pk, "version": refused.current.version},
            )
            existing = refused.current
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Pressure for {report.practice.name} saved: level {report.level}, {report.label}.")
            return redirect("kpis:pressure_report_detail", report.pk)
    return render(
        request,
        "kpis/pressure_report_form.html",
        {"form": form, "week": week, "existing": existing, "conflict": conflict},
        status=409 if conflict else 200,
    )


@require_GET
def pressure_report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(
        PressureReport.objects.visible_to(request.user).select_related("practice__pcn", "reported_by"), pk=pk
    )
    if not (can_view_pressure_of(request.user, report.practice) or can_report_for(request.user, report.practice)):
        raise PermissionDenied("This report is for the practice, its PCN lead and the team's coordinator.")
    return render(
        request,
        "kpis/pressure_report_detail.html",
        {
            "report": report,
            "changes": report.changes.select_related("changed_by"),
            "alerts": report.alerts.select_related("acknowledged_by"),
            "can_edit": report.is_editable() and can_report_for(request.user, report.practice),
        },
    )


@require_POST
def acknowledge_alert(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(PressureAlert.objects.visible_to(request.user).select_related("report__practice"), pk=pk)
    alert = pressure_alert_acknowledge(alert=alert, by=request.user)
    messages.success(
        request, f"Alert for {alert.report.practice.name} acknowledged by {alert.acknowledged_by.full_name}."
    )
    return redirect("kpis:pressure_heatmap")


# --- KPIs -----------------------------------------------------------------------------------------

# A run's figures never change, so the figures region is cached per run and filters (the cache
# key has the run); a day is long enough to help and short enough not to pile up.
FIGURES_CACHE_SECONDS = 24 * 3600


def _kpi_units(request: HttpRequest) -> KpiUnits:
    """The units whose figures this person sees; none means they hold the right in no team."""
    units = kpi_units_for(request.user)
    if not units:
        raise PermissionDenied("The KPI dashboard is for PCN leads and coordinators.")
    return units


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
    units = _kpi_units(request)
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
        "cache_seconds": FIGURES_CACHE_SECONDS,
    }
    if request.htmx:
        return render(request, "kpis/dashboard.html#figures", context)
    return render(request, "kpis/dashboard.html", {**context, "pressure_alerts": pressure_banner(request.user)})


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
            "run": KpiRun.objects.current(),
        },
    )
