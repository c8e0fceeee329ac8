"""Workflows that span models: scheduling, the agenda and its information packs, publishing,
recording the meeting, actions, minutes and the emails that follow. Keyword-only, named
<entity>_<action>; single-object state changes live on the models."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Greatest, Least
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from int_app.celery import enqueue_on_commit
from int_app.teams.mail import email_send
from int_app.teams.models import Membership, Team, User
from int_app.teams.roles import Right, Role, role_has_right

from .models import (
    Action,
    ActionUpdate,
    AgendaItem,
    Attendance,
    Decision,
    DigestSent,
    Meeting,
    MeetingSeries,
    MinutesAddendum,
    TransitionNotAllowed,
    local_today,
    week_start,
)

SCHEDULE_AHEAD_DAYS = 28
SERVICE_USE_PERIOD = dt.timedelta(days=90)

# The defaults the pilot teams used: triage early in the week, case review later.
DEFAULT_SERIES: tuple[dict, ...] = (
    {
        "name": "Triage meeting",
        "purpose": MeetingSeries.Purpose.TRIAGE,
        "weekday": MeetingSeries.Weekday.TUESDAY,
        "start_time": dt.time(9, 30),
        "duration_minutes": 60,
    },
    {
        "name": "Case review meeting",
        "purpose": MeetingSeries.Purpose.CASE_REVIEW,
        "weekday": MeetingSeries.Weekday.THURSDAY,
        "start_time": dt.time(13, 0),
        "duration_minutes": 90,
    },
)


def roles_with(right: Right) -> list[str]:
    return [role for role in Role.values if role_has_right(role, right)]


def site_url(path: str) -> str:
    # Emails are sent by the worker, with no request to build an absolute address from.
    return f"{getattr(settings, 'INT_SITE_URL', '').rstrip('/')}{path}"


# --- Series and scheduling --------------------------------------------------------------------


def series_create_defaults(*, team: Team) -> list[MeetingSeries]:
    """The team's two default series; an existing series of the same name is left as it is."""
    return [
        MeetingSeries.objects.get_or_create(team=team, name=spec["name"], defaults=spec)[0] for spec in DEFAULT_SERIES
    ]


def meetings_schedule_ahead(*, today: dt.date | None = None, series: MeetingSeries | None = None) -> int:
    """Create every active series' meetings for the next four weeks. Idempotent: the
    (series, slot_date) constraint makes a second run create nothing. Returns how many were made."""
    today = today or local_today()
    chosen = [series] if series is not None else list(MeetingSeries.objects.active().select_related("team"))
    new = [
        Meeting(
            series=s,
            team_id=s.team_id,
            slot_date=day,
            starts_at=s.starts_at_on(day),
            duration_minutes=s.duration_minutes,
            location=s.location,
            video_link=s.video_link,
        )
        for s in chosen
        if s.active
        for day in s.slot_dates(start=today, days=SCHEDULE_AHEAD_DAYS)
    ]
    if not new:
        return 0
    before = Meeting.objects.filter(series__in=chosen).count()
    Meeting.objects.bulk_create(new, ignore_conflicts=True)
    return Meeting.objects.filter(series__in=chosen).count() - before


@transaction.atomic
def series_save(*, series: MeetingSeries, changed: list[str]) -> int:
    """Save a series; when its day or time changed, future empty draft meetings are remade on the
    new day. Meetings with agenda items stay where they are (the coordinator moves them)."""
    series.save()
    if {"weekday", "start_time", "duration_minutes", "location", "video_link", "active"} & set(changed):
        drafts = Meeting.objects.filter(
            series=series, status=Meeting.Status.SCHEDULED, agenda_published_at__isnull=True, starts_at__gt=timezone.now()
        )
        # Locked first (see Meeting.lock), then asked again: a resident added to one of them a
        # moment ago keeps that meeting.
        locked = list(drafts.select_for_update().values_list("pk", flat=True))
        drafts.filter(pk__in=locked, items__isnull=True).delete()
    return meetings_schedule_ahead(series=series) if series.active else 0


# --- The agenda and its information packs -----------------------------------------------------


