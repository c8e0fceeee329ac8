"""Each team's meeting series, and the beat task that keeps four weeks of meetings ahead."""

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from int_app.teams.roles import Role
from meetings.models import Meeting, MeetingSeries
from meetings.services import meetings_schedule_ahead, series_create_defaults
from meetings.tasks import schedule_meetings

from ..conftest import member
from .factories import active_resident, add_item, make_meeting


def test_a_team_gets_a_triage_and_a_case_review_series_by_default(own_team):
    series = series_create_defaults(team=own_team)
    assert {s.purpose for s in series} == {"triage", "case_review"}
    assert series_create_defaults(team=own_team) == series


def test_the_beat_task_makes_four_weeks_of_meetings_and_running_it_again_makes_none(own_team, other_team):
    series_create_defaults(team=own_team)
    series_create_defaults(team=other_team)
    first = schedule_meetings()
    assert first == 16  # 2 teams x 2 series x 4 weeks
    assert schedule_meetings() == 0
    assert Meeting.objects.count() == 16
    dates = sorted(Meeting.objects.filter(team=own_team, series__purpose="triage").values_list("slot_date", flat=True))
    assert all(day.weekday() == MeetingSeries.Weekday.TUESDAY for day in dates)
    assert dates[0] >= timezone.localdate() and dates[-1] < timezone.localdate() + dt.timedelta(days=28)


def test_the_beat_task_is_in_the_schedule():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"meetings.tasks.schedule_meetings", "meetings.tasks.send_action_digests"} <= tasks


def test_a_moved_or_cancelled_meeting_is_not_made_again(own_team, coordinator):
    triage, _ = series_create_defaults(team=own_team)
    meetings_schedule_ahead()
    first, second = Meeting.objects.filter(series=triage).order_by("starts_at")[:2]
    first.move(starts_at=first.starts_at + dt.timedelta(days=1), duration_minutes=45)
    second.cancel(reason="Bank holiday")
    assert meetings_schedule_ahead() == 0
    assert Meeting.objects.filter(series=triage).count() == 4


def test_an_inactive_series_gets_no_meetings(own_team):
    triage, review = series_create_defaults(team=own_team)
    review.active = False
    review.save()
    meetings_schedule_ahead()
    assert not Meeting.objects.filter(series=review).exists()


def test_the_coordinator_sets_up_a_series_and_its_meetings_appear(client, coordinator, own_team):
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:series_create", args=[own_team.slug]),
        {"name": "Complex cases", "purpose": "case_review", "weekday": 2, "start_time": "10:00", "duration_minutes": 60, "video_link": "https://meet.example.nhs.uk/complex", "active": "on"},
        follow=True,
    )
    assert "Complex cases saved. 4 meetings scheduled." in response.text
    assert Meeting.objects.filter(series__name="Complex cases").count() == 4


def test_a_series_needs_a_place_to_meet(client, coordinator, own_team):
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:series_create", args=[own_team.slug]),
        {"name": "Nowhere", "purpose": "triage", "weekday": 1, "start_time": "09:00", "duration_minutes": 60, "active": "on"},
    )
    assert "Give a location, a video link, or both." in response.text
    assert not MeetingSeries.objects.filter(name="Nowhere").exists()


def test_changing_the_day_remakes_the_empty_future_meetings_but_keeps_those_with_an_agenda(client, coordinator, own_team):
    triage, _ = series_create_defaults(team=own_team)
    meetings_schedule_ahead()
    kept = Meeting.objects.filter(series=triage).order_by("starts_at").first()
    add_item(kept, active_resident(own_team))
    client.force_login(coordinator)
    client.post(
        reverse("meetings:series_edit", args=[triage.team.slug, triage.pk]),
        {"name": triage.name, "purpose": "triage", "weekday": 0, "start_time": "09:30", "duration_minutes": 60, "location": "Room 1", "active": "on"},
    )
    weekdays = {m.slot_date.weekday() for m in Meeting.objects.filter(series=triage).exclude(pk=kept.pk)}
    assert weekdays == {0}
    assert Meeting.objects.filter(pk=kept.pk).exists()


def test_the_coordinator_moves_and_cancels_a_meeting(client, coordinator, own_team):
    meeting = make_meeting(own_team, days_ahead=5)
    resident = active_resident(own_team)
    item = add_item(meeting, resident)
    client.force_login(coordinator)
    new_day = timezone.localdate() + dt.timedelta(days=6)
    client.post(reverse("meetings:meeting_move", args=[meeting.team.slug, meeting.pk]), {"date": new_day.isoformat(), "start_time": "15:30", "duration_minutes": 60})
    meeting.refresh_from_db()
    assert timezone.localtime(meeting.starts_at).date() == new_day and meeting.duration_minutes == 60 and meeting.moved_from

    refused = client.post(reverse("meetings:meeting_cancel", args=[meeting.team.slug, meeting.pk]), {"reason": ""})
    assert "Give a reason for cancelling." in refused.text
    client.post(reverse("meetings:meeting_cancel", args=[meeting.team.slug, meeting.pk]), {"reason": "Coordinator on leave"})
    meeting.refresh_from_db()
    item.refresh_from_db()
    assert meeting.status == "cancelled" and item.outcome == "not_reached"


def test_a_meeting_cannot_be_moved_into_the_past(client, coordinator, own_team):
    meeting = make_meeting(own_team, days_ahead=5)
    client.force_login(coordinator)
    response = client.post(
        reverse("meetings:meeting_move", args=[meeting.team.slug, meeting.pk]),
        {"date": (timezone.localdate() - dt.timedelta(days=2)).isoformat(), "start_time": "15:30", "duration_minutes": 60},
    )
    assert "A meeting cannot be moved into the past." in response.text


def test_a_gp_cannot_cancel_a_meeting(client, own_team):
    meeting = make_meeting(own_team, days_ahead=5)
    client.force_login(member(own_team, Role.GP))
    assert client.post(reverse("meetings:meeting_cancel", args=[meeting.team.slug, meeting.pk]), {"reason": "x"}).status_code == 403


# A Monday morning: the default series meet on Tuesdays and Thursdays, so all eight of the next four
# weeks are still to come (late on a Tuesday, that day's meeting would be over).
@time_machine.travel(dt.datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("Europe/London")), tick=False)
def test_the_meetings_page_lists_what_is_coming_up(client, own_team, coordinator, django_assert_max_num_queries):
    series_create_defaults(team=own_team)
    meetings_schedule_ahead()
    client.force_login(coordinator)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("meetings:meeting_list")).text
    assert page.count("Build the agenda") == 8
