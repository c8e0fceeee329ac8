"""Practice pressure: the deployment's alert scale, weekly reports on it, the escalation alert and
the heatmap PCN leads read (the situation report is in sitrep.py)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from int_app.teams.models import Practice
from int_app.teams.roles import RIGHTS, Right

from .models import (
    SCALE_PK,
    PressureAlert,
    PressureReport,
    PressureReportChange,
    PressureScale,
    PressureScaleLevel,
    week_start_of,
)
from .scales import Preset, Scale, preset_scale, validate_scale

HEATMAP_WEEKS = 12
# The figures a report may carry besides its level and comment, all optional.
INDICATORS = ("appointments_offered", "clinical_staff_available", "same_day_appointments_available", "clinical_staff_absent")
# Practices are asked to report by Wednesday 12:00 each week.
DEADLINE_WEEKDAY, DEADLINE_HOUR = 2, 12


class StaleReport(Exception):
    """Someone else saved the report after this form was opened (the week's first report, too,
    when two people filled in the empty form): nothing was saved. Carries both versions, theirs
    as saved and yours unsaved, so the person can compare them."""

    def __init__(self, current: PressureReport, *, yours: PressureReport) -> None:
        super().__init__("This report was changed by someone else while you were editing it.")
        self.current = current
        self.yours = yours


def reportable_practices(user) -> QuerySet[Practice]:
    """The practices this person reports for: those of the teams where they hold the right, or,
    where their membership is tied to one practice (a practice manager's), that practice alone."""
    return Practice.objects.visible_to(user, Right.REPORT_PRESSURE).select_related("pcn").order_by("pcn__name", "name")


def can_report_for(user, practice: Practice) -> bool:
    return reportable_practices(user).filter(pk=practice.pk).exists()


def current_scale() -> Scale:
    """The scale practices report on now (the ICS bulletin's until a superuser picks another)."""
    return PressureScaleLevel.objects.current_scale()


@transaction.atomic
def pressure_scale_set(*, scale: Scale, preset: str = "") -> Scale:
    """Make `scale` the deployment's scale. Reports already saved keep their levels as they were."""
    validate_scale(list(scale.levels))
    stored, _ = PressureScale.objects.update_or_create(
        pk=SCALE_PK, defaults={"name": scale.name, "preset": preset, "updated_at": timezone.now()}
    )
    stored.levels.all().delete()
    PressureScaleLevel.objects.bulk_create(
        PressureScaleLevel(
            scale=stored, number=level.number, label=level.label, colour=level.colour, opel=level.opel, alerts=level.alerts
        )
        for level in scale.levels
    )
    return current_scale()


def pressure_scale_use_preset(*, preset: Preset) -> Scale:
    return pressure_scale_set(scale=preset_scale(preset), preset=preset)


def pressure_banner(user) -> list[PressureAlert]:
    """The alerts of the banner (PressureAlert.objects.banner_for), each marked with
    whether this person may acknowledge it (they hold the right in the practice's team), in one
    query: the rights come from the memberships the request has read already."""
    if not user.is_authenticated:
        return []
    acknowledging = {m.team.neighbourhood_id for m in user.memberships_with_right(Right.ACKNOWLEDGE_PRESSURE_ALERTS)}
    alerts = list(PressureAlert.objects.banner_for(user))
    for alert in alerts:
        alert.can_acknowledge = alert.report.practice.pcn.neighbourhood_id in acknowledging
    return alerts


def can_view_pressure(user) -> bool:
    """Whether the heatmap has anything for this person: they view pressure in some team (read from
    the memberships the request holds, as `has_right` does, not in a query of its own)."""
    return user.is_authenticated and bool(user.memberships_with_right(Right.VIEW_PRESSURE))


@transaction.atomic
def pressure_report_submit(
    *,
    practice: Practice,
    week_start: datetime.date,
    level: int,
    by,
    comment: str = "",
    same_day_appointments_available: int | None = None,
    clinical_staff_absent: int | None = None,
    appointments_offered: int | None = None,
    clinical_staff_available: int | None = None,
    expected_version: int | None = None,
    today: datetime.date | None = None,
    scale: Scale | None = None,
) -> PressureReport:
    """Create or update the practice's report for the week on the current scale (the level kept as
    that scale describes it), keep the change, raise an alert on escalation into an alerting level
    and email the PCN leads once the transaction commits.

    `expected_version` is the version the form showed, 0 for the empty form: a report saved by
    someone else since (its first version included) raises StaleReport. None (scripts) saves
    over whatever is there."""
    today = today or timezone.localdate()
    scale = scale or current_scale()
    if not can_report_for(by, practice):
        raise PermissionDenied("You can report only for your own practice.")
    if week_start != week_start_of(week_start):
        raise ValidationError("A report is for a week starting on a Monday.")
    if week_start > week_start_of(today):
        raise ValidationError("You cannot report for a week that has not started yet.")
    chosen = scale.level(level)
    if chosen is None:
        raise ValidationError(f"The level is a number from 1 to {scale.top}.")
    figures = {
        "level": chosen.number,
        "level_label": chosen.label,
        "level_colour": chosen.colour,
        "opel": chosen.opel,
        "comment": comment,
        "same_day_appointments_available": same_day_appointments_available,
        "clinical_staff_absent": clinical_staff_absent,
        "appointments_offered": appointments_offered,
        "clinical_staff_available": clinical_staff_available,
    }
    reports = PressureReport.objects.select_for_update().filter(practice=practice, week_start=week_start)
    report = reports.first()
    created = False
    if report is None:
        if week_start + datetime.timedelta(days=6) < today:
            raise ValidationError("That week has ended: reports can be made only until the end of their week.")
        try:
            # A savepoint: losing the race for the week's first report leaves this transaction usable.
            with transaction.atomic():
                report = PressureReport.objects.create(
                    practice=practice, week_start=week_start, reported_by=by, alerting=chosen.alerts, **figures
                )
            created = True
        except IntegrityError:
            # Someone else's first report committed after the read above: treated as the edit it now is.
            report = reports.first()
            if report is None:
                raise
    was_alerting = False if created else report.alerting
    if not created:
        if not report.is_editable(today):
            raise ValidationError("That week has ended, so its report can no longer be changed.")
        if expected_version is not None and expected_version != report.version:
            raise StaleReport(report, yours=PressureReport(practice=practice, week_start=week_start, reported_by=by, **figures))
        PressureReport.objects.filter(pk=report.pk).update(
            **figures, alerting=chosen.alerts, updated_at=timezone.now(), version=F("version") + 1
        )
        report.refresh_from_db()
    PressureReportChange.objects.create(report=report, changed_by=by, **figures)
    if chosen.alerts and not was_alerting:
        raise_pressure_alert(report=report)
    return report


def raise_pressure_alert(*, report: PressureReport) -> PressureAlert:
    from int_app.celery import enqueue_on_commit

    from .tasks import email_pressure_alert

    alert = PressureAlert.objects.create(
        report=report, level=report.level, level_label=report.level_label, level_colour=report.level_colour, opel=report.opel
    )
    enqueue_on_commit(email_pressure_alert, alert.pk)
    return alert


def pcn_leads_for(practice: Practice) -> QuerySet:
    """Who an alert is emailed to: those who may acknowledge it, by their role in the practice's
    team (the PCN leads)."""
    from int_app.teams.models import User

    return User.objects.filter(
        # One filter() call: the role and the team are of the same membership.
        memberships__role__in=RIGHTS[Right.ACKNOWLEDGE_PRESSURE_ALERTS],
        memberships__team__neighbourhood__pcns__practices=practice,
        is_active=True,
    ).distinct()


def pressure_alert_acknowledge(*, alert: PressureAlert, by) -> PressureAlert:
    if not PressureAlert.objects.visible_to(by, Right.ACKNOWLEDGE_PRESSURE_ALERTS).filter(pk=alert.pk).exists():
        raise PermissionDenied("Only the PCN lead can acknowledge a pressure alert.")
    # Conditional, so two leads acknowledging at once keep the first one's name.
    PressureAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_by=by, acknowledged_at=timezone.now()
    )
    alert.refresh_from_db()
    return alert