@dataclass(frozen=True)
class ServiceUseRow:
    label: str
    recent: int
    before: int

    @property
    def change(self) -> int:
        return self.recent - self.before


def _service_use_by_resident(resident_ids: list[int], today: dt.date) -> dict[int, list[ServiceUseRow]]:
    """Counts per kind for the last 90 days and the 90 before, in one grouped query."""
    if not resident_ids:
        return {}
    recent_from = today - SERVICE_USE_PERIOD
    before_from = recent_from - SERVICE_USE_PERIOD
    rows = (
        ServiceUseEvent.objects.filter(resident_id__in=resident_ids, date__gte=before_from, date__lte=today)
        .order_by()
        .values("resident_id", "kind")
        .annotate(
            recent=Count("pk", filter=Q(date__gte=recent_from)),
            before=Count("pk", filter=Q(date__lt=recent_from)),
        )
    )
    labels = dict(ServiceUseEvent.Kind.choices)
    by_resident: dict[int, list[ServiceUseRow]] = defaultdict(list)
    for row in rows:
        by_resident[row["resident_id"]].append(
            ServiceUseRow(label=labels.get(row["kind"], row["kind"]), recent=row["recent"], before=row["before"])
        )
    for found in by_resident.values():
        found.sort(key=lambda r: r.label)
    return by_resident


def agenda_items_with_packs(
    *, meeting: Meeting, with_record: bool = False, with_packs: bool = True, item_ids: list[int] | None = None
) -> list[AgendaItem]:
    """The meeting's items, each with its information pack, in a fixed number of queries:
    items (+ annotations), open actions, last discussions, their decisions, service use.
    With `with_record`, also this meeting's own decisions and actions per item (meeting screen,
    minutes); `item_ids` narrows to the items an htmx swap re-renders."""
    last_discussion = (
        AgendaItem.objects.filter(
            resident=OuterRef("resident"),
            outcome=AgendaItem.Outcome.DISCUSSED,
            meeting__team_id=meeting.team_id,
            meeting__starts_at__lt=meeting.starts_at,
        )
        .exclude(meeting_id=meeting.pk)
        .order_by("-meeting__starts_at")
        .values("pk")[:1]
    )
    prefetches: list = []
    if with_packs:
        prefetches.append(
            Prefetch(
                "resident__actions",
                queryset=Action.objects.open().select_related("owner").order_by("due_date", "pk"),
                to_attr="open_actions",
            )
        )
    if with_record:
        prefetches += [
            Prefetch("decisions", queryset=Decision.objects.select_related("signed_by", "recorded_by")),
            Prefetch("actions", queryset=Action.objects.select_related("owner").order_by("pk")),
        ]
    chosen = meeting.items.select_related("resident__key_worker", "presenter").prefetch_related(*prefetches)
    if item_ids is not None:
        chosen = chosen.filter(pk__in=item_ids)
    if not with_packs:
        return list(chosen.order_by("position"))
    items = list(chosen.annotate(last_discussion_id=Subquery(last_discussion)).order_by("position"))
    earlier_ids = {item.last_discussion_id for item in items if item.last_discussion_id}
    earlier = (
        {
            found.pk: found
            for found in AgendaItem.objects.filter(pk__in=earlier_ids)
            .select_related("meeting")
            .prefetch_related(Prefetch("decisions", queryset=Decision.objects.select_related("signed_by")))
        }
        if earlier_ids
        else {}
    )
    today = local_today()
    service_use = _service_use_by_resident([item.resident_id for item in items], today)
    for item in items:
        item.last_discussion = earlier.get(item.last_discussion_id)
        item.service_use = service_use.get(item.resident_id, [])
        item.overdue_count = sum(1 for action in item.resident.open_actions if action.due_date < today)
    return items


def agenda_total_minutes(items: list[AgendaItem]) -> int:
    return sum(item.minutes for item in items)


def presenter_choices(*, team: Team) -> list[User]:
    return list(
        User.objects.filter(memberships__team=team, memberships__role__in=roles_with(Right.VIEW_CASES))
        .order_by("full_name")
        .distinct()
    )


