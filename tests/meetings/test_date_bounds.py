"""Meetings are held within two years of today and actions fall due within two years: an absurd
date is refused with a message, the database holds a fixed range by named constraints, and the
meeting pages survive a meeting stored at the very end of the calendar."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from meetings.models import Action, Meeting

from .factories import active_resident, add_item, make_action, make_meeting

LONDON = ZoneInfo("Europe/London")
TODAY = dt.date(2027, 3, 10)


@pytest.fixture(autouse=True)
def _a_wednesday_in_march_2027():
    with time_machine.travel(dt.datetime(2027, 3, 10, 10, 30, tzinfo=LONDON), tick=False):
        yield


def move(client, meeting: Meeting, day: str):
    return client.post(reverse("meetings:meeting_move", args=[meeting.team.slug, meeting.pk]), {"date": day, "start_time": "13:30", "duration_minutes": 60})


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("9999-12-31", "The meeting date must be on or before 10 March 2029."),
        ("2029-03-11", "The meeting date must be on or before 10 March 2029."),
        ("0001-01-01", "The meeting date must be on or after 10 March 2025."),
    ],
)
def test_a_meeting_moved_to_an_absurd_date_is_refused_and_stays_where_it_was(client, coordinator, own_team, day, message):
    meeting = make_meeting(own_team, days_ahead=5)
    client.force_login(coordinator)
    response = move(client, meeting, day)
    assert response.status_code == 200 and message in response.text
    stored = Meeting.objects.get(pk=meeting.pk)
    assert (stored.starts_at, stored.moved_from) == (meeting.starts_at, None)
    assert client.get(reverse("meetings:meeting_list")).status_code == 200


def test_a_meeting_moves_to_the_last_day_two_years_ahead(client, coordinator, own_team):
    meeting = make_meeting(own_team, days_ahead=5)
    client.force_login(coordinator)
    assert move(client, meeting, "2029-03-10").status_code == 302
    meeting.refresh_from_db()
    assert meeting.starts_at == dt.datetime(2029, 3, 10, 13, 30, tzinfo=LONDON)


def test_on_29_february_two_years_ahead_is_28_february(client, coordinator, own_team):
    with time_machine.travel(dt.datetime(2028, 2, 29, 9, 0, tzinfo=LONDON), tick=False):
        meeting = make_meeting(own_team, days_ahead=5)
        client.force_login(coordinator)
        assert "on or before 28 February 2030" in move(client, meeting, "2030-03-01").text
        assert move(client, meeting, "2030-02-28").status_code == 302


@pytest.fixture
def item(own_team):
    return add_item(make_meeting(own_team, days_ahead=0, published=True), active_resident(own_team))


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("9999-12-31", "The due date must be on or before 10 March 2029."),
        ("2029-03-11", "The due date must be on or before 10 March 2029."),
        ("1999-12-31", "The due date must be on or after 1 January 2000."),
        ("2027-03-09", "The due date cannot be in the past."),
    ],
)
def test_an_action_due_on_an_absurd_date_is_refused_and_not_made(client, coordinator, own_team, item, due, message):
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:action_add", args=[item.meeting.team.slug, item.pk]),
        {
            f"action-{item.pk}-description": "Assess for grab rails",
            f"action-{item.pk}-owner": item.resident.key_worker.pk,
            f"action-{item.pk}-due_date": due,
        },
        follow=True,
    )
    assert response.status_code == 200 and message in response.text
    assert not Action.objects.exists()


@pytest.mark.parametrize(
    ("due", "message"),
    [("9999-12-31", "The due date must be on or before 10 March 2029."), ("0001-01-01", "The due date must be on or after 1 January 2000.")],
)
def test_an_action_cannot_be_edited_to_fall_due_on_an_absurd_date(client, coordinator, own_team, due, message):
    action = make_action(active_resident(own_team))
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:action_edit", args=[action.resident.team.slug, action.pk]),
        {"description": action.description, "owner": action.owner.pk, "due_date": due, "version": action.version},
    )
    assert response.status_code == 200 and message in response.text
    assert Action.objects.get(pk=action.pk).due_date == action.due_date


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"starts_at": dt.datetime(9999, 12, 31, 12, tzinfo=dt.UTC)}, "meeting_starts_at_in_range"),
        ({"starts_at": dt.datetime(1999, 12, 31, 12, tzinfo=dt.UTC)}, "meeting_starts_at_in_range"),
        ({"slot_date": dt.date(2100, 1, 1)}, "meeting_slot_date_in_range"),
        ({"moved_from": dt.datetime(1, 1, 1, 12, tzinfo=dt.UTC)}, "meeting_moved_from_in_range"),
    ],
)
def test_the_database_refuses_a_meeting_stored_out_of_range_by_its_constraint(own_team, changes, constraint):
    meeting = make_meeting(own_team, days_ahead=5)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Meeting.objects.filter(pk=meeting.pk).update(**changes)


@pytest.mark.parametrize("due", [dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(9999, 12, 31)])
def test_the_database_refuses_an_action_due_out_of_range(own_team, due):
    action = make_action(active_resident(own_team))
    with pytest.raises(IntegrityError, match="action_due_date_in_range"), transaction.atomic():
        Action.objects.filter(pk=action.pk).update(due_date=due)


def test_the_meeting_pages_still_render_for_a_meeting_stored_at_the_last_moment_allowed(client, coordinator, own_team):
    meeting = make_meeting(own_team, days_ahead=5)
    add_item(meeting, active_resident(own_team))
    last = dt.datetime(2099, 12, 31, 23, 59, tzinfo=dt.UTC)
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=last, slot_date=dt.date(2099, 12, 31), moved_from=meeting.starts_at)
    make_action(active_resident(own_team), due_in_days=(dt.date(2099, 12, 31) - TODAY).days)
    client.force_login(coordinator)
    for page in ("/meetings/", f"/meetings/teams/{own_team.slug}/{meeting.pk}/", f"/meetings/teams/{own_team.slug}/{meeting.pk}/agenda/", f"/meetings/teams/{own_team.slug}/{meeting.pk}/move/", "/", "/meetings/actions/"):
        assert client.get(page).status_code == 200, page


@pytest.mark.parametrize("starts_at", [dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC)])
def test_a_meeting_at_the_end_of_the_calendar_ends_with_it(starts_at):
    """Stored before the constraint, or by hand: its end must not overflow and break the list."""
    meeting = Meeting(starts_at=starts_at, duration_minutes=480)
    assert meeting.ends_at == dt.datetime.max.replace(tzinfo=dt.UTC)
    assert Meeting(starts_at=dt.datetime(2099, 12, 31, 22, tzinfo=dt.UTC), duration_minutes=60).ends_at == dt.datetime(2099, 12, 31, 23, tzinfo=dt.UTC)



def test_the_admin_refuses_an_action_due_out_of_range_with_the_constraints_message(rf, own_team):
    """The admin's change form is a form people enter dates in too: the constraint becomes its message."""
    from django.contrib import admin
    from django.forms.models import model_to_dict

    from ..factories import UserFactory

    action = make_action(active_resident(own_team))
    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    form_class = admin.site._registry[Action].get_form(request, obj=action)
    data = {name: value for name, value in model_to_dict(action).items() if value is not None}
    due = action.due_date
    form = form_class(data={**data, "due_date": "9999-12-31"}, instance=action)
    assert not form.is_valid()
    assert form.non_field_errors() == ["The due date must be on or after 1 January 2000 and before 1 January 2100."]
    assert Action.objects.get(pk=action.pk).due_date == due
