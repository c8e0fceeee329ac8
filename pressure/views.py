"""Practice pressure's pages: the heatmap, the weekly report form, a report, acknowledging an
alert, and the weekly situation report (and its CSV)."""

import csv
import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from int_app.teams.page_cache import cached_page
from int_app.teams.roles import Right

from .forms import HeatmapFilterForm, PracticeChoiceForm, PressureReportForm, SitrepWeekForm
from .models import PressureAlert, PressureReport, week_start_of
from .services import (
    INDICATORS,
    StaleReport,
    build_heatmap,
    can_report_for,
    can_view_pressure,
    current_scale,
    practices_for_heatmap,
    pressure_alert_acknowledge,
    pressure_banner,
    pressure_report_submit,
    reportable_practices,
)
from .sitrep import Sitrep, build_sitrep, sitrep_rows


@require_GET
def pressure_heatmap(request: HttpRequest) -> HttpResponse:
    if not can_view_pressure(request.user):
        raise PermissionDenied("The pressure heatmap is for PCN leads and coordinators.")
    cached = None if request.htmx else cached_page(request, "pressure_heatmap")
    if cached and cached.hit:
        return cached.response(request)
    filters = HeatmapFilterForm(request.GET or None, user=request.user)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    practices = practices_for_heatmap(
        request.user,
        pcn_id=getattr(chosen.get("pcn"), "pk", None),
        neighbourhood_id=getattr(chosen.get("neighbourhood"), "pk", None),
    )
    heatmap = build_heatmap(practices)
    if cached:
        # The missing reports turn overdue at the deadline, with no write.
        cached.expires_at = lambda: None if heatmap.deadline_passed else heatmap.deadline
    context = {
        "cached_page": cached,
        "filters": filters,
        "heatmap": heatmap,
        "pressure_alerts": pressure_banner(request.user),
        "scale": current_scale(),
    }
    template = "pressure/heatmap.html#heatmap" if request.htmx else "pressure/heatmap.html"
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
    scale = current_scale()
    initial = {"practice": existing.practice_id, "comment": existing.comment, "version": existing.version,
               **{name: getattr(existing, name) for name in INDICATORS}} if existing else {}
    if existing and (same := scale.level(existing.level)) is not None and same.label == existing.label:
        # Offered again only where the scale still has it: after a change of scale, the level is chosen afresh.
        initial["level"] = existing.level
    form = PressureReportForm(request.POST or None, practices=practices, scale=scale, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = pressure_report_submit(
                practice=data["practice"],
                week_start=week,
                level=data["level"],
                comment=data["comment"],
                **{name: data[name] for name in INDICATORS},
                scale=scale,
                # The empty form saw no report: version 0, so a first report saved meanwhile is a conflict too.
                expected_version=data["version"] or 0,
                by=request.user,
            )
        except StaleReport as refused:
            conflict = refused
            # A fresh form on their version, keeping what this person chose, so saving again is a choice.
            form = PressureReportForm(
                practices=practices,
                scale=scale,
                initial={**data, "practice": data["practice"].pk, "version": refused.current.version},
            )
            existing = refused.current
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Pressure for {report.practice.name} saved: level {report.level}, {report.label}.")
            return redirect("pressure:report_detail", report.pk)
    return render(
        request,
        "pressure/report_form.html",
        {"form": form, "week": week, "existing": existing, "conflict": conflict, "scale": scale},
        status=409 if conflict else 200,
    )


@require_GET
def pressure_report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """For those who view the team's pressure and those who report for the practice. Its address
    names no team, so a report the person may not read is not found rather than refused."""
    readable = PressureReport.objects.visible_to(request.user, Right.VIEW_PRESSURE) | PressureReport.objects.visible_to(
        request.user, Right.REPORT_PRESSURE
    )
    report = get_object_or_404(readable.select_related("practice__pcn", "reported_by"), pk=pk)
    return render(
        request,
        "pressure/report_detail.html",
        {
            "report": report,
            "changes": report.changes.select_related("changed_by"),
            "alerts": report.alerts.select_related("acknowledged_by"),
            "can_edit": report.is_editable() and can_report_for(request.user, report.practice),
        },
    )


@require_POST
def acknowledge_alert(request: HttpRequest, pk: int) -> HttpResponse:
    """Its address names no team: an alert the person may not acknowledge is not found."""
    alert = get_object_or_404(
        PressureAlert.objects.visible_to(request.user, Right.ACKNOWLEDGE_PRESSURE_ALERTS).select_related("report__practice"), pk=pk
    )
    alert = pressure_alert_acknowledge(alert=alert, by=request.user)
    messages.success(
        request, f"Alert for {alert.report.practice.name} acknowledged by {alert.acknowledged_by.full_name}."
    )
    return redirect("pressure:heatmap")


def _sitrep_for(request: HttpRequest) -> tuple[Sitrep, SitrepWeekForm]:
    if not request.user.memberships_with_right(Right.VIEW_PLACE_SITREP):
        raise PermissionDenied("The situation report is for PCN leads, coordinators and the place lead.")
    week_form = SitrepWeekForm(request.GET or None)
    return build_sitrep(request.user, week=week_form.chosen_week(), scale=current_scale()), week_form


@require_GET
def pressure_sitrep(request: HttpRequest) -> HttpResponse:
    """The week's situation report for the places of the person's teams. Its address names no team:
    someone who views pressure in none of their teams is refused (403), as on the heatmap."""
    sitrep, week_form = _sitrep_for(request)
    return render(
        request,
        "pressure/sitrep.html",
        {
            "sitrep": sitrep,
            "week_form": week_form,
            "previous_week": sitrep.week - datetime.timedelta(weeks=1),
            "next_week": sitrep.week + datetime.timedelta(weeks=1) if sitrep.week < week_start_of(timezone.localdate()) else None,
        },
    )


@require_GET
def pressure_sitrep_csv(request: HttpRequest) -> HttpResponse:
    sitrep, _ = _sitrep_for(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="practice-pressure-sitrep-{sitrep.week:%Y-%m-%d}.csv"'
    writer = csv.writer(response)
    writer.writerows(sitrep_rows(sitrep))
    return response