def action_owner_choices(*, team: Team) -> list[User]:
    """Who the "owner" list offers: the team's members whose role owns actions, and whose account
    is not switched off."""
    return list(
        User.objects.filter(memberships__team=team, memberships__role__in=roles_with(Right.OWN_ACTIONS), is_active=True)
        .order_by("full_name")
        .distinct()
    )


@dataclass
class TeamMeetings:
    team: Team
    series: list[MeetingSeries]
    upcoming: list[Meeting]
    recent: list[Meeting]
    can_build: bool


def meeting_list_by_team(*, teams: list[Team], user: User) -> list[TeamMeetings]:
    """Each team's series, next four weeks and last eight weeks, in three queries."""
    from int_app.teams.roles import has_right

    now = timezone.now()
    series_by_team: dict[int, list[MeetingSeries]] = defaultdict(list)
    for series in MeetingSeries.objects.filter(team__in=teams).order_by("weekday", "start_time"):
        series_by_team[series.team_id].append(series)
    upcoming: dict[int, list[Meeting]] = defaultdict(list)
    recent: dict[int, list[Meeting]] = defaultdict(list)
    meetings = (
        Meeting.objects.filter(team__in=teams, starts_at__gte=now - dt.timedelta(weeks=8))
        .select_related("series")
        .annotate(item_count=Count("items"))
        .order_by("starts_at")
    )
    for meeting in meetings:
        if meeting.status == Meeting.Status.SCHEDULED and meeting.ends_at >= now:
            upcoming[meeting.team_id].append(meeting)
        else:
            recent[meeting.team_id].append(meeting)
    return [
        TeamMeetings(
            team=team,
            series=series_by_team[team.pk],
            upcoming=upcoming[team.pk],
            recent=list(reversed(recent[team.pk])),
            can_build=has_right(user, team, Right.BUILD_AGENDA),
        )
        for team in teams
    ]


def attendance_rows(*, meeting: Meeting, with_forms: bool) -> list[Attendance]:
    from .forms import AttendanceForm

    # In the team's own order of roles (coordinator, expert, GP, key workers), as minutes list them.
    order = {role: index for index, role in enumerate(Role.values)}
    rows = sorted(
        meeting.attendance.select_related("user"), key=lambda row: (order.get(row.role, 99), row.user.full_name)
    )
    if with_forms:
        for row in rows:
            row.form = AttendanceForm(instance=row, prefix=f"attendance-{row.pk}")
    return rows


@transaction.atomic
def agenda_item_add(*, meeting: Meeting, resident: Resident, reason: str, by: User) -> AgendaItem:
    meeting.lock()
    meeting.ensure_agenda_editable()
    if resident.team_id != meeting.team_id:
        raise TransitionNotAllowed("That resident belongs to another team.")
    if meeting.items.filter(resident=resident).exists():
        raise TransitionNotAllowed(f"{resident} is already on this agenda.")
    if not Resident.objects.open_to_planning().filter(pk=resident.pk).exists():
        raise TransitionNotAllowed(f"{resident}'s record is restricted: it cannot go on an agenda.")
    carried_from = (
        AgendaItem.objects.filter(
            resident=resident, outcome=AgendaItem.Outcome.NOT_REACHED, meeting__starts_at__lt=meeting.starts_at
        )
        .order_by("-meeting__starts_at")
        .first()
    )
    position = (meeting.items.aggregate(last=Max("position"))["last"] or 0) + 1
    item = AgendaItem.objects.create(
        meeting=meeting,
        resident=resident,
        position=position,
        reason=reason if reason in AgendaItem.Reason.values else AgendaItem.Reason.ADDED,
        # The key worker usually presents their own resident; a new referral has none yet.
        presenter=resident.key_worker or by,
        carried_from=carried_from,
    )
    meeting.touch()
    return item


def _renumber(meeting: Meeting, ordered_ids: list[int]) -> None:
    items = {item.pk: item for item in meeting.items.all()}
    for position, pk in enumerate(ordered_ids, start=1):
        items[pk].position = position
    AgendaItem.objects.bulk_update(items.values(), ["position"])


