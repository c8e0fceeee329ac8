"""Factories for the weekly rhythm: series, meetings, agenda items, decisions, actions."""

import datetime as dt
import itertools

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from caseload.models import Resident, ServiceUseEvent
from int_app.teams.models import Membership, Team, User
from int_app.teams.roles import Right, Role
from meetings.models import Action, ActionUpdate, AgendaItem, Attendance, Decision, Meeting, MeetingSeries
from meetings.services import roles_with

from ..conftest import member
from ..factories import ResidentFactory

_source_ids = itertools.count(1)


class MeetingSeriesFactory(DjangoModelFactory):
    class Meta:
        model = MeetingSeries

    team = factory.SubFactory("tests.factories.TeamFactory")
    name = factory.Sequence(lambda n: f"Case review {n}")
    purpose = MeetingSeries.Purpose.CASE_REVIEW
    weekday = MeetingSeries.Weekday.THURSDAY
    start_time = dt.time(13, 0)
    duration_minutes = 90
    location = "Church Road Surgery, meeting room 2"


def make_meeting(
    team: Team,
    *,
    days_ahead: int = 7,
    purpose: str = MeetingSeries.Purpose.CASE_REVIEW,
    published: bool = False,
    status: str = Meeting.Status.SCHEDULED,
    series: MeetingSeries | None = None,
    duration_minutes: int = 90,
) -> Meeting:
    """A meeting of the team `days_ahead` from now (negative: in the past) at 13:00."""
    series = series or MeetingSeries.objects.filter(team=team, purpose=purpose).first() or MeetingSeriesFactory(
        team=team, purpose=purpose, duration_minutes=duration_minutes
    )
    day = timezone.localdate() + dt.timedelta(days=days_ahead)
    meeting = Meeting.objects.create(
        series=series,
        team=team,
        slot_date=day,
        starts_at=series.starts_at_on(day),
        duration_minutes=duration_minutes,
        location=series.location,
        status=status,
    )
    if published:
        coordinator = member(team, Role.COORDINATOR)
        meeting.agenda_published_at = meeting.starts_at - dt.timedelta(days=2)
        meeting.agenda_published_by = coordinator
        meeting.save(update_fields=["agenda_published_at", "agenda_published_by"])
        for membership in Membership.objects.filter(team=team, role__in=roles_with(Right.VIEW_CASES)):
            Attendance.objects.get_or_create(meeting=meeting, user=membership.user, defaults={"role": membership.role})
    return meeting


def active_resident(team: Team, *, weeks_active: int = 2, key_worker: User | None = None, **fields) -> Resident:
    """An active resident of the team, with a key worker (the social worker unless given) and consent."""
    start = timezone.localdate() - dt.timedelta(weeks=weeks_active)
    fields.setdefault("referral_date", start - dt.timedelta(days=14))
    return ResidentFactory(
        team=team,
        status=Resident.Status.ACTIVE,
        key_worker=key_worker or member(team, Role.SOCIAL_WORKER),
        intervention_start=start,
        consent_date=start,
        triaged_on=start - dt.timedelta(days=7),
        **fields,
    )


def referred_resident(team: Team, **fields) -> Resident:
    return ResidentFactory(team=team, status=Resident.Status.REFERRED, **fields)


def add_item(meeting: Meeting, resident: Resident, **fields) -> AgendaItem:
    position = meeting.items.count() + 1
    fields.setdefault("presenter", resident.key_worker)
    return AgendaItem.objects.create(meeting=meeting, resident=resident, position=position, **fields)


def discussed(resident: Resident, *, days_ago: int, team: Team | None = None) -> AgendaItem:
    """A held meeting `days_ago` at which the resident was discussed."""
    team = team or resident.team
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    meeting = Meeting.objects.filter(team=team, slot_date=day).first() or make_meeting(
        team, days_ahead=-days_ago, published=True, status=Meeting.Status.HELD
    )
    return add_item(meeting, resident, outcome=AgendaItem.Outcome.DISCUSSED)


def record_decision(item: AgendaItem, text: str = "Refer to the falls service", *, clinical: bool = False) -> Decision:
    """A decision as the meeting screen records it: the item counts as discussed."""
    AgendaItem.objects.filter(pk=item.pk).update(outcome=AgendaItem.Outcome.DISCUSSED)
    item.outcome = AgendaItem.Outcome.DISCUSSED
    return Decision.objects.create(
        agenda_item=item, text=text, is_clinical=clinical, recorded_by=member(item.meeting.team, Role.COORDINATOR)
    )


def make_action(
    resident: Resident,
    *,
    owner: User | None = None,
    due_in_days: int = 7,
    status: str = Action.Status.OPEN,
    item: AgendaItem | None = None,
    description: str = "Arrange a home visit with the occupational therapist",
) -> Action:
    owner = owner or resident.key_worker or member(resident.team, Role.SOCIAL_WORKER)
    coordinator = member(resident.team, Role.COORDINATOR)
    action = Action.objects.create(
        resident=resident,
        agenda_item=item,
        description=description,
        owner=owner,
        due_date=timezone.localdate() + dt.timedelta(days=due_in_days),
        status=status,
        cancel_reason="No longer needed" if status == Action.Status.CANCELLED else "",
        created_by=coordinator,
    )
    ActionUpdate.objects.create(action=action, author=coordinator, from_status="", to_status=status, comment="Created.")
    return action


def service_use(resident: Resident, kind: str, *, days_ago: int) -> ServiceUseEvent:
    return ServiceUseEvent.objects.create(
        resident=resident,
        kind=kind,
        date=timezone.localdate() - dt.timedelta(days=days_ago),
        source="test extract",
        source_id=f"row-{next(_source_ids)}",
    )
