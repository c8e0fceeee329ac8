"""Two people change one meeting, or one action, at the same moment: the changes queue on the
meeting (or the action), and whoever comes second sees what the first did, never a half-applied
mix of both.

Each race is run for real, on two database connections: the first request runs and keeps its
transaction open, as if it were still writing; the second starts, and only once it is waiting on
a lock does the first commit."""

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from meetings.models import Action, AgendaItem, Meeting
from meetings.services import meetings_schedule_ahead, series_create_defaults

from .factories import active_resident, add_item, make_action, make_meeting

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 20


def _a_request_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def race(
    first: Callable[[], HttpResponse],
    second: Callable[[], HttpResponse],
    *,
    while_second_waits: Callable[[], object] | None = None,
) -> tuple[HttpResponse, HttpResponse, object]:
    """`first` runs and holds its transaction; `second` starts while it does. Once `second` waits
    on a lock (or has finished without waiting), `while_second_waits` looks at what is committed,
    then `first` commits and `second` finishes. Returns both responses and what was seen."""
    first_has_written, first_may_commit = threading.Event(), threading.Event()

    def hold_first() -> HttpResponse:
        try:
            with transaction.atomic():
                response = first()
                first_has_written.set()
                first_may_commit.wait(WAIT_SECONDS)
            return response
        finally:
            first_has_written.set()
            connection.close()  # each thread has a connection of its own

    def run_second() -> HttpResponse:
        try:
            return second()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first_response = pool.submit(hold_first)
        assert first_has_written.wait(WAIT_SECONDS)
        second_response = pool.submit(run_second)
        deadline = time.monotonic() + WAIT_SECONDS
        while not second_response.done() and not _a_request_waits_for_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)
        seen = while_second_waits() if while_second_waits else None
        first_may_commit.set()
        return first_response.result(WAIT_SECONDS), second_response.result(WAIT_SECONDS), seen


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def meeting(own_team) -> Meeting:
    return make_meeting(own_team, days_ahead=0, published=True)


@pytest.fixture
def waiting(meeting, own_team) -> AgendaItem:
    return add_item(meeting, active_resident(own_team, given_name="Wendy", family_name="Waiting"))


def test_the_meeting_ends_once_when_end_is_pressed_on_two_screens(coordinator, meeting, waiting):
    laptop, tablet = signed_in(coordinator), signed_in(coordinator)
    version = meeting.version
    end = reverse("meetings:meeting_end", args=[meeting.team.slug, meeting.pk])
    first, second, _ = race(lambda: laptop.post(end, follow=True), lambda: tablet.post(end, follow=True))
    assert "Meeting ended. 1 item not reached" in first.text
    assert "This meeting is already held." in second.text
    assert "Meeting ended." not in second.text
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.HELD and meeting.version == version + 1


@pytest.mark.parametrize(
    ("first_press", "refusal", "final_status"),
    [
        ("cancel", "This meeting is already cancelled.", Meeting.Status.CANCELLED),
        ("end", "Only a scheduled meeting can be cancelled; this one is held.", Meeting.Status.HELD),
    ],
)
def test_a_meeting_cancelled_while_it_is_ended_is_one_or_the_other(coordinator, meeting, waiting, first_press, refusal, final_status):
    laptop, tablet = signed_in(coordinator), signed_in(coordinator)
    def cancel(client: Client) -> HttpResponse:
        return client.post(reverse("meetings:meeting_cancel", args=[meeting.team.slug, meeting.pk]), {"reason": "The GP is off sick"}, follow=True)

    def end(client: Client) -> HttpResponse:
        return client.post(reverse("meetings:meeting_end", args=[meeting.team.slug, meeting.pk]), follow=True)

    presses = (cancel, end) if first_press == "cancel" else (end, cancel)
    _first, second, _ = race(lambda: presses[0](laptop), lambda: presses[1](tablet))
    assert refusal in second.text
    meeting.refresh_from_db()
    assert meeting.status == final_status
    assert (meeting.ended_at is None) == (final_status == Meeting.Status.CANCELLED)
    waiting.refresh_from_db()
    assert waiting.outcome == AgendaItem.Outcome.NOT_REACHED


