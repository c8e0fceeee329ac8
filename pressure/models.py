"""Practice pressure: each practice's weekly report on the deployment's alert scale, every save of
it, the alert raised when a practice enters an alerting level, and the scale itself.

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

from .scales import COLOURS, MAX_LEVELS, OPEL_VALUES, Colour, Level, Preset, Scale, colour_class, default_scale

SCALE_PK = 1  # the deployment's one scale


def pressure_label(level: int) -> str:
    """The bulletin's word for a level, for a row saved before reports kept their own; never fails."""
    labels = settings.PRACTICE_PRESSURE_LABELS
    return labels[level - 1] if 1 <= level <= len(labels) else f"level {level}"


class PressureScale(models.Model):
    """The deployment's alert scale (one row, pk 1; without it, the ICS bulletin's six levels)."""

    name = models.CharField(max_length=80, help_text="As the report form and the situation report name it.")
    preset = models.CharField(max_length=20, choices=Preset.choices, blank=True, help_text="The preset it began from.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "pressure_scale"
        constraints = [models.CheckConstraint(condition=Q(pk=SCALE_PK), name="pressure_scale_one_per_deployment")]

    def __str__(self) -> str:
        return self.name


class PressureScaleLevelQuerySet(models.QuerySet):
    def current_scale(self) -> Scale:
        """The scale practices report on now, in one query."""
        rows = list(self.filter(scale_id=SCALE_PK).select_related("scale").order_by("number"))
        if not rows:
            return default_scale()
        return Scale(rows[0].scale.name, tuple(row.as_level() for row in rows))


class PressureScaleLevel(models.Model):
    scale = models.ForeignKey(PressureScale, on_delete=models.CASCADE, related_name="levels")
    number = models.PositiveSmallIntegerField(help_text="1 is the lowest.")
    label = models.CharField("word", max_length=60)
    colour = models.CharField(max_length=20, choices=Colour.choices)
    opel = models.PositiveSmallIntegerField("OPEL", help_text="The OPEL value (1–4) this level counts as.")
    alerts = models.BooleanField(default=False, help_text="A report entering this level alerts the PCN lead.")

    objects = PressureScaleLevelQuerySet.as_manager()

    class Meta:
        db_table = "pressure_scale_level"
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["scale", "number"], name="pressure_scale_level_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1, number__lte=MAX_LEVELS), name="pressure_scale_level_number_range"),
            models.CheckConstraint(condition=Q(opel__in=OPEL_VALUES), name="pressure_scale_level_opel_one_to_four"),
            models.CheckConstraint(condition=Q(colour__in=list(COLOURS)), name="pressure_scale_level_colour_known"),
        ]

    def __str__(self) -> str:
        return f"{self.number} – {self.label}"

    def as_level(self) -> Level:
        return Level(self.number, self.label, self.colour, self.opel, self.alerts)


class LevelAsSaved(models.Model):
    """A level as the scale described it when the row was saved: its number, word, colour and OPEL
    value, so a later change of scale never re-reads it (and no stored value can fail a page)."""

    level = models.PositiveSmallIntegerField()
    level_label = models.CharField(max_length=60, blank=True)
    level_colour = models.CharField(max_length=20, blank=True)
    opel = models.PositiveSmallIntegerField("OPEL", default=1)

    class Meta:
        abstract = True

    @property
    def label(self) -> str:
        return self.level_label or pressure_label(self.level)

    @property
    def colour_class(self) -> str:
        return colour_class(self.level_colour)

    def keep_level(self, level: Level) -> None:
        self.level, self.level_label, self.level_colour, self.opel = level.number, level.label, level.colour, level.opel


def week_start_of(day: datetime.date) -> datetime.date:
    """Reports are for a week that starts on Monday."""
    return day - datetime.timedelta(days=day.weekday())


class PressureReportQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PressureReportQuerySet:
        return self.filter(practice__in=Practice.objects.visible_to(user, right))

    def for_weeks(self, first_week: datetime.date, last_week: datetime.date) -> PressureReportQuerySet:
        return self.filter(week_start__gte=first_week, week_start__lte=last_week)