@transaction.atomic
def agenda_item_remove(*, item: AgendaItem) -> None:
    item.lock()
    meeting = item.meeting
    meeting.ensure_agenda_editable()
    item.delete()
    _renumber(meeting, list(meeting.items.order_by("position").values_list("pk", flat=True)))
    meeting.touch()


@transaction.atomic
def agenda_item_move(*, item: AgendaItem, direction: str) -> None:
    item.lock()
    meeting = item.meeting
    meeting.ensure_agenda_editable()
    ids = list(meeting.items.order_by("position").values_list("pk", flat=True))
    index = ids.index(item.pk)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(ids):
        return  # already first or last: nothing to do
    ids[index], ids[target] = ids[target], ids[index]
    _renumber(meeting, ids)
    meeting.touch()


@transaction.atomic
def agenda_reorder(*, meeting: Meeting, item_ids: list[int]) -> None:
    meeting.lock()
    meeting.ensure_agenda_editable()
    current = list(meeting.items.order_by("position").values_list("pk", flat=True))
    if sorted(current) != sorted(item_ids):
        # The page was stale (an item added or removed elsewhere): refuse rather than guess.
        raise TransitionNotAllowed("The agenda changed since the page was loaded: reload and try again.")
    _renumber(meeting, item_ids)
    meeting.touch()


@transaction.atomic
def agenda_item_update(*, item: AgendaItem, minutes: int, presenter: User | None) -> None:
    item.lock()
    item.meeting.ensure_agenda_editable()
    item.minutes = minutes
    item.presenter = presenter
    item.save(update_fields=["minutes", "presenter"])
    item.meeting.touch()


@transaction.atomic
def agenda_publish(*, meeting: Meeting, by: User) -> None:
    """Publish: the order is frozen, attendance rows are made for the team, and the attendees are
    emailed by the worker once the transaction has committed."""
    meeting.lock()
    meeting.publish_agenda(by=by)
    members = Membership.objects.filter(team_id=meeting.team_id, role__in=roles_with(Right.VIEW_CASES))
    Attendance.objects.bulk_create(
        [Attendance(meeting=meeting, user_id=m.user_id, role=m.role) for m in members], ignore_conflicts=True
    )
    from .tasks import send_agenda

    enqueue_on_commit(send_agenda, meeting.pk)


def agenda_email_send(*, meeting_id: int) -> int:
    """Email the published agenda's notice to the attendees, once. Returns how many were sent.
    Resident details stay in the service: the email says what and when, and links to it."""
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().select_related("series", "team").get(pk=meeting_id)
        if meeting.agenda_emailed_at is not None or not meeting.agenda_published:
            return 0
        recipients = list(
            meeting.attendance.select_related("user").values_list("user__email", flat=True).order_by("user__email")
        )
        body = render_to_string(
            "meetings/email/agenda.txt",
            {
                "meeting": meeting,
                "item_count": meeting.items.count(),
                "url": site_url(reverse("meetings:agenda_print", args=[meeting.team.slug, meeting.pk])),
                "calendar_url": site_url(reverse("meetings:calendar")),
            },
        )
        if recipients:
            from .calendar import invitation_ics

            email_send(
                subject=f"Agenda published: {meeting}",
                body=body,
                to=recipients,
                # The meeting as an invitation: the same event (UID) as the members' calendar feeds.
                attachments=[("meeting.ics", invitation_ics(meeting, attendees=recipients), "text/calendar")],
            )
        meeting.agenda_emailed_at = timezone.now()
        meeting.calendar_sequence_emailed = meeting.calendar_sequence
        meeting.save(update_fields=["agenda_emailed_at", "calendar_sequence_emailed"])
    return len(recipients)


@transaction.atomic
def meeting_move(*, meeting: Meeting, starts_at: dt.datetime, duration_minutes: int) -> None:
    """Move the meeting; those already sent its invitation get the new time (calendar feeds
    follow by themselves)."""
    meeting.move(starts_at=starts_at, duration_minutes=duration_minutes)
    _invitation_update_queue(meeting)


@transaction.atomic
def meeting_cancel(*, meeting: Meeting, reason: str) -> None:
    meeting.cancel(reason=reason)
    _invitation_update_queue(meeting)