def test_notes_saved_as_the_meeting_ends_wait_for_the_end_and_are_kept(coordinator, meeting, waiting, own_team):
    discussed = add_item(meeting, active_resident(own_team, family_name="Discussed"), outcome=AgendaItem.Outcome.DISCUSSED)
    laptop, tablet = signed_in(coordinator), signed_in(coordinator)
    version = meeting.version
    first, second, seen = race(
        lambda: laptop.post(reverse("meetings:meeting_end", args=[meeting.team.slug, meeting.pk]), follow=True),
        lambda: tablet.post(
            reverse("meetings:item_notes", args=[discussed.meeting.team.slug, discussed.pk]), {f"notes-{discussed.pk}-notes": "Carer's assessment booked."}, follow=True
        ),
        while_second_waits=lambda: AgendaItem.objects.get(pk=discussed.pk).notes,
    )
    assert seen == "", "the notes are not written while the meeting is being ended"
    assert "Meeting ended. 1 item not reached" in first.text
    assert f"Notes saved for {discussed.resident}." in second.text
    discussed.refresh_from_db()
    waiting.refresh_from_db()
    assert (discussed.notes, discussed.outcome) == ("Carer's assessment booked.", AgendaItem.Outcome.DISCUSSED)
    assert waiting.outcome == AgendaItem.Outcome.NOT_REACHED
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.HELD and meeting.version == version + 2


def test_notes_saved_as_the_minutes_are_published_are_refused(coordinator, meeting, own_team):
    discussed = add_item(meeting, active_resident(own_team, family_name="Discussed"), outcome=AgendaItem.Outcome.DISCUSSED)
    meeting.end()
    laptop, tablet = signed_in(coordinator), signed_in(coordinator)
    _first, second, _ = race(
        lambda: laptop.post(reverse("meetings:minutes_publish", args=[meeting.team.slug, meeting.pk]), follow=True),
        lambda: tablet.post(
            reverse("meetings:item_notes", args=[discussed.meeting.team.slug, discussed.pk]), {f"notes-{discussed.pk}-notes": "Added after the minutes."}, follow=True
        ),
    )
    assert "The minutes are published and locked" in second.text
    discussed.refresh_from_db()
    assert discussed.notes == ""


def test_an_action_cancelled_while_its_owner_marks_it_done_shows_the_owner_both_versions(coordinator, social_worker, own_team):
    action = make_action(active_resident(own_team), owner=social_worker, description="Ring the daughter about respite care")
    status = reverse("meetings:action_status", args=[action.resident.team.slug, action.pk])
    _first, second, _ = race(
        lambda: signed_in(coordinator).post(status, {"to": "cancelled", "comment": "Moved to a care home", "version": 1}),
        lambda: signed_in(social_worker).post(status, {"to": "done", "comment": "Respite booked", "version": 1}),
    )
    assert second.status_code == 409
    assert "Someone else changed this action while you had it open" in second.text
    theirs = second.text.split('app-conflict__theirs">')[1].split("<")[0]
    yours = second.text.split('app-conflict__yours">')[1].split("<")[0]
    assert (theirs, yours) == ("Cancelled", "Done")
    action.refresh_from_db()
    assert (action.status, action.version, action.updates.count()) == (Action.Status.CANCELLED, 2, 2)


# A Monday morning, so every Tuesday meeting made is still to come and moves with the series.
@time_machine.travel(dt.datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("Europe/London")), tick=True)
def test_a_resident_added_as_the_series_moves_to_another_day_keeps_their_meeting(coordinator, own_team):
    triage, _ = series_create_defaults(team=own_team)
    meetings_schedule_ahead()
    next_one = Meeting.objects.filter(series=triage, starts_at__gt=timezone.now() + dt.timedelta(days=1)).order_by("starts_at").first()
    resident = active_resident(own_team, family_name="Added")
    agenda_page, series_page = signed_in(coordinator), signed_in(coordinator)
    _first, second, _ = race(
        lambda: agenda_page.post(reverse("meetings:agenda_add", args=[next_one.team.slug, next_one.pk]), {"resident": resident.pk, "reason": "added"}),
        lambda: series_page.post(
            reverse("meetings:series_edit", args=[triage.team.slug, triage.pk]),
            {"name": triage.name, "purpose": "triage", "weekday": 0, "start_time": "09:30", "duration_minutes": 60, "location": "Room 1", "active": "on"},
        ),
    )
    assert second.status_code == 302
    assert next_one.items.get().resident == resident
    assert {m.slot_date.weekday() for m in Meeting.objects.filter(series=triage).exclude(pk=next_one.pk)} == {0}
