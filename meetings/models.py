"""The team's weekly rhythm: meeting series, meetings, agenda items, decisions, actions, minutes.

Visibility: every model here has one `visible_to(user, right=None)`, which scopes to the teams the
user belongs to (another team's object does not exist for them: 404); with `right`, to the teams
where their role carries it, each team judged by their role in it (`Team.objects.with_right`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models import Deferrable, F, Q
from django.utils import timezone

from int_app.teams import dates
from int_app.teams.models import Team
from int_app.teams.roles import Right, has_right
from int_app.teams.validators import single_line_validator


class TransitionNotAllowed(Exception):
    """A state change that the object's current state does not allow; the message says why."""


class MinutesLocked(TransitionNotAllowed):
    """The minutes are published: the record of the meeting can only be corrected by an addendum."""


def local_today() -> dt.date:
    return timezone.localdate()


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _state_fields(model: type[models.Model], *, kept: tuple[str, ...]) -> list[str]:
    """The columns a lock reloads: all but the relations named in `kept`, which never change and
    whose cached objects (the series that names the meeting, the item's resident) stay in place."""
    return [field.attname for field in model._meta.concrete_fields if field.name not in kept]


# --- Series -----------------------------------------------------------------------------------


class MeetingSeriesQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MeetingSeriesQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))

    def active(self) -> MeetingSeriesQuerySet:
        return self.filter(active=True)


class MeetingSeries(models.Model):
    """A team's recurring meeting: by default a triage meeting and a case review meeting."""

    class Purpose(models.TextChoices):
        TRIAGE = "triage", "Triage of new referrals"
        CASE_REVIEW = "case_review", "Review of active cases"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="meeting_series")
    name = models.CharField(max_length=120, validators=[single_line_validator])
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=90)
    location = models.CharField(max_length=200, blank=True, help_text="A room, or leave blank for video only.")
    video_link = models.URLField(blank=True)
    active = models.BooleanField(default=True, help_text="Inactive series get no new meetings.")

    objects = MeetingSeriesQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "weekday", "start_time"]
        verbose_name_plural = "meeting series"
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="meeting_series_unique_name_in_team"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="meeting_series_weekday_0_to_6"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=15, duration_minutes__lte=480),
                name="meeting_series_duration_15_to_480",
            ),
            models.CheckConstraint(
                condition=Q(purpose__in=["triage", "case_review"]), name="meeting_series_purpose_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team})"

    def slot_dates(self, *, start: dt.date, days: int) -> list[dt.date]:
        """The dates in [start, start + days) on which this series meets."""
        end = start + dt.timedelta(days=days)
        day = start + dt.timedelta(days=(self.weekday - start.weekday()) % 7)
        dates = []
        while day < end:
            dates.append(day)
            day += dt.timedelta(weeks=1)
        return dates

    def starts_at_on(self, day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, self.start_time))


# --- Meetings ---------------------------------------------------------------------------------


class MeetingQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MeetingQuerySet:
        return self.filter(team__in=Team.objects.visible_to(user, right))


