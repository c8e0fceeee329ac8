"""The agenda page proposes residents under the headings a coordinator works through."""


import datetime as dt

from django.urls import reverse
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from meetings.models import AgendaItem, Meeting, MeetingSeries
from meetings.suggestions import agenda_suggestions

from ..factories import ResidentFactory
from .factories import (
    active_resident,
    add_item,
    discussed,
    make_action,
    make_meeting,
    referred_resident,
    service_use,
)


def suggested(meeting: Meeting) -> dict[str, list[str]]:
    return {group.reason: [s.resident.full_name for s in group.suggestions] for group in agenda_suggestions(meeting=meeting)}


def test_a_new_referral_is_suggested_for_triage(own_team):
    resident = referred_resident(own_team, given_name="Olive", family_name="Triage")
    meeting = make_meeting(own_team, purpose=MeetingSeries.Purpose.TRIAGE)
    assert suggested(meeting)[AgendaItem.Reason.NEW_REFERRAL] == [resident.full_name]


def test_an_active_resident_not_discussed_for_four_weeks_is_due_review(own_team):
    due = active_resident(own_team, family_name="Due", weeks_active=8)
    discussed(due, days_ago=35)
    recent = active_resident(own_team, family_name="Recent", weeks_active=8)
    discussed(recent, days_ago=7)
    never = active_resident(own_team, family_name="Never", weeks_active=1)
    meeting = make_meeting(own_team, days_ahead=2)
    assert sorted(suggested(meeting)[AgendaItem.Reason.DUE_REVIEW]) == sorted([due.full_name, never.full_name])


def test_a_resident_with_an_overdue_action_is_suggested(own_team):
    late = active_resident(own_team, family_name="Late")
    discussed(late, days_ago=3)  # so they are not "due review" instead
    make_action(late, due_in_days=-2)
    on_time = active_resident(own_team, family_name="OnTime")
    discussed(on_time, days_ago=3)
    make_action(on_time, due_in_days=30, status="done")
    meeting = make_meeting(own_team, days_ahead=2)
    headings = suggested(meeting)
    assert headings[AgendaItem.Reason.OVERDUE_ACTIONS] == [late.full_name]
    assert on_time.full_name not in sum(headings.values(), [])


def test_open_actions_come_back_on_the_next_agenda_until_they_are_done(own_team):
    resident = active_resident(own_team, family_name="Open")
    discussed(resident, days_ago=3)
    action = make_action(resident, due_in_days=20)
    meeting = make_meeting(own_team, days_ahead=2)
    assert suggested(meeting)[AgendaItem.Reason.OPEN_ACTIONS] == [resident.full_name]
    action.status = "done"
    action.save()
    assert suggested(meeting)[AgendaItem.Reason.OPEN_ACTIONS] == []


def test_two_ae_attendances_or_an_emergency_admission_in_30_days_are_suggested(own_team):
    two_ae = active_resident(own_team, family_name="TwoAE")
    one_ae = active_resident(own_team, family_name="OneAE")
    admitted = active_resident(own_team, family_name="Admitted")
    long_ago = active_resident(own_team, family_name="LongAgo")
    for resident in (two_ae, one_ae, admitted, long_ago):
        discussed(resident, days_ago=3)
    service_use(two_ae, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=3)
    service_use(two_ae, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=20)
    service_use(one_ae, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=3)
    service_use(admitted, ServiceUseEvent.Kind.EMERGENCY_ADMISSION, days_ago=10)
    service_use(long_ago, ServiceUseEvent.Kind.EMERGENCY_ADMISSION, days_ago=45)
    service_use(long_ago, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=40)
    meeting = make_meeting(own_team, days_ahead=2)
    assert sorted(suggested(meeting)[AgendaItem.Reason.SERVICE_USE]) == sorted([two_ae.full_name, admitted.full_name])


def test_a_resident_active_for_twelve_weeks_is_a_step_down_candidate(own_team):
    long_term = active_resident(own_team, family_name="LongTerm", weeks_active=13)
    newer = active_resident(own_team, family_name="Newer", weeks_active=6)
    for resident in (long_term, newer):
        discussed(resident, days_ago=3)
    meeting = make_meeting(own_team, days_ahead=2)
    assert suggested(meeting)[AgendaItem.Reason.STEP_DOWN] == [long_term.full_name]


def test_a_resident_not_reached_last_time_is_carried_forward_until_discussed(own_team):
    resident = active_resident(own_team, family_name="Missed")
    discussed(resident, days_ago=10)
    last = make_meeting(own_team, days_ahead=-3, published=True, status=Meeting.Status.HELD)
    add_item(last, resident, outcome=AgendaItem.Outcome.NOT_REACHED)
    meeting = make_meeting(own_team, days_ahead=2)
    assert suggested(meeting)[AgendaItem.Reason.NOT_REACHED] == [resident.full_name]

    discussed_since = make_meeting(own_team, days_ahead=-1, published=True, status=Meeting.Status.HELD)
    add_item(discussed_since, resident, outcome=AgendaItem.Outcome.DISCUSSED)
    assert suggested(meeting)[AgendaItem.Reason.NOT_REACHED] == []