MAX_APPOINTMENTS = 10_000
MAX_STAFF = 1_000


class PressureReport(LevelAsSaved):
    """A practice's operational pressure for one week, on the scale of the day it was saved."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="pressure_reports")
    week_start = models.DateField(help_text="The Monday of the week reported on.")
    # Whether the level alerted on the scale it was saved on: an edit alerts only on entering one.
    alerting = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    same_day_appointments_available = models.PositiveIntegerField(null=True, blank=True)
    clinical_staff_absent = models.PositiveIntegerField(null=True, blank=True)
    # The indicators the alert frameworks ask for (GPAS): with the practice's list size, the
    # appointments give activity per 1,000 patients.
    appointments_offered = models.PositiveIntegerField("appointments offered on the day", null=True, blank=True)
    clinical_staff_available = models.PositiveIntegerField(null=True, blank=True)
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
            models.CheckConstraint(condition=Q(opel__in=OPEL_VALUES), name="pressure_report_opel_one_to_four"),
            models.CheckConstraint(
                condition=Q(appointments_offered__lte=MAX_APPOINTMENTS), name="pressure_report_appointments_in_range"
            ),
            models.CheckConstraint(
                condition=Q(clinical_staff_available__lte=MAX_STAFF), name="pressure_report_staff_in_range"
            ),
            models.CheckConstraint(
                condition=Q(week_start__week_day=2), name="pressure_week_starts_on_monday"
            ),
            dates.PRESSURE_WEEK.constraint("week_start", name="pressure_week_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.practice.name}, week of {self.week_start:%d %b %Y}: {self.level} ({self.label})"

    @property
    def activity_per_1000(self) -> float | None:
        """Appointments offered on the day per 1,000 registered patients; None without both."""
        return activity_per_1000(self.appointments_offered, self.practice.list_size)

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


class PressureReportChange(LevelAsSaved):
    """Each save of a report, kept: what the level and figures were, who set them and when."""

    report = models.ForeignKey(PressureReport, on_delete=models.CASCADE, related_name="changes")
    comment = models.TextField(blank=True)
    same_day_appointments_available = models.PositiveIntegerField(null=True, blank=True)
    clinical_staff_absent = models.PositiveIntegerField(null=True, blank=True)
    appointments_offered = models.PositiveIntegerField("appointments offered on the day", null=True, blank=True)
    clinical_staff_available = models.PositiveIntegerField(null=True, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    objects = PressureReportChangeQuerySet.as_manager()

    class Meta:
        db_table = "kpis_pressurereportchange"
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.report}: level {self.level} at {self.changed_at:%Y-%m-%d %H:%M}"


class PressureAlertQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> PressureAlertQuerySet:
        return self.filter(report__practice__in=Practice.objects.visible_to(user, right))

    def unacknowledged(self) -> PressureAlertQuerySet:
        return self.filter(acknowledged_at__isnull=True)

    def banner_for(self, user) -> PressureAlertQuerySet:
        """The alert banner: alerts nobody has acknowledged yet, for the practices of the teams
        where this person may view pressure. The heatmap, the KPI dashboard and the home page show it."""
        return (
            self.filter(report__practice__in=Practice.objects.visible_to(user, Right.VIEW_PRESSURE))
            .unacknowledged()
            .select_related("report__practice__pcn")
        )


class PressureAlert(LevelAsSaved):
    """Raised when a practice's report enters an alerting level: once per escalation, not per edit."""

    report = models.ForeignKey(PressureReport, on_delete=models.CASCADE, related_name="alerts")
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
            # Which levels alert is the scale's to say: the database holds the range only.
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=6), name="pressure_alert_level_one_to_six"),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="pressure_alert_acknowledged_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report}: level {self.level} alert"


def activity_per_1000(appointments: int | None, list_size: int | None) -> float | None:
    if appointments is None or not list_size:
        return None
    return round(appointments * 1000 / list_size, 1)