class Meeting(models.Model):
    """One occurrence of a series. `slot_date` is the series date it was made for and never
    changes, so moving a meeting to another day does not make the scheduler create it again."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        HELD = "held", "Held"
        CANCELLED = "cancelled", "Cancelled"

    series = models.ForeignKey(MeetingSeries, on_delete=models.PROTECT, related_name="meetings")
    # Copied from the series so that every team-scoped read is one join shorter.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="meetings")
    slot_date = models.DateField()
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    location = models.CharField(max_length=200, blank=True)
    video_link = models.URLField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    cancel_reason = models.TextField(blank=True)
    moved_from = models.DateTimeField(null=True, blank=True)

    agenda_published_at = models.DateTimeField(null=True, blank=True)
    agenda_published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    agenda_emailed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    minutes_published_at = models.DateTimeField(null=True, blank=True)
    minutes_published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    minutes_emailed_at = models.DateTimeField(null=True, blank=True)
    # The calendar SEQUENCE (RFC 5545): raised only when attendees' calendars must change (moved,
    # cancelled), so a calendar replaces its copy of the event rather than keeping both.
    calendar_sequence = models.PositiveIntegerField(default=0)
    # The SEQUENCE of the last invitation emailed (with the agenda, or an update after a move or
    # cancellation): an update goes out once for each change, however often its task runs.
    calendar_sequence_emailed = models.PositiveIntegerField(default=0)
    # Bumped on every change to what the meeting screen shows: a polling attendee who already
    # has this version gets "nothing new" (204) instead of a re-rendered screen.
    version = models.PositiveIntegerField(default=1)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["team", "starts_at"], name="meeting_team_starts_at")]
        constraints = [
            models.UniqueConstraint(fields=["series", "slot_date"], name="meeting_one_per_series_slot"),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "held", "cancelled"]), name="meeting_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""), name="meeting_cancelled_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(minutes_published_at__isnull=True) | Q(status="held"),
                name="meeting_minutes_only_when_held",
            ),
            # The move form keeps a meeting within two years of today; the database, a fixed range.
            dates.MEETING_DATE.constraint("slot_date", name="meeting_slot_date_in_range"),
            dates.MEETING_DATE.constraint("starts_at", name="meeting_starts_at_in_range", moment=True),
            dates.MEETING_DATE.constraint("moved_from", name="meeting_moved_from_in_range", nullable=True, moment=True),
        ]

    def __str__(self) -> str:
        return f"{self.series.name}, {timezone.localtime(self.starts_at):%a %d %b %Y %H:%M}"

    @property
    def ends_at(self) -> dt.datetime:
        try:
            return self.starts_at + dt.timedelta(minutes=self.duration_minutes)
        except OverflowError:  # a start stored at the calendar's very end: the meeting ends with it
            return dt.datetime.max.replace(tzinfo=dt.UTC)

    @property
    def date(self) -> dt.date:
        return timezone.localdate(self.starts_at)

    @property
    def agenda_published(self) -> bool:
        return self.agenda_published_at is not None

    @property
    def agenda_editable(self) -> bool:
        return self.status == self.Status.SCHEDULED and not self.agenda_published

    @property
    def minutes_published(self) -> bool:
        return self.minutes_published_at is not None

    @property
    def can_record(self) -> bool:
        """Notes, decisions, actions and attendance are recorded once the agenda is out and until
        the minutes are published."""
        return self.agenda_published and self.status != self.Status.CANCELLED and not self.minutes_published

    def hours_until_start(self, now: dt.datetime | None = None) -> float:
        return ((self.starts_at - (now or timezone.now())).total_seconds()) / 3600

    def publishing_is_late(self, now: dt.datetime | None = None) -> bool:
        """Attendees should have the agenda a full day ahead to gather their information."""
        return self.hours_until_start(now) < 24

    def touch(self) -> None:
        Meeting.objects.filter(pk=self.pk).update(version=F("version") + 1)
        self.refresh_from_db(fields=["version"])

    def lock(self) -> None:
        """Take this meeting's row lock until the transaction ends, and reload it. Every write to
        a meeting or its rows (items, attendance, decisions, actions, minutes) starts here, so two
        people's changes to one meeting queue rather than interleave, and the checks that follow
        see what the one before committed: the second of two "End meeting" presses finds it held."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("Meeting.lock() only holds inside transaction.atomic().")
        self.refresh_from_db(fields=_state_fields(Meeting, kept=("series", "team")), from_queryset=Meeting.objects.select_for_update())

    # State changes: each takes the meeting's lock, checks the transition, then saves only what
    # it changed.

    def ensure_agenda_editable(self) -> None:
        if self.status != self.Status.SCHEDULED:
            raise TransitionNotAllowed(f"This meeting is {self.get_status_display().lower()}: its agenda cannot change.")
        if self.agenda_published:
            raise TransitionNotAllowed("The agenda is published, so its items and order are fixed.")

    def ensure_can_record(self) -> None:
        if self.minutes_published:
            raise MinutesLocked("The minutes are published and locked: add a dated addendum to correct them.")
        if self.status == self.Status.CANCELLED:
            raise TransitionNotAllowed("This meeting was cancelled.")
        if not self.agenda_published:
            raise TransitionNotAllowed("Publish the agenda before the meeting is recorded.")

    @transaction.atomic
    def cancel(self, *, reason: str) -> None:
        self.lock()
        if self.status != self.Status.SCHEDULED:
            raise TransitionNotAllowed(f"Only a scheduled meeting can be cancelled; this one is {self.get_status_display().lower()}.")
        if not reason.strip():
            raise TransitionNotAllowed("Give a reason for cancelling.")
        self.status = self.Status.CANCELLED
        self.cancel_reason = reason.strip()
        self.calendar_sequence += 1
        self.save(update_fields=["status", "cancel_reason", "calendar_sequence"])
        # Residents on a cancelled agenda were not discussed: they come back as "not reached".
        self.items.filter(outcome=AgendaItem.Outcome.PENDING).update(outcome=AgendaItem.Outcome.NOT_REACHED)
        self.touch()

    @transaction.atomic
    def move(self, *, starts_at: dt.datetime, duration_minutes: int) -> None:
        self.lock()
        if self.status != self.Status.SCHEDULED:
            raise TransitionNotAllowed(f"Only a scheduled meeting can be moved; this one is {self.get_status_display().lower()}.")
        if starts_at < timezone.now():
            raise TransitionNotAllowed("A meeting cannot be moved into the past.")
        if self.moved_from is None:
            self.moved_from = self.starts_at
        self.starts_at = starts_at
        self.duration_minutes = duration_minutes
        self.calendar_sequence += 1
        self.save(update_fields=["starts_at", "duration_minutes", "moved_from", "calendar_sequence"])
        self.touch()

    @transaction.atomic
    def publish_agenda(self, *, by) -> None:
        self.lock()
        self.ensure_agenda_editable()
        if not self.items.exists():
            raise TransitionNotAllowed("Add at least one resident before publishing the agenda.")
        self.agenda_published_at = timezone.now()
        self.agenda_published_by = by
        self.save(update_fields=["agenda_published_at", "agenda_published_by"])
        self.touch()

    @transaction.atomic
    def end(self) -> int:
        """Close the meeting: items not discussed are marked not reached. Returns how many."""
        self.lock()
        if self.status != self.Status.SCHEDULED:
            raise TransitionNotAllowed(f"This meeting is already {self.get_status_display().lower()}.")
        if not self.agenda_published:
            raise TransitionNotAllowed("Publish the agenda before the meeting is held.")
        not_reached = self.items.filter(outcome=AgendaItem.Outcome.PENDING).update(
            outcome=AgendaItem.Outcome.NOT_REACHED
        )
        self.items.filter(timer_started_at__isnull=False).update(timer_started_at=None)
        self.status = self.Status.HELD
        self.ended_at = timezone.now()
        self.save(update_fields=["status", "ended_at"])
        self.touch()
        return not_reached

    @transaction.atomic
    def publish_minutes(self, *, by) -> None:
        self.lock()
        if self.status != self.Status.HELD:
            raise TransitionNotAllowed("End the meeting before publishing its minutes.")
        if self.minutes_published:
            raise MinutesLocked("The minutes are already published.")
        self.minutes_published_at = timezone.now()
        self.minutes_published_by = by
        self.save(update_fields=["minutes_published_at", "minutes_published_by"])
        self.touch()


class AttendanceQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> AttendanceQuerySet:
        return self.filter(meeting__team__in=Team.objects.visible_to(user, right))


class Attendance(models.Model):
    """Who came, by role. Rows are made when the agenda is published, one per case-team member."""

    class Status(models.TextChoices):
        NOT_RECORDED = "not_recorded", "Not recorded"
        PRESENT = "present", "Present"
        APOLOGIES = "apologies", "Apologies"
        DEPUTY = "deputy", "Sent a deputy"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attendance")
    # The role they held when invited: the minutes read "GP: apologies" even if roles change later.
    role = models.CharField(max_length=30)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_RECORDED)
    deputy_name = models.CharField(max_length=160, blank=True)

    objects = AttendanceQuerySet.as_manager()

    class Meta:
        ordering = ["role", "user__full_name"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="attendance_one_row_per_person"),
            models.CheckConstraint(
                condition=~Q(status="deputy") | ~Q(deputy_name=""), name="attendance_deputy_is_named"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_status_display()}"

    @property
    def role_label(self) -> str:
        from int_app.teams.roles import Role

        return Role(self.role).label if self.role in Role.values else self.role


# --- Agenda items -----------------------------------------------------------------------------


class AgendaItemQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> AgendaItemQuerySet:
        return self.filter(meeting__team__in=Team.objects.visible_to(user, right))


