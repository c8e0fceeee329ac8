"""Practice pressure: each practice's weekly report on the six-level scale, every save of it, and
the alert raised when a practice enters the top levels.

The tables were made by the kpis app and keep their names (Meta.db_table): the models moved here
in the state only (migrations 0001 here and kpis 0005), so no row moved."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from int_app.teams import dates
from int_app.teams.models import Practice
from int_app.teams.roles import Right

TOP_LEVELS = (5, 6)  # "nearing boiling point" and "vaporising" trigger support from the ICS


def pressure_label(level: int) -> str:
    return settings.PRACTICE_PRESSURE_LABELS[level - 1]


def week_start_of(day: datetime.date) -> datetime.date:
    """Reports are for a week that starts on Monday."""
    return day - datetime.timedelta(days=day.weekday())


class PressureReportQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PressureReportQuerySet:
        return self.filter(practice__in=Practice.objects.visible_to(user, right))

    def for_weeks(self, first_week: datetime.date, last_week: datetime.date) -> PressureReportQuerySet:
        return self.filter(week_start__gte=first_week, week_start__lte=last_week)


class PressureReport(models.Model):
    """A practice's operational pressure for one week, on the six-level scale."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="pressure_reports")
    week_start = models.DateField(help_text="The Monday of the week reported on.")
    level = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    same_day_appointments_available = models.PositiveIntegerField(null=True, blank=True)
    clinical_staff_absent = models.PositiveIntegerField(null=True, blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    objects = PressureReportQuerySet.as_manager()

    class Meta:
        db_table = "kpis_pressurereport"
        ordering = ["-week_start", "practice__name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "week_start"], name="pressure_one_report_per_practice_week"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=6), name="pressure_level_one_to_six"),
            models.CheckConstraint(
                condition=Q(week_start__week_day=2), name="pressure_week_starts_on_monday"
            ),
            dates.PRESSURE_WEEK.constraint("week_start", name="pressure_week_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.practice.name}, week of {self.week_start:%d %b %Y}: {self.level} ({self.label})"

    @property
    def label(self) -> str:
        return pressure_label(self.level)

    @property
    def week_end(self) -> datetime.date:
        return self.week_start + datetime.timedelta(days=6)

    def is_editable(self, today: datetime.date | None = None) -> bool:
        """Editable until the week it reports on has ended."""
        today = today or timezone.localdate()
        return today <= self.week_end


class PressureReportChangeQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PressureReportChangeQuerySet:
        return self.filter(report__practice__in=Practice.objects.visible_to(user, right))


class PressureReportChange(models.Model):
    """Each save of a report, kept: what the level and figures were, who set them and when."""

    report = models.ForeignKey(PressureReport, on_delete=models.CASCADE, related_name="changes")
    level = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    same_day_appointments_available = models.PositiveIntegerField(null=True, blank=True)
    clinical_staff_absent = models.PositiveIntegerField(null=True, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    objects = PressureReportChangeQuerySet.as_manager()

    class Meta:
        db_table = "kpis_pressurereportchange"
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.report}: level {self.level} at {self.changed_at:%Y-%m-%d %H:%M}"

    @property
    def label(self) -> str:
        return pressure_label(self.level)


class PressureAlertQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PressureAlertQuerySet:
        return self.filter(report__practice__in=Practice.objects.visible_to(user, right))

    def unacknowledged(self) -> PressureAlertQuerySet:
        return self.filter(acknowledged_at__isnull=True)

    def banner_for(self, user) -> PressureAlertQuerySet:
        """The level 5–6 banner: alerts nobody has acknowledged yet, for the practices of the teams
        where this person may view pressure. The heatmap, the KPI dashboard and the home page show it."""
        return (
            self.filter(report__practice__in=Practice.objects.visible_to(user, Right.VIEW_PRESSURE))
            .unacknowledged()
            .select_related("report__practice__pcn")
        )


class PressureAlert(models.Model):
    """Raised when a practice's report enters the top levels: once per escalation, not per edit."""

    report = models.ForeignKey(PressureReport, on_delete=models.CASCADE, related_name="alerts")
    level = models.PositiveSmallIntegerField()
    raised_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = PressureAlertQuerySet.as_manager()

    class Meta:
        db_table = "kpis_pressurealert"
        ordering = ["-raised_at"]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=TOP_LEVELS), name="pressure_alert_top_levels_only"),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="pressure_alert_acknowledged_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report}: level {self.level} alert"

    @property
    def label(self) -> str:
        return pressure_label(self.level)