def report_deadline(week_start: datetime.date) -> datetime.datetime:
    day = week_start + datetime.timedelta(days=DEADLINE_WEEKDAY)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(DEADLINE_HOUR)))


@dataclass
class HeatmapRow:
    practice: Practice
    cells: list[PressureReport | None]


@dataclass
class HeatmapGroup:
    pcn_name: str
    rows: list[HeatmapRow] = field(default_factory=list)


@dataclass
class Heatmap:
    weeks: list[datetime.date]
    groups: list[HeatmapGroup]
    missing: list[Practice]
    deadline: datetime.datetime
    deadline_passed: bool


def practices_for_heatmap(user, *, pcn_id: int | None = None, neighbourhood_id: int | None = None) -> QuerySet[Practice]:
    practices = Practice.objects.visible_to(user, Right.VIEW_PRESSURE).select_related("pcn__neighbourhood")
    if pcn_id:
        practices = practices.filter(pcn_id=pcn_id)
    if neighbourhood_id:
        practices = practices.filter(pcn__neighbourhood_id=neighbourhood_id)
    return practices.order_by("pcn__name", "name")


def build_heatmap(practices: QuerySet[Practice], *, now: datetime.datetime | None = None) -> Heatmap:
    """Practices grouped by PCN against the last twelve weeks, in two queries whatever the size."""
    now = now or timezone.now()
    this_week = week_start_of(timezone.localdate(now))
    weeks = [this_week - datetime.timedelta(weeks=back) for back in range(HEATMAP_WEEKS - 1, -1, -1)]
    practice_list = list(practices)
    reports = PressureReport.objects.filter(practice__in=practice_list).for_weeks(weeks[0], weeks[-1])
    by_cell = {(r.practice_id, r.week_start): r for r in reports}
    groups: dict[int, HeatmapGroup] = {}
    for practice in practice_list:
        group = groups.setdefault(practice.pcn_id, HeatmapGroup(pcn_name=str(practice.pcn)))
        group.rows.append(HeatmapRow(practice, [by_cell.get((practice.pk, week)) for week in weeks]))
    deadline = report_deadline(this_week)
    missing = [p for p in practice_list if not p.is_closed and (p.pk, this_week) not in by_cell]
    return Heatmap(weeks, list(groups.values()), missing, deadline, now >= deadline)


def current_levels(practice_ids, *, today: datetime.date | None = None) -> dict[int, PressureReport]:
    """The latest report of each practice from this week or last, for the agenda page."""
    today = today or timezone.localdate()
    since = week_start_of(today) - datetime.timedelta(weeks=1)
    latest: dict[int, PressureReport] = {}
    reports = PressureReport.objects.filter(practice_id__in=practice_ids, week_start__gte=since).select_related("practice")
    for report in reports.order_by("week_start"):
        latest[report.practice_id] = report
    return latest