class AgendaItem(models.Model):
    """One resident on one meeting's agenda, and what happened when the team discussed them."""

    DEFAULT_MINUTES = 10

    class Outcome(models.TextChoices):
        PENDING = "pending", "Not yet discussed"
        DISCUSSED = "discussed", "Discussed"
        NOT_REACHED = "not_reached", "Not reached"

    class Reason(models.TextChoices):
        """Why the resident is on the agenda: the suggestion heading they were added from."""

        NOT_REACHED = "not_reached", "Not reached at an earlier meeting"
        NEW_REFERRAL = "new_referral", "New referral awaiting triage"
        OVERDUE_ACTIONS = "overdue_actions", "Overdue actions"
        OPEN_ACTIONS = "open_actions", "Open actions"
        SERVICE_USE = "service_use", "Recent A&E attendances or an emergency admission"
        DUE_REVIEW = "due_review", "Due review"
        STEP_DOWN = "step_down", "Step-down candidate"
        ADDED = "added", "Added by the coordinator"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="items")
    resident = models.ForeignKey("caseload.Resident", on_delete=models.PROTECT, related_name="agenda_items")
    position = models.PositiveIntegerField()
    minutes = models.PositiveSmallIntegerField(default=DEFAULT_MINUTES)
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.ADDED)
    carried_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    notes = models.TextField(blank=True)
    # The timer: `timer_started_at` is set while it runs; closed stretches add to seconds_used.
    timer_started_at = models.DateTimeField(null=True, blank=True)
    timer_stopped_at = models.DateTimeField(null=True, blank=True)
    seconds_used = models.PositiveIntegerField(default=0)

    objects = AgendaItemQuerySet.as_manager()

    class Meta:
        ordering = ["meeting", "position"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "resident"], name="agenda_item_resident_once_per_meeting"),
            # Deferred so that a reorder can swap positions inside one transaction.
            models.UniqueConstraint(
                fields=["meeting", "position"],
                name="agenda_item_unique_position",
                deferrable=Deferrable.DEFERRED,
            ),
            models.CheckConstraint(condition=Q(minutes__gte=1, minutes__lte=120), name="agenda_item_minutes_1_to_120"),
            models.CheckConstraint(
                condition=Q(outcome__in=["pending", "discussed", "not_reached"]), name="agenda_item_outcome_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.resident}"

    def seconds_used_at(self, now: dt.datetime | None = None) -> int:
        running = 0
        if self.timer_started_at is not None:
            running = int(((now or timezone.now()) - self.timer_started_at).total_seconds())
        return self.seconds_used + max(running, 0)

    @property
    def time_used(self) -> str:
        minutes, seconds = divmod(self.seconds_used_at(), 60)
        return f"{minutes}:{seconds:02d}"

    @property
    def timer_running(self) -> bool:
        return self.timer_started_at is not None

    @property
    def over_time(self) -> bool:
        return self.seconds_used_at() > self.minutes * 60

    @property
    def discussed_without_decision_or_action(self) -> bool:
        """Discussed, with neither a decision nor an action recorded. Reads the item's decisions
        and actions (prefetched on the meeting screen)."""
        return self.outcome == self.Outcome.DISCUSSED and not self.decisions.all() and not self.actions.all()

    @property
    def closed_without_decision_or_action(self) -> bool:
        """The discussion is over (its clock was stopped, or the meeting ended) and nothing was
        decided or given to anyone to do: the meeting screen warns, the decision-closure measure
        counts it. A warning, not a refusal: sometimes the right outcome is to watch and wait."""
        over = (self.timer_stopped_at is not None and not self.timer_running) or self.meeting.status == Meeting.Status.HELD
        return over and self.discussed_without_decision_or_action

    def lock(self) -> None:
        """Writes to an item queue on its meeting's lock (see `Meeting.lock`); the item is reloaded
        after it, so a change made by whoever held the lock before is not overwritten."""
        self.meeting.lock()
        try:
            self.refresh_from_db(fields=_state_fields(AgendaItem, kept=("meeting", "resident", "carried_from")))
        except AgendaItem.DoesNotExist:
            raise TransitionNotAllowed(f"{self.resident} is no longer on this agenda.") from None

    @transaction.atomic
    def start_timer(self) -> None:
        self.lock()
        self.meeting.ensure_can_record()
        if self.meeting.status != Meeting.Status.SCHEDULED:
            raise TransitionNotAllowed("The meeting has ended, so its clock cannot start again.")
        if self.timer_running:
            return
        # Only one item is discussed at a time: starting this clock stops any other.
        for other in self.meeting.items.filter(timer_started_at__isnull=False).exclude(pk=self.pk):
            other._stop_clock()
        self.timer_started_at = timezone.now()
        self.outcome = self.Outcome.DISCUSSED
        self.save(update_fields=["timer_started_at", "outcome"])

    @transaction.atomic
    def stop_timer(self) -> None:
        self.lock()
        self._stop_clock()

    def _stop_clock(self) -> None:
        if not self.timer_running:
            return
        now = timezone.now()
        self.seconds_used = self.seconds_used_at(now)
        self.timer_started_at = None
        self.timer_stopped_at = now
        self.save(update_fields=["seconds_used", "timer_started_at", "timer_stopped_at"])

    @transaction.atomic
    def record_notes(self, notes: str) -> None:
        self.lock()
        self.meeting.ensure_can_record()
        self.notes = notes
        fields = ["notes"]
        if notes.strip() and self.outcome != self.Outcome.DISCUSSED:
            self.outcome = self.Outcome.DISCUSSED
            fields.append("outcome")
        self.save(update_fields=fields)
        self.meeting.touch()

    @transaction.atomic
    def set_outcome(self, outcome: str) -> None:
        if outcome not in self.Outcome.values:
            raise TransitionNotAllowed("Choose discussed or not reached.")
        self.lock()
        self.meeting.ensure_can_record()
        self.outcome = outcome
        self.save(update_fields=["outcome"])
        self.meeting.touch()


# --- Decisions --------------------------------------------------------------------------------


class DecisionQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> DecisionQuerySet:
        return self.filter(agenda_item__meeting__team__in=Team.objects.visible_to(user, right))

    def awaiting_sign_off(self) -> DecisionQuerySet:
        return self.filter(is_clinical=True, signed_at__isnull=True)


class Decision(models.Model):
    """What the team decided about a resident. A clinical decision stays provisional until a GP
    of the team signs it off: the GP holds delegated responsibility for it."""

    agenda_item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="decisions")
    text = models.TextField()
    is_clinical = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_by__isnull=True, signed_at__isnull=True)
                | Q(is_clinical=True, signed_by__isnull=False, signed_at__isnull=False),
                name="decision_only_clinical_ones_are_signed",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def is_provisional(self) -> bool:
        return self.is_clinical and self.signed_at is None

    def sign_off(self, *, by) -> None:
        team = self.agenda_item.meeting.team
        if not has_right(by, team, Right.SIGN_CLINICAL_DECISIONS):
            raise TransitionNotAllowed("Only a GP of this team can sign off its clinical decisions.")
        if not self.is_clinical:
            raise TransitionNotAllowed("This decision is not clinical, so it needs no sign-off.")
        if self.signed_at is not None:
            raise TransitionNotAllowed(f"Already signed off by {self.signed_by} on {timezone.localtime(self.signed_at):%d %b %Y %H:%M}.")
        # Conditional, so two GPs signing at once cannot both succeed.
        updated = Decision.objects.filter(pk=self.pk, signed_at__isnull=True).update(
            signed_by=by, signed_at=timezone.now()
        )
        if not updated:
            raise TransitionNotAllowed("Someone signed this decision off a moment ago.")
        self.refresh_from_db(fields=["signed_by", "signed_at"])