def _invitation_update_queue(meeting: Meeting) -> None:
    # An agenda not yet emailed will carry the meeting as it is by then.
    if meeting.agenda_emailed_at is not None:
        from .tasks import send_invitation_update

        enqueue_on_commit(send_invitation_update, meeting.pk)


def invitation_update_send(*, meeting_id: int) -> int:
    """Email the changed invitation to those who had the agenda, once per change. Returns how
    many were sent. Like the agenda email, it names no resident and gives no cancellation reason
    (free text that may name one)."""
    from .calendar import invitation_ics

    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().select_related("series", "team").get(pk=meeting_id)
        if meeting.agenda_emailed_at is None or meeting.calendar_sequence <= meeting.calendar_sequence_emailed:
            return 0
        recipients = list(meeting.attendance.values_list("user__email", flat=True).order_by("user__email"))
        cancelled = meeting.status == Meeting.Status.CANCELLED
        body = render_to_string(
            "meetings/email/invitation_update.txt",
            {
                "meeting": meeting,
                "cancelled": cancelled,
                "url": site_url(reverse("meetings:agenda_print", args=[meeting.team.slug, meeting.pk])),
            },
        )
        if recipients:
            email_send(
                subject=f"{'Cancelled' if cancelled else 'Moved'}: {meeting}",
                body=body,
                to=recipients,
                attachments=[("meeting.ics", invitation_ics(meeting, attendees=recipients), "text/calendar")],
            )
        meeting.calendar_sequence_emailed = meeting.calendar_sequence
        meeting.save(update_fields=["calendar_sequence_emailed"])
    return len(recipients)


# --- Recording the meeting --------------------------------------------------------------------


@transaction.atomic
def attendance_record(*, meeting: Meeting, rows: list[tuple[Attendance, str, str]]) -> None:
    meeting.lock()
    meeting.ensure_can_record()
    for row, status, deputy_name in rows:
        row.status = status
        row.deputy_name = deputy_name.strip() if status == Attendance.Status.DEPUTY else ""
    Attendance.objects.bulk_update([row for row, _, _ in rows], ["status", "deputy_name"])
    meeting.touch()


@transaction.atomic
def decision_record(*, item: AgendaItem, text: str, is_clinical: bool, by: User) -> Decision:
    item.lock()
    item.meeting.ensure_can_record()
    decision = Decision.objects.create(agenda_item=item, text=text.strip(), is_clinical=is_clinical, recorded_by=by)
    if item.outcome != AgendaItem.Outcome.DISCUSSED:
        item.outcome = AgendaItem.Outcome.DISCUSSED
        item.save(update_fields=["outcome"])
    item.meeting.touch()
    return decision


@transaction.atomic
def decision_sign(*, decision: Decision, by: User) -> None:
    decision.agenda_item.meeting.lock()
    decision.sign_off(by=by)
    decision.agenda_item.meeting.touch()


def resident_contacts_refresh(*, residents) -> int:
    """Recompute the residents' `last_contact_at` from the discussions and action updates
    themselves, for rows written in bulk (the demo) that the save handlers never saw."""
    discussed = (
        AgendaItem.objects.filter(resident=OuterRef("pk"), outcome=AgendaItem.Outcome.DISCUSSED)
        .order_by()
        .values("resident")
        .annotate(latest=Max(Least("meeting__starts_at", Value(timezone.now()))))
        .values("latest")
    )
    updated = (
        ActionUpdate.objects.filter(action__resident=OuterRef("pk"))
        .order_by()
        .values("action__resident")
        .annotate(latest=Max("at"))
        .values("latest")
    )
    return residents.update(last_contact_at=Greatest(Subquery(discussed), Subquery(updated)))


def action_owner_can_see(*, owner: User, resident: Resident) -> bool:
    return Resident.objects.visible_to(owner).filter(pk=resident.pk).exists()


