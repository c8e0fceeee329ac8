"""A resident's journey: referred -> triaged (accepted or not) -> active -> stepped down -> closed.
Each move is a method that refuses an illegal move, records who and when, and adds history."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from caseload.models import JourneyRefused, Resident, ResidentEvent, StaleRecord
from int_app.teams.roles import Role

from ..conftest import member
from .factories import InterventionFactory, accepted, active, days_ago, referred, stepped_down

Status = Resident.Status


@pytest.fixture
def occupational_therapist(own_team):
    return member(own_team, Role.OCCUPATIONAL_THERAPIST)


def history(resident: Resident) -> list[str]:
    return list(resident.events.order_by("occurred_at", "recorded_at").values_list("kind", flat=True))


def test_the_coordinator_accepts_a_referral_and_allocates_a_key_worker(own_team, coordinator, occupational_therapist):
    resident = referred(own_team)
    resident.accept(key_worker=occupational_therapist, by=coordinator, on=days_ago(3))

    resident.refresh_from_db()
    assert resident.status == Status.ACCEPTED
    assert resident.key_worker == occupational_therapist
    assert (resident.triaged_on, resident.triaged_by) == (days_ago(3), coordinator)
    accepted_event = resident.events.get(kind=ResidentEvent.Kind.ACCEPTED)
    assert accepted_event.by == coordinator
    assert accepted_event.occurred_at.date() == days_ago(3)
    assert occupational_therapist.full_name in accepted_event.detail


def test_the_key_worker_must_hold_a_key_worker_role_in_the_residents_team(own_team, other_team, coordinator):
    resident = referred(own_team)
    for not_a_key_worker in (member(own_team, Role.GP), member(other_team, Role.SOCIAL_WORKER)):
        with pytest.raises(JourneyRefused, match="not a key worker"):
            resident.accept(key_worker=not_a_key_worker, by=coordinator)
    resident.refresh_from_db()
    assert resident.status == Status.REFERRED and resident.key_worker is None
    assert not resident.events.exists()


def test_a_referral_not_accepted_keeps_the_reason_and_is_no_longer_open(own_team, coordinator):
    resident = referred(own_team)
    resident.not_accept(reason=Resident.NotAcceptedReason.NEEDS_MET_ELSEWHERE, detail="District nurses visit daily", by=coordinator)

    resident.refresh_from_db()
    assert resident.status == Status.NOT_ACCEPTED
    assert not resident.is_open
    assert resident.not_accepted_detail == "District nurses visit daily"
    assert "Needs already met" in resident.events.get().detail


def test_other_as_the_reason_needs_the_words(own_team, coordinator):
    resident = referred(own_team)
    with pytest.raises(JourneyRefused, match="Say why"):
        resident.not_accept(reason=Resident.NotAcceptedReason.OTHER, detail=" ", by=coordinator)


def test_the_whole_journey_writes_the_history_in_order(own_team, coordinator, occupational_therapist):
    resident = referred(own_team, referred_days_ago=100)
    resident.accept(key_worker=occupational_therapist, by=coordinator, on=days_ago(95))
    resident.record_consent(on=days_ago(94), method=Resident.ConsentMethod.TELEPHONE, by=occupational_therapist)
    resident.start_intervention(on=days_ago(90), by=occupational_therapist)
    resident.step_down(
        on=days_ago(10), outcome=Resident.StepDownOutcome.GOALS_MET, feedback_score=4, feedback_comment="Much better", by=occupational_therapist
    )
    resident.close(on=days_ago(2), by=coordinator)

    resident.refresh_from_db()
    assert resident.status == Status.CLOSED
    assert (resident.intervention_start, resident.stepped_down_on, resident.closed_on) == (days_ago(90), days_ago(10), days_ago(2))
    assert (resident.feedback_score, resident.consent_recorded_by) == (4, occupational_therapist)
    assert history(resident) == ["accepted", "consent_recorded", "intervention_started", "stepped_down", "closed"]
    assert resident.version == 6


ILLEGAL = [
    # (stage the resident is at, the move tried)
    (referred, "start"),
    (referred, "step_down"),
    (referred, "close"),
    (accepted, "accept"),
    (accepted, "not_accept"),
    (accepted, "step_down"),
    (accepted, "close"),
    (active, "accept"),
    (active, "start"),
    (active, "close"),
    (stepped_down, "start"),
    (stepped_down, "step_down"),
    (stepped_down, "accept"),
]


def attempt(resident: Resident, move: str, team) -> None:
    coordinator = member(team, Role.COORDINATOR)
    key_worker = member(team, Role.SOCIAL_WORKER)
    today = datetime.date.today()
    {
        "accept": lambda: resident.accept(key_worker=key_worker, by=coordinator),
        "not_accept": lambda: resident.not_accept(reason="declined", by=coordinator),
        "start": lambda: resident.start_intervention(on=today, by=key_worker),
        "step_down": lambda: resident.step_down(on=today, outcome="goals_met", by=key_worker),
        "close": lambda: resident.close(on=today, by=coordinator),
    }[move]()


@pytest.mark.parametrize(("stage", "move"), ILLEGAL, ids=[f"{s.__name__}-{m}" for s, m in ILLEGAL])
def test_an_illegal_move_is_refused_and_changes_nothing(own_team, stage, move):
    resident = stage(own_team)
    before = (resident.status, resident.version, resident.events.count())
    with pytest.raises(JourneyRefused, match="cannot be"):
        attempt(resident, move, own_team)
    resident.refresh_from_db()
    assert (resident.status, resident.version, resident.events.count()) == before


def test_a_closed_or_not_accepted_case_cannot_move_at_all(own_team, coordinator):
    not_accepted = referred(own_team)
    not_accepted.not_accept(reason="declined", by=coordinator)
    closed = stepped_down(own_team)
    closed.close(on=closed.stepped_down_on, by=coordinator)
    for resident in (not_accepted, closed):
        for move in ("accept", "not_accept", "start", "step_down", "close"):
            with pytest.raises(JourneyRefused):
                attempt(resident, move, own_team)


def test_dates_cannot_be_in_the_future_or_before_the_previous_step(own_team, occupational_therapist):
    resident = accepted(own_team)
    with pytest.raises(JourneyRefused, match="future"):
        resident.start_intervention(on=days_ago(-1), by=occupational_therapist)
    with pytest.raises(JourneyRefused, match="before the triage date"):
        resident.start_intervention(on=resident.triaged_on - datetime.timedelta(days=1), by=occupational_therapist)


def test_consent_is_recorded_once_with_how_it_was_obtained(own_team, occupational_therapist):
    resident = active(own_team, consent=False)
    assert resident.needs_consent
    resident.record_consent(on=days_ago(1), method=Resident.ConsentMethod.WRITTEN, by=occupational_therapist)
    assert not resident.needs_consent
    with pytest.raises(JourneyRefused, match="already recorded"):
        resident.record_consent(on=days_ago(0), method=Resident.ConsentMethod.WRITTEN, by=occupational_therapist)
    with pytest.raises(JourneyRefused, match="how consent"):
        active(own_team, consent=False).record_consent(on=days_ago(0), method="telepathy", by=occupational_therapist)


def test_feedback_is_a_score_from_one_to_five(own_team):
    resident = active(own_team)
    for score in (0, 6):
        with pytest.raises(JourneyRefused, match="1 to 5"):
            resident.step_down(on=days_ago(0), outcome="goals_met", feedback_score=score, by=resident.key_worker)


def test_a_stale_copy_is_refused_when_someone_else_saved_first(own_team, coordinator):
    mine = referred(own_team)
    theirs = Resident.objects.get(pk=mine.pk)
    theirs.not_accept(reason="declined", by=coordinator)

    with pytest.raises(StaleRecord, match="Someone else changed"):
        mine.accept(key_worker=member(own_team, Role.SOCIAL_WORKER), by=coordinator)
    mine.refresh_from_db()
    assert mine.status == Status.NOT_ACCEPTED
    assert mine.events.count() == 1


def test_a_refusal_is_a_validation_error_forms_can_show(own_team):
    assert issubclass(JourneyRefused, ValidationError)


def test_the_support_plan_holds_goals_and_interventions_from_the_teams_directory(own_team, other_team, occupational_therapist):
    resident = active(own_team)
    goal = resident.add_goal(text="Walk to the shops again", by=occupational_therapist)
    goal.set_status("in_progress", by=occupational_therapist)
    lunch, benefits = InterventionFactory(team=own_team, name="Lunch club"), InterventionFactory(team=own_team, name="Benefits advice")

    added, removed = resident.choose_interventions([lunch, benefits], by=occupational_therapist)
    assert {i.name for i in added} == {"Lunch club", "Benefits advice"} and removed == []
    added, removed = resident.choose_interventions([lunch], by=occupational_therapist)
    assert added == [] and [i.name for i in removed] == ["Benefits advice"]
    assert [p.intervention.name for p in resident.planned_interventions.all()] == ["Lunch club"]

    with pytest.raises(JourneyRefused, match="your team's directory"):
        resident.choose_interventions([InterventionFactory(team=other_team)], by=occupational_therapist)
    assert history(resident)[-4:] == ["goal_added", "goal_updated", "plan_interventions_changed", "plan_interventions_changed"]


def test_the_plan_is_kept_only_while_the_case_is_accepted_or_active(own_team, coordinator):
    for resident in (referred(own_team), stepped_down(own_team)):
        with pytest.raises(JourneyRefused, match="support plan"):
            resident.add_goal(text="Anything", by=coordinator)


def test_one_open_episode_per_nhs_number_is_enforced_by_the_database(own_team, other_team):
    from django.db import IntegrityError, transaction

    first = referred(own_team)
    with pytest.raises(IntegrityError), transaction.atomic():
        referred(other_team, nhs_number=first.nhs_number)