# --- Actions ----------------------------------------------------------------------------------


class ActionQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ActionQuerySet:
        return self.filter(resident__team__in=Team.objects.visible_to(user, right))

    def open(self) -> ActionQuerySet:
        return self.filter(status__in=Action.Status.open_values())

    def overdue(self, on: dt.date | None = None) -> ActionQuerySet:
        return self.open().filter(due_date__lt=on or local_today())

    def owned_by(self, user) -> ActionQuerySet:
        return self.filter(owner=user)


class ActionConflict(Exception):
    """Someone else saved the action after the form was opened: nothing was saved. Carries both
    versions so the person can see what the other saved and what they tried to save."""

    def __init__(self, *, theirs: Action, yours: dict) -> None:
        super().__init__(str(self))
        self.theirs = theirs
        self.yours = yours

    def __str__(self) -> str:
        return "Someone else changed this action while you were editing it. Nothing was saved."


class Action(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

        @classmethod
        def open_values(cls) -> list[str]:
            return [cls.OPEN, cls.IN_PROGRESS]

    # Which status may follow which: done and cancelled are final.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.IN_PROGRESS, Status.DONE, Status.CANCELLED}),
        Status.IN_PROGRESS: frozenset({Status.DONE, Status.CANCELLED}),
        Status.DONE: frozenset(),
        Status.CANCELLED: frozenset(),
    }

    resident = models.ForeignKey("caseload.Resident", on_delete=models.PROTECT, related_name="actions")
    agenda_item = models.ForeignKey(
        AgendaItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="actions")
    due_date = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    cancel_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Lost-update protection: every save is UPDATE ... WHERE version = the version the form saw.
    version = models.PositiveIntegerField(default=1)

    objects = ActionQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "pk"]
        indexes = [
            models.Index(fields=["owner", "status", "due_date"], name="action_owner_status_due"),
            models.Index(fields=["resident", "status"], name="action_resident_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "in_progress", "done", "cancelled"]), name="action_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""), name="action_cancelled_has_reason"
            ),
            dates.ACTION_DUE_DATE.constraint("due_date", name="action_due_date_in_range"),
        ]

    def __str__(self) -> str:
        return self.description[:60]

    @property
    def is_open(self) -> bool:
        return self.status in self.Status.open_values()

    # What the one-tap buttons say for each next status.
    BUTTONS: dict[str, str] = {
        Status.IN_PROGRESS: "Start",
        Status.DONE: "Mark done",
        Status.CANCELLED: "Cancel the action",
    }

    def next_statuses(self) -> list[tuple[str, str]]:
        return [(s.value, self.BUTTONS.get(s, s.label)) for s in self.Status if s in self.TRANSITIONS[self.status]]

    def _lock(self, *, expected_version: int, yours: dict) -> None:
        """Take the action's row lock and reload it. Someone who saved it after this person opened
        it wins, and this person sees both versions: checked before whether the change is allowed,
        so the second of two "Mark done" presses gets the conflict, not "a done action cannot
        become done"."""
        current = Action.objects.select_for_update(of=("self",)).select_related("owner").get(pk=self.pk)
        if current.version != expected_version:
            raise ActionConflict(theirs=current, yours=yours)
        self.refresh_from_db(fields=_state_fields(Action, kept=("resident", "agenda_item", "created_by")))

    def _conditional_update(self, *, expected_version: int, yours: dict, **changes) -> None:
        now = timezone.now()
        updated = Action.objects.filter(pk=self.pk, version=expected_version).update(
            version=F("version") + 1, updated_at=now, **changes
        )
        if not updated:
            raise ActionConflict(theirs=Action.objects.select_related("owner").get(pk=self.pk), yours=yours)
        for name, value in changes.items():
            setattr(self, name, value)
        self.updated_at = now
        self.version = expected_version + 1

    @transaction.atomic
    def change_status(self, *, to: str, by, comment: str, expected_version: int) -> ActionUpdate:
        comment = comment.strip()
        to_label = self.Status(to).label if to in self.Status.values else to
        yours = {"status": to_label, "comment": comment}
        self._lock(expected_version=expected_version, yours=yours)
        if to not in self.TRANSITIONS.get(self.status, ()):
            raise TransitionNotAllowed(f"An action that is {self.get_status_display().lower()} cannot become {to_label.lower()}.")
        if to == self.Status.CANCELLED and not comment:
            raise TransitionNotAllowed("Say why the action is cancelled.")
        changes: dict = {"status": to}
        if to == self.Status.CANCELLED:
            changes["cancel_reason"] = comment
        if to == self.Status.DONE:
            changes["completed_at"] = timezone.now()
        from_status = self.status
        self._conditional_update(expected_version=expected_version, yours=yours, **changes)
        return ActionUpdate.objects.create(
            action=self, author=by, from_status=from_status, to_status=to, comment=comment
        )

    @transaction.atomic
    def edit(self, *, by, description: str, owner, due_date: dt.date, comment: str, expected_version: int) -> ActionUpdate:
        yours = {"description": description, "owner": str(owner), "due_date": due_date, "comment": comment}
        self._lock(expected_version=expected_version, yours=yours)
        if not self.is_open:
            raise TransitionNotAllowed(f"This action is {self.get_status_display().lower()}: it can no longer be edited.")
        changed = []
        if description != self.description:
            changed.append("description")
        if owner.pk != self.owner_id:
            changed.append(f"owner to {owner}")
        if due_date != self.due_date:
            changed.append(f"due date to {due_date:%d %b %Y}")
        summary = "Changed " + ", ".join(changed) + "." if changed else "No change to the details."
        self._conditional_update(
            expected_version=expected_version,
            yours=yours,
            description=description,
            owner=owner,
            due_date=due_date,
        )
        return ActionUpdate.objects.create(
            action=self,
            author=by,
            from_status=self.status,
            to_status=self.status,
            comment=f"{summary} {comment}".strip(),
        )


class ActionUpdateQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> ActionUpdateQuerySet:
        return self.filter(action__resident__team__in=Team.objects.visible_to(user, right))


class ActionUpdate(models.Model):
    """The dated history of an action: written for its creation and every change after."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="updates")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=20, choices=Action.Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Action.Status.choices)
    comment = models.TextField(blank=True)

    objects = ActionUpdateQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status or 'new'} -> {self.to_status}"


# --- Minutes ----------------------------------------------------------------------------------


class MinutesAddendumQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> MinutesAddendumQuerySet:
        return self.filter(meeting__team__in=Team.objects.visible_to(user, right))


class MinutesAddendum(models.Model):
    """A dated correction to published minutes, which themselves never change."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = MinutesAddendumQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "minutes addenda"

    def __str__(self) -> str:
        return f"Addendum to {self.meeting} on {timezone.localtime(self.created_at):%d %b %Y}"


# --- Calendars --------------------------------------------------------------------------------


def new_calendar_token() -> str:
    # 256 random bits: the address is the only key a calendar app can present.
    return secrets.token_urlsafe(32)


# What new_calendar_token makes (URL-safe base64); anything else in an address is no token.
CALENDAR_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


class CalendarFeedQuerySet(models.QuerySet):
    def for_token(self, token: str) -> CalendarFeedQuerySet:
        """The feed whose address carries this token, of an account still switched on."""
        if not CALENDAR_TOKEN.fullmatch(token):
            return self.none()
        return self.filter(token=token, user__is_active=True)