@transaction.atomic
def action_create(
    *, resident: Resident, description: str, owner: User, due_date: dt.date, by: User, item: AgendaItem | None = None
) -> Action:
    """An action for a resident, owned by someone who can see that resident's case."""
    if item is not None:
        item.lock()
        item.meeting.ensure_can_record()
    if not action_owner_can_see(owner=owner, resident=resident):
        raise ValidationError(f"{owner} cannot see {resident}'s case, so cannot own an action for them.")
    action = Action.objects.create(
        resident=resident, agenda_item=item, description=description.strip(), owner=owner, due_date=due_date, created_by=by
    )
    ActionUpdate.objects.create(action=action, author=by, from_status="", to_status=action.status, comment="Created.")
    if item is not None:
        if item.outcome != AgendaItem.Outcome.DISCUSSED:
            item.outcome = AgendaItem.Outcome.DISCUSSED
            item.save(update_fields=["outcome"])
        item.meeting.touch()
    return action


@transaction.atomic
def item_timer_toggle(*, item: AgendaItem, start: bool) -> None:
    if start:
        item.start_timer()
    else:
        item.stop_timer()
    item.meeting.touch()


# --- Minutes ----------------------------------------------------------------------------------


@transaction.atomic
def minutes_publish(*, meeting: Meeting, by: User) -> None:
    meeting.lock()
    meeting.publish_minutes(by=by)
    from .outcome_summaries import outcome_summaries_create
    from .tasks import send_minutes

    enqueue_on_commit(send_minutes, meeting.pk)
    # Each resident discussed: a one-page outcome summary for their GP practice, sent on commit.
    outcome_summaries_create(meeting=meeting, by=by)


def minutes_email_send(*, meeting_id: int) -> int:
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().select_related("series", "team").get(pk=meeting_id)
        if meeting.minutes_emailed_at is not None or not meeting.minutes_published:
            return 0
        recipients = list(meeting.attendance.values_list("user__email", flat=True).order_by("user__email"))
        body = render_to_string(
            "meetings/email/minutes.txt",
            {"meeting": meeting, "url": site_url(reverse("meetings:minutes", args=[meeting.team.slug, meeting.pk]))},
        )
        if recipients:
            email_send(subject=f"Minutes published: {meeting}", body=body, to=recipients)
        meeting.minutes_emailed_at = timezone.now()
        meeting.save(update_fields=["minutes_emailed_at"])
    return len(recipients)


# Mail queued on commit normally goes within seconds; one not sent after this is queued again.
MAIL_GRACE = dt.timedelta(minutes=10)
# Older than this, a missing email is history, not news: nobody wants last month's agenda now.
MAIL_CATCH_UP_DAYS = 7


def meetings_with_unsent_mail(*, now: dt.datetime | None = None) -> tuple[list[int], list[int]]:
    """Ids of meetings whose agenda, and of those whose minutes, were published between a week and
    ten minutes ago and never emailed."""
    now = now or timezone.now()
    window = {"gte": now - dt.timedelta(days=MAIL_CATCH_UP_DAYS), "lt": now - MAIL_GRACE}
    agendas = Meeting.objects.filter(
        agenda_emailed_at__isnull=True, **{f"agenda_published_at__{k}": v for k, v in window.items()}
    ).exclude(status=Meeting.Status.CANCELLED)
    minutes = Meeting.objects.filter(
        minutes_emailed_at__isnull=True, **{f"minutes_published_at__{k}": v for k, v in window.items()}
    )
    return list(agendas.values_list("pk", flat=True)), list(minutes.values_list("pk", flat=True))


def meetings_with_unsent_invitation_updates(*, now: dt.datetime | None = None) -> list[int]:
    """Ids of meetings still to come that were moved or cancelled after their invitation went out,
    and whose update has not: sending is idempotent, so one queued a moment ago does no harm."""
    return list(
        Meeting.objects.filter(
            agenda_emailed_at__isnull=False,
            calendar_sequence__gt=F("calendar_sequence_emailed"),
            starts_at__gte=now or timezone.now(),
        ).values_list("pk", flat=True)
    )


