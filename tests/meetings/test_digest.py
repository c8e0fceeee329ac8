"""The weekly digest: each owner of open actions gets one email a week, however often beat runs."""

import datetime as dt
import zoneinfo

import time_machine

from int_app.teams.roles import Role
from meetings.models import DigestSent
from meetings.tasks import send_action_digests

from ..conftest import member
from .factories import active_resident, make_action

LONDON = zoneinfo.ZoneInfo("Europe/London")
MONDAY = dt.date(2026, 12, 7)


def monday_morning(hour: int) -> dt.datetime:
    return dt.datetime.combine(MONDAY, dt.time(hour, 5), tzinfo=LONDON)


@time_machine.travel(monday_morning(8), tick=False)
def test_each_owner_of_open_actions_gets_one_digest_a_week(own_team, mailoutbox):
    resident = active_resident(own_team)
    social_worker = member(own_team, Role.SOCIAL_WORKER)
    ot = member(own_team, Role.OCCUPATIONAL_THERAPIST)
    make_action(resident, owner=social_worker, due_in_days=-2, description="Overdue visit")
    make_action(resident, owner=social_worker, due_in_days=20, description="Later review")
    make_action(resident, owner=ot, status="done", description="Finished already")
    assert send_action_digests() == 1
    assert send_action_digests() == 0
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == [social_worker.email]
    assert "Overdue visit" in email.body and "Later review" in email.body
    assert email.body.index("Overdue:") < email.body.index("Later:")
    assert DigestSent.objects.get().user == social_worker


@time_machine.travel(monday_morning(5), tick=False)
def test_the_digest_waits_for_monday_morning(own_team, mailoutbox):
    make_action(active_resident(own_team), due_in_days=3)
    assert send_action_digests() == 0
    assert mailoutbox == []


@time_machine.travel(dt.datetime(2026, 12, 13, 23, 30, tzinfo=LONDON), tick=False)
def test_a_sunday_night_run_sends_the_digest_of_the_week_that_began_on_monday(own_team, mailoutbox):
    make_action(active_resident(own_team), due_in_days=1)
    assert send_action_digests() == 1
    assert DigestSent.objects.get().week == MONDAY


@time_machine.travel(monday_morning(9), tick=False)
def test_a_repeated_task_for_the_same_person_and_week_sends_nothing_twice(own_team, mailoutbox):
    from meetings.tasks import send_action_digest

    action = make_action(active_resident(own_team), due_in_days=3)
    week = MONDAY.isoformat()
    assert send_action_digest(action.owner_id, week) is True
    assert send_action_digest(action.owner_id, week) is False
    assert len(mailoutbox) == 1