class CalendarFeed(models.Model):
    """A member's private calendar address (docs/adr/0016-calendar-feeds.md). The token is the
    whole secret, so a new one (`reset`) ends the old address at once. It is kept as it is, not
    hashed, so that the member can see their address again: whoever can read this table can read
    the meetings the feed shows anyway, and the feed carries no resident's details."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=new_calendar_token)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CalendarFeedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"

    @classmethod
    def of(cls, user) -> CalendarFeed:
        """The person's feed, made on first asking."""
        return cls.objects.get_or_create(user=user)[0]

    def reset(self) -> None:
        self.token = new_calendar_token()
        self.created_at = timezone.now()
        self.save(update_fields=["token", "created_at"])


class DigestSent(models.Model):
    """One row per person per week: the weekly action digest goes out at most once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="The Monday of the week the digest was for.")
    sent_at = models.DateTimeField(default=timezone.now)
    open_actions = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="digest_once_per_person_per_week")]

    def __str__(self) -> str:
        return f"Digest for {self.user}, week of {self.week}"


# --- Outcome summaries to the registered practice ----------------------------------------------


class OutcomeSummaryQuerySet(models.QuerySet):
    def visible_to(self, user, right: Right | None = None) -> OutcomeSummaryQuerySet:
        return self.filter(meeting__team__in=Team.objects.visible_to(user, right))

    def current(self) -> OutcomeSummaryQuerySet:
        """The latest version for each discussion: the one a correction would supersede."""
        return self.filter(superseded_by__isnull=True)


class OutcomeSummary(models.Model):
    """The one-page outcome of one resident's case discussion, for their registered GP practice
    (meetings/outcome_summaries.py). `content` is what the summary says, fixed when it was made
    (the minutes are locked by then); `pdf` is the document drawn from it, kept as it was sent. A
    correction is a new version (kind addendum) that supersedes the one before."""

    class Kind(models.TextChoices):
        ORIGINAL = "original", "Original"
        ADDENDUM = "addendum", "Addendum"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        NO_MAILBOX = "no_mailbox", "Not sent: no mailbox"
        SUPERSEDED = "superseded", "Not sent: replaced by a correction"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="outcome_summaries")
    agenda_item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="outcome_summaries")
    resident = models.ForeignKey("caseload.Resident", on_delete=models.PROTECT, related_name="+")
    # The practice the resident was registered with when the summary was made: it is sent there.
    practice = models.ForeignKey("teams.Practice", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ORIGINAL)
    version = models.PositiveSmallIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    correction = models.TextField(blank=True, help_text="What an addendum corrects, in the coordinator's words.")
    content = models.JSONField()
    pdf = models.BinaryField(blank=True, default=b"", editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_to = models.EmailField(blank=True)
    # The last failed try, shown to the coordinator until a try succeeds.
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = OutcomeSummaryQuerySet.as_manager()

    class Meta:
        ordering = ["meeting", "agenda_item__position", "version"]
        verbose_name_plural = "outcome summaries"
        constraints = [
            models.UniqueConstraint(fields=["agenda_item", "version"], name="outcome_summary_one_per_item_version"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "no_mailbox", "superseded"]), name="outcome_summary_status_known"
            ),
            models.CheckConstraint(
                condition=Q(kind="original", version=1, supersedes__isnull=True)
                | Q(kind="addendum", version__gt=1, supersedes__isnull=False),
                name="outcome_summary_addendum_supersedes",
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) & ~Q(sent_to="")
                | ~Q(status="sent") & Q(sent_at__isnull=True),
                name="outcome_summary_sent_has_time_and_mailbox",
            ),
        ]

    def __str__(self) -> str:
        return f"Outcome summary v{self.version} for {self.resident} ({self.meeting})"

    @property
    def is_addendum(self) -> bool:
        return self.kind == self.Kind.ADDENDUM

    @property
    def is_current(self) -> bool:
        """No later version supersedes it: the one a correction would correct."""
        try:
            self.superseded_by  # noqa: B018 - the reverse one-to-one, read (and cached) to ask whether it exists
        except OutcomeSummary.DoesNotExist:
            return True
        return False

    @property
    def filename(self) -> str:
        # No name or NHS number in a file name: it shows in mail listings and download folders.
        return f"int-outcome-summary-{self.meeting.date:%Y-%m-%d}-{self.pk}-v{self.version}.pdf"

    @property
    def status_text(self) -> str:
        """What the coordinator reads beside the summary."""
        if self.status == self.Status.SENT:
            return f"Sent to {self.sent_to} on {timezone.localtime(self.sent_at):%-d %B %Y, %H:%M}"
        if self.status == self.Status.NO_MAILBOX:
            return f"Not sent: no mailbox for {self.practice}"
        if self.status == self.Status.SUPERSEDED:
            return f"Not sent: replaced by version {self.version + 1} before it went"
        if self.last_error:
            return (
                f"Not sent yet: try {self.attempts} failed on {timezone.localtime(self.last_attempt_at):%-d %B %Y, %H:%M}"
                f" ({self.last_error}). It is tried again."
            )
        return "Waiting to be sent"

    @property
    def can_send_again(self) -> bool:
        """A summary held back for want of a mailbox, or whose sending failed, can be sent again."""
        return self.status == self.Status.NO_MAILBOX or (self.status == self.Status.PENDING and bool(self.last_error))