@transaction.atomic
def minutes_addendum_add(*, meeting: Meeting, text: str, by: User, correct_summaries_of: list[AgendaItem] = ()) -> MinutesAddendum:
    """A dated correction to the minutes. The residents it concerns (`correct_summaries_of`) get a
    corrected outcome summary, marked as an addendum, sent to their practices."""
    meeting.lock()
    if not meeting.minutes_published:
        raise TransitionNotAllowed("The minutes are not published yet: correct the record itself.")
    addendum = MinutesAddendum.objects.create(meeting=meeting, text=text.strip(), author=by)
    from .outcome_summaries import outcome_summary_correct

    for item in correct_summaries_of:
        outcome_summary_correct(agenda_item=item, correction=text, by=by)
    meeting.touch()
    return addendum


# --- Actions: my actions, the weekly digest, the home page ------------------------------------


@dataclass
class ActionGroups:
    overdue: list[Action]
    this_week: list[Action]
    later: list[Action]

    @property
    def count(self) -> int:
        return len(self.overdue) + len(self.this_week) + len(self.later)


def actions_grouped(actions: list[Action], today: dt.date) -> ActionGroups:
    """Overdue first, then due by the end of this week, then later: the order a key worker
    works through them."""
    end_of_week = week_start(today) + dt.timedelta(days=6)
    groups = ActionGroups(overdue=[], this_week=[], later=[])
    for action in actions:
        if action.due_date < today:
            groups.overdue.append(action)
        elif action.due_date <= end_of_week:
            groups.this_week.append(action)
        else:
            groups.later.append(action)
    return groups


def my_actions(*, user: User, today: dt.date | None = None) -> ActionGroups:
    actions = list(
        Action.objects.visible_to(user)
        .owned_by(user)
        .open()
        .filter(resident__in=Resident.objects.visible_to(user))
        .select_related("resident__team", "agenda_item__meeting")
        .order_by("due_date", "pk")
    )
    return actions_grouped(actions, today or local_today())


def action_digest_send(*, user_id: int, week: dt.date) -> bool:
    """One digest per person per week: the DigestSent row and the email commit together, so a
    retried or repeated task sends nothing twice. Returns whether an email went out."""
    user = User.objects.get(pk=user_id)
    groups = my_actions(user=user, today=max(week, local_today()))
    if not groups.count:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=user, week=week, open_actions=groups.count)
        except IntegrityError:
            return False
        body = render_to_string(
            "meetings/email/digest.txt",
            {"user": user, "groups": groups, "week": week, "url": site_url(reverse("meetings:my_actions"))},
        )
        email_send(subject=f"Your open INT actions: week of {week:%-d %B %Y}", body=body, to=[user.email])
    return True


def action_digest_owner_ids(*, week: dt.date) -> list[int]:
    """Owners of open actions who have not had this week's digest yet."""
    already = DigestSent.objects.filter(week=week).values("user_id")
    return list(
        Action.objects.open()
        .exclude(owner_id__in=already)
        .order_by()
        .values_list("owner_id", flat=True)
        .distinct()
    )


# --- Handing on the actions of someone who left ------------------------------------------------


def actions_to_reassign(*, team: Team, owner: User) -> list[Action]:
    """The open actions of the team's residents that this person owns."""
    return list(
        Action.objects.open()
        .filter(owner=owner, resident__team=team)
        .select_related("resident")
        .order_by("due_date", "pk")
    )


def new_owner_choices(*, team: Team, leaving: User) -> list[User]:
    """Who may take the actions on: the team's active members whose role owns actions."""
    return [person for person in action_owner_choices(team=team) if person.pk != leaving.pk]


@transaction.atomic
def actions_reassign(*, assignments: list[tuple[Action, User, int]], by: User) -> int:
    """Each (action, new owner, version the form saw), all or none: if anyone changed one of the
    actions after the form was opened, the ActionConflict undoes every change made here."""
    for action, new_owner, version in assignments:
        if not action_owner_can_see(owner=new_owner, resident=action.resident):
            raise ValidationError(f"{new_owner} cannot see {action.resident}'s case, so cannot own an action for them.")
        action.edit(
            by=by,
            description=action.description,
            owner=new_owner,
            due_date=action.due_date,
            comment=f"Handed on from {action.owner}.",
            expected_version=version,
        )
    return len(assignments)