def test_a_resident_is_listed_once_with_their_other_reasons_beside_them(own_team):
    resident = active_resident(own_team, family_name="Many", weeks_active=14)
    make_action(resident, due_in_days=-1)
    meeting = make_meeting(own_team, days_ahead=2)
    groups = agenda_suggestions(meeting=meeting)
    appearances = [s for g in groups for s in g.suggestions if s.resident == resident]
    assert len(appearances) == 1
    assert appearances[0].reason == AgendaItem.Reason.OVERDUE_ACTIONS
    assert set(appearances[0].other_reasons) == {AgendaItem.Reason.OPEN_ACTIONS, AgendaItem.Reason.DUE_REVIEW, AgendaItem.Reason.STEP_DOWN}


def test_residents_on_the_agenda_closed_or_of_another_team_are_not_suggested(own_team, other_team):
    on_agenda = referred_resident(own_team, family_name="Already")
    ResidentFactory(team=own_team, status=Resident.Status.CLOSED, family_name="Closed", closed_on=timezone.localdate())
    theirs = referred_resident(other_team, family_name="Theirs")
    meeting = make_meeting(own_team, days_ahead=2)
    add_item(meeting, on_agenda)
    everyone = sum(suggested(meeting).values(), [])
    assert everyone == []
    assert theirs.full_name not in everyone


def test_the_coordinator_sees_the_headings_on_the_agenda_page(client, coordinator, own_team):
    referred_resident(own_team, given_name="Winifred", family_name="Newcome")
    meeting = make_meeting(own_team, days_ahead=3, purpose=MeetingSeries.Purpose.TRIAGE)
    client.force_login(coordinator)
    page = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
    for heading in (
        "New referrals awaiting triage",
        "Active residents due review",
        "Residents with overdue actions",
        "2 or more A&amp;E attendances or an emergency admission in the last 30 days",
        "Step-down candidates",
        "Not reached at the last meeting",
    ):
        assert heading in page
    assert "Winifred Newcome" in page


def test_beside_each_name_the_coordinator_sees_why_they_are_suggested(own_team):
    today = timezone.localdate()

    def day(days_ago: int) -> str:
        return f"{today - dt.timedelta(days=days_ago):%-d %b %Y}"

    referred_resident(own_team, family_name="Referral", referral_date=today - dt.timedelta(days=4), referral_source=Resident.ReferralSource.GP)
    late = active_resident(own_team, family_name="Late")
    discussed(late, days_ago=3)
    make_action(late, due_in_days=-2)
    make_action(late, due_in_days=-1)
    coming_back = active_resident(own_team, family_name="ComingBack")
    discussed(coming_back, days_ago=3)
    make_action(coming_back, due_in_days=20)
    busy = active_resident(own_team, family_name="Busy")
    discussed(busy, days_ago=3)
    for days_ago in (2, 9):
        service_use(busy, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=days_ago)
    service_use(busy, ServiceUseEvent.Kind.EMERGENCY_ADMISSION, days_ago=12)
    overdue_review = active_resident(own_team, family_name="Review")
    discussed(overdue_review, days_ago=35)
    active_resident(own_team, family_name="Newcomer")
    long_term = active_resident(own_team, family_name="LongTerm", weeks_active=13)
    discussed(long_term, days_ago=3)
    missed = active_resident(own_team, family_name="Missed")
    discussed(missed, days_ago=10)
    add_item(make_meeting(own_team, days_ahead=-5, published=True, status=Meeting.Status.HELD), missed, outcome=AgendaItem.Outcome.NOT_REACHED)

    meeting = make_meeting(own_team, days_ahead=2)
    beside = {s.resident.family_name: (s.reason, s.detail) for g in agenda_suggestions(meeting=meeting) for s in g.suggestions}
    Reason = AgendaItem.Reason
    assert beside == {
        "Referral": (Reason.NEW_REFERRAL, f"Referred {day(4)} by GP"),
        "Late": (Reason.OVERDUE_ACTIONS, "2 overdue actions"),
        "ComingBack": (Reason.OPEN_ACTIONS, "1 open action"),
        "Busy": (Reason.SERVICE_USE, "2 A&E attendances and 1 emergency admission in 30 days"),
        "Review": (Reason.DUE_REVIEW, f"Last discussed {day(35)}"),
        "Newcomer": (Reason.DUE_REVIEW, "Not discussed yet"),
        "LongTerm": (Reason.STEP_DOWN, f"Active since {day(13 * 7)} (13 weeks)"),
        "Missed": (Reason.NOT_REACHED, f"Not reached on {day(5)}"),
    }


def test_a_long_heading_lists_the_first_eight_and_says_how_many_more_there_are(client, coordinator, own_team):
    for n in range(11):
        referred_resident(own_team, family_name=f"Waiting{n:02d}", referral_date=timezone.localdate() - dt.timedelta(days=30 - n))
    meeting = make_meeting(own_team, days_ahead=2, purpose=MeetingSeries.Purpose.TRIAGE)
    referrals = next(g for g in agenda_suggestions(meeting=meeting) if g.reason == AgendaItem.Reason.NEW_REFERRAL)
    assert [s.resident.family_name for s in referrals.suggestions] == [f"Waiting{n:02d}" for n in range(8)], "longest waiting first"
    assert (referrals.total, referrals.hidden) == (11, 3)
    client.force_login(coordinator)
    assert "And 3 more: search for them below." in client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
