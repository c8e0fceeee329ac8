"""Residents at each stage of the journey, moved there through the journey's own methods so
their history is as the app would have written it."""

import datetime

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from caseload.models import Intervention, Resident, ServiceUseEvent
from int_app.teams.models import Team, User
from int_app.teams.roles import Role

from ..factories import ResidentFactory


def days_ago(days: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days)


def team_member(team: Team, role: str) -> User:
    """The team's member in this role; someone a test world invited (tests/teams/access_rows.py)
    is not the role's member, as in tests.access.World.member."""
    return team.memberships.select_related("user").filter(user__invitations__isnull=True).get(role=role).user


def referred(team: Team, *, referred_days_ago: int = 90, **fields) -> Resident:
    return ResidentFactory(team=team, referral_date=days_ago(referred_days_ago), **fields)


def accepted(team: Team, *, key_worker: User | None = None, **fields) -> Resident:
    resident = referred(team, **fields)
    resident.accept(
        key_worker=key_worker or team_member(team, Role.OCCUPATIONAL_THERAPIST),
        by=team_member(team, Role.COORDINATOR),
        on=resident.referral_date + datetime.timedelta(days=7),
    )
    return resident


def active(team: Team, *, consent: bool = True, **fields) -> Resident:
    resident = accepted(team, **fields)
    key_worker = resident.key_worker
    resident.start_intervention(on=resident.triaged_on + datetime.timedelta(days=7), by=key_worker)
    if consent:
        resident.record_consent(on=resident.intervention_start, method=Resident.ConsentMethod.IN_PERSON, by=key_worker)
    return resident


def stepped_down(team: Team, **fields) -> Resident:
    resident = active(team, **fields)
    resident.step_down(
        on=resident.intervention_start + datetime.timedelta(days=30),
        outcome=Resident.StepDownOutcome.GOALS_MET,
        feedback_score=5,
        feedback_comment="They listened.",
        by=resident.key_worker,
    )
    return resident


class InterventionFactory(DjangoModelFactory):
    class Meta:
        model = Intervention

    name = factory.Sequence(lambda n: f"Intervention {n}")
    provider = "Neighbourhood Voluntary Action"
    category = Intervention.Category.SOCIAL
    contact = "0121 000 0000"
    eligibility = "Over 65, living alone"


class ServiceUseFactory(DjangoModelFactory):
    class Meta:
        model = ServiceUseEvent

    date = factory.LazyFunction(lambda: days_ago(30))
    kind = ServiceUseEvent.Kind.AE_ATTENDANCE
    source = "BHAM-ED"
    source_id = factory.Sequence(lambda n: f"ED-{n:08d}")