def reassign_notice_send(*, user_id: int) -> int:
    """After an account is switched off: each team where the person owns open actions, its
    coordinators get the link to hand them on. A retried task may send a notice twice; it only
    points to a page. Returns how many emails went out."""
    person = User.objects.filter(pk=user_id, is_active=False).first()
    if person is None:
        return 0
    counts = dict(
        Action.objects.open().filter(owner=person).order_by().values_list("resident__team_id").annotate(n=Count("pk"))
    )
    sent = 0
    for team in Team.objects.filter(pk__in=counts):
        coordinators = list(
            User.objects.filter(is_active=True, memberships__team=team, memberships__role__in=roles_with(Right.BUILD_AGENDA))
            .values_list("email", flat=True)
            .distinct()
        )
        if not coordinators:
            continue
        body = render_to_string(
            "meetings/email/reassign.txt",
            {
                "person": person,
                "team": team,
                "count": counts[team.pk],
                "url": site_url(reverse("meetings:reassign_actions", args=[team.slug, person.pk])),
            },
        )
        email_send(subject=f"{person.full_name}'s open actions in {team.name} need a new owner", body=body, to=coordinators)
        sent += 1
    return sent


def home_sections(*, user: User, memberships: list[Membership]) -> list[Membership]:
    """Give each of the user's memberships what the home page shows for it, in at most four
    queries: `next_meetings` and `actions_to_hand_on` (coordinators: people switched off who still
    own open actions), `open_actions` (everyone who owns actions) and `decisions_to_sign` (GPs)."""
    team_ids = [m.team_id for m in memberships]
    coordinated = [m.team_id for m in memberships if role_has_right(m.role, Right.BUILD_AGENDA)]
    meetings_by_team: dict[int, list[Meeting]] = defaultdict(list)
    if coordinated:
        for meeting in (
            Meeting.objects.filter(team_id__in=coordinated, status=Meeting.Status.SCHEDULED, starts_at__gte=timezone.now())
            .select_related("series")
            .annotate(item_count=Count("items"))
            .order_by("starts_at")[: 4 * len(coordinated)]
        ):
            if len(meetings_by_team[meeting.team_id]) < 4:
                meetings_by_team[meeting.team_id].append(meeting)
    actions_by_team: dict[int, list[Action]] = defaultdict(list)
    today = local_today()
    for action in (
        Action.objects.open()
        .owned_by(user)
        .filter(resident__in=Resident.objects.visible_to(user), resident__team_id__in=team_ids)
        .select_related("resident")
        .order_by("due_date", "pk")
    ):
        action.overdue = action.due_date < today
        actions_by_team[action.resident.team_id].append(action)
    signing = [m.team_id for m in memberships if role_has_right(m.role, Right.SIGN_CLINICAL_DECISIONS)]
    awaiting: dict[int, int] = {}
    if signing:
        awaiting = dict(
            Decision.objects.awaiting_sign_off()
            .filter(agenda_item__meeting__team_id__in=signing)
            .order_by()
            .values_list("agenda_item__meeting__team_id")
            .annotate(n=Count("pk"))
        )
    to_hand_on: dict[int, list[dict]] = defaultdict(list)
    if coordinated:
        # People switched off who still own open actions in a team this person coordinates.
        for row in (
            Action.objects.open()
            .filter(resident__team_id__in=coordinated, owner__is_active=False)
            .order_by("owner__full_name")
            .values("resident__team_id", "owner_id", "owner__full_name")
            .annotate(n=Count("pk"))
        ):
            to_hand_on[row["resident__team_id"]].append({"user_id": row["owner_id"], "name": row["owner__full_name"], "count": row["n"]})
    for membership in memberships:
        membership.actions_to_hand_on = to_hand_on.get(membership.team_id, [])
        membership.next_meetings = meetings_by_team.get(membership.team_id, [])
        membership.open_actions = actions_by_team.get(membership.team_id, [])
        membership.overdue_actions = sum(1 for action in membership.open_actions if action.overdue)
        membership.decisions_to_sign = awaiting.get(membership.team_id, 0)
    return memberships
