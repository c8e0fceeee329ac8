"""Every rule that depends on the date, run at a grid of moments: each weekday of one week, a
month end, 29 February 2028 and both UK clock changes. The expected days are written out, not
worked out, so a rule that slips a day at one of these moments fails here.

The rules: overdue and "this week" on my actions; the weekly digest's week; pressure reports
missing by Wednesday noon; the agenda suggestions' 30-day service-use window and 4-week review;
complete KPI windows; meetings made four weeks ahead, at the same local time across a clock change.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import pytest
import time_machine
from django.utils import timezone

from caseload.models import ServiceUseEvent
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.models import ResidentWindow
from meetings.models import DigestSent, Meeting, MeetingSeries
from meetings.services import meetings_schedule_ahead, my_actions
from meetings.suggestions import agenda_suggestions
from meetings.tasks import send_action_digests
from pressure.models import PressureReport
from pressure.services import build_heatmap, practices_for_heatmap

from .conftest import member
from .factories import ResidentFactory
from .meetings.factories import MeetingSeriesFactory, active_resident, discussed, make_action, make_meeting, service_use

LONDON = zoneinfo.ZoneInfo("Europe/London")
UTC = dt.UTC
D = dt.date


@dataclass(frozen=True)
class Moment:
    name: str
    at: dt.datetime  # in UTC, so that the hour the clocks skip or repeat can be named
    today: dt.date  # London's date at that moment
    monday: dt.date  # the week it is in
    sunday: dt.date
    deadline_passed: bool  # Wednesday 12:00 London of that week
    last_complete_start: dt.date  # the latest intervention start whose 6-month follow-up has ended
    digest_due: bool = True  # Monday before 07:00 waits

    def __str__(self) -> str:
        return self.name


GRID = [
    Moment("monday", dt.datetime(2026, 12, 7, 10, tzinfo=UTC), D(2026, 12, 7), D(2026, 12, 7), D(2026, 12, 13), False, D(2026, 6, 7)),
    Moment("monday-before-7", dt.datetime(2026, 12, 7, 6, 59, tzinfo=UTC), D(2026, 12, 7), D(2026, 12, 7), D(2026, 12, 13), False, D(2026, 6, 7), digest_due=False),
    Moment("tuesday", dt.datetime(2026, 12, 8, 10, tzinfo=UTC), D(2026, 12, 8), D(2026, 12, 7), D(2026, 12, 13), False, D(2026, 6, 8)),
    Moment("wednesday-11:59", dt.datetime(2026, 12, 9, 11, 59, tzinfo=UTC), D(2026, 12, 9), D(2026, 12, 7), D(2026, 12, 13), False, D(2026, 6, 9)),
    Moment("wednesday-noon", dt.datetime(2026, 12, 9, 12, tzinfo=UTC), D(2026, 12, 9), D(2026, 12, 7), D(2026, 12, 13), True, D(2026, 6, 9)),
    Moment("thursday", dt.datetime(2026, 12, 10, 10, tzinfo=UTC), D(2026, 12, 10), D(2026, 12, 7), D(2026, 12, 13), True, D(2026, 6, 10)),
    Moment("friday", dt.datetime(2026, 12, 11, 10, tzinfo=UTC), D(2026, 12, 11), D(2026, 12, 7), D(2026, 12, 13), True, D(2026, 6, 11)),
    Moment("saturday", dt.datetime(2026, 12, 12, 10, tzinfo=UTC), D(2026, 12, 12), D(2026, 12, 7), D(2026, 12, 13), True, D(2026, 6, 12)),
    Moment("sunday-23:30", dt.datetime(2026, 12, 13, 23, 30, tzinfo=UTC), D(2026, 12, 13), D(2026, 12, 7), D(2026, 12, 13), True, D(2026, 6, 13)),
    Moment("year-end", dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC), D(2026, 12, 31), D(2026, 12, 28), D(2027, 1, 3), True, D(2026, 6, 30)),
    Moment("month-end-31-august", dt.datetime(2027, 8, 31, 9, tzinfo=UTC), D(2027, 8, 31), D(2027, 8, 30), D(2027, 9, 5), False, D(2027, 2, 28)),
    Moment("leap-day", dt.datetime(2028, 2, 29, 10, tzinfo=UTC), D(2028, 2, 29), D(2028, 2, 28), D(2028, 3, 5), False, D(2027, 8, 31)),
    # 01:00 GMT on 28 March 2027 the clocks go forward: 01:30 UTC is 02:30 BST.
    Moment("spring-clock-change", dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC), D(2027, 3, 28), D(2027, 3, 22), D(2027, 3, 28), True, D(2026, 9, 28)),
    # 02:00 BST on 31 October 2027 the clocks go back: 01:30 local comes twice.
    Moment("autumn-first-01:30", dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC), D(2027, 10, 31), D(2027, 10, 25), D(2027, 10, 31), True, D(2027, 4, 30)),
    Moment("autumn-second-01:30", dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC), D(2027, 10, 31), D(2027, 10, 25), D(2027, 10, 31), True, D(2027, 4, 30)),
    # In British Summer Time Wednesday noon is 11:00 UTC.
    Moment("bst-wednesday-11:30-utc", dt.datetime(2027, 6, 9, 11, 30, tzinfo=UTC), D(2027, 6, 9), D(2027, 6, 7), D(2027, 6, 13), True, D(2026, 12, 9)),
    Moment("bst-monday-06:30-utc", dt.datetime(2027, 6, 7, 6, 30, tzinfo=UTC), D(2027, 6, 7), D(2027, 6, 7), D(2027, 6, 13), False, D(2026, 12, 7)),
]


@pytest.fixture(params=GRID, ids=str)
def moment(request):
    with time_machine.travel(request.param.at, tick=False):
        yield request.param


def test_the_grid_names_london_dates(moment):
    assert timezone.localdate() == moment.today
    assert moment.monday.weekday() == 0 and moment.sunday.weekday() == 6


def test_my_actions_are_overdue_from_the_day_after_they_were_due_and_this_week_until_sunday(own_team, moment):
    owner = member(own_team, Role.SOCIAL_WORKER)
    resident = active_resident(own_team, key_worker=owner)
    for day, description in [
        (moment.today - dt.timedelta(days=1), "due yesterday"),
        (moment.today, "due today"),
        (moment.sunday, "due on Sunday"),
        (moment.sunday + dt.timedelta(days=1), "due next Monday"),
    ]:
        make_action(resident, owner=owner, due_in_days=(day - moment.today).days, description=description)

    groups = my_actions(user=owner)

    assert [a.description for a in groups.overdue] == ["due yesterday"]
    assert [a.description for a in groups.this_week] == ["due today", "due on Sunday"]
    assert [a.description for a in groups.later] == ["due next Monday"]


def test_the_digest_is_for_the_week_that_began_on_monday(own_team, moment, mailoutbox):
    make_action(active_resident(own_team), due_in_days=2)

    sent = send_action_digests()

    if not moment.digest_due:
        assert sent == 0 and not DigestSent.objects.exists()
        return
    assert sent == 1
    assert DigestSent.objects.get().week == moment.monday


def test_practices_are_missing_from_wednesday_noon_of_their_week(own_team, moment):
    reporter = member(own_team, Role.COORDINATOR)
    practices = list(own_team.practices.order_by("pk"))
    # The first practice reported this week, the second only last week.
    PressureReport.objects.create(practice=practices[0], week_start=moment.monday, level=2, reported_by=reporter)
    PressureReport.objects.create(practice=practices[1], week_start=moment.monday - dt.timedelta(weeks=1), level=3, reported_by=reporter)

    heatmap = build_heatmap(practices_for_heatmap(member(own_team, Role.PCN_LEAD)))

    assert heatmap.weeks[-1] == moment.monday
    assert timezone.localtime(heatmap.deadline) == dt.datetime.combine(moment.monday + dt.timedelta(days=2), dt.time(12), tzinfo=LONDON)
    assert heatmap.deadline_passed is moment.deadline_passed
    assert heatmap.missing == [practices[1]]


def suggested(meeting: Meeting, reason: str) -> set[str]:
    return {
        s.resident.given_name
        for group in agenda_suggestions(meeting=meeting)
        if group.reason == reason
        for s in group.suggestions
    }


def test_recent_service_use_counts_from_30_days_ago(own_team, moment):
    meeting = make_meeting(own_team, days_ahead=1)
    inside = active_resident(own_team, given_name="Inside")
    outside = active_resident(own_team, given_name="Outside")
    for _ in range(2):
        service_use(inside, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=30)
        service_use(outside, ServiceUseEvent.Kind.AE_ATTENDANCE, days_ago=31)

    assert suggested(meeting, "service_use") == {"Inside"}


def test_an_active_resident_is_due_review_when_not_discussed_at_the_same_slot_four_weeks_before(own_team, moment):
    meeting = Meeting.objects.get(pk=make_meeting(own_team, days_ahead=1).pk)  # as a page reads it: in UTC
    four_weeks = active_resident(own_team, weeks_active=8, given_name="Four")
    four_weeks_and_a_day = active_resident(own_team, weeks_active=8, given_name="Longer")
    discussed(four_weeks, days_ago=27)  # 28 days before the meeting, at the same time of day
    discussed(four_weeks_and_a_day, days_ago=28)

    assert suggested(meeting, "due_review") == {"Longer"}


def test_a_kpi_window_is_complete_once_six_calendar_months_have_passed(own_team, moment):
    practice = own_team.practices.order_by("pk").first()
    ended = ResidentFactory(team=own_team, practice=practice, status="active", intervention_start=moment.last_complete_start,
                            referral_date=moment.last_complete_start - dt.timedelta(days=10),
                            key_worker=member(own_team, Role.OCCUPATIONAL_THERAPIST))
    next_day = moment.last_complete_start + dt.timedelta(days=1)
    running = ResidentFactory(team=own_team, practice=practice, status="active", intervention_start=next_day,
                              referral_date=next_day - dt.timedelta(days=10), key_worker=member(own_team, Role.OCCUPATIONAL_THERAPIST))

    run = kpis_recompute()

    assert run.as_of == moment.today
    assert ResidentWindow.objects.get(resident=ended).complete is True
    assert ResidentWindow.objects.get(resident=running).complete is False


def test_meetings_are_made_four_weeks_ahead_at_their_local_time(own_team, moment):
    series = MeetingSeriesFactory(team=own_team, weekday=MeetingSeries.Weekday.TUESDAY, start_time=dt.time(9, 30))

    assert meetings_schedule_ahead(series=series) == 4
    assert meetings_schedule_ahead(series=series) == 0

    meetings = list(Meeting.objects.filter(series=series).order_by("starts_at"))
    first = moment.today + dt.timedelta(days=(1 - moment.today.weekday()) % 7)
    assert [m.slot_date for m in meetings] == [first + dt.timedelta(weeks=n) for n in range(4)]
    assert {timezone.localtime(m.starts_at).time() for m in meetings} == {dt.time(9, 30)}


@pytest.mark.parametrize(
    ("from_day", "utc_hours"),
    [
        # A Sunday series at 09:30: 09:30 GMT is 09:30 UTC, 09:30 BST is 08:30 UTC.
        (D(2027, 3, 15), [9, 8, 8, 8]),  # 21 March GMT, then 28 March (the change) onwards BST
        (D(2027, 10, 18), [8, 9, 9, 9]),  # 24 October BST, then 31 October (the change) onwards GMT
    ],
    ids=["spring", "autumn"],
)
def test_a_series_at_09_30_stays_at_09_30_across_a_clock_change(own_team, from_day, utc_hours):
    series = MeetingSeriesFactory(team=own_team, weekday=MeetingSeries.Weekday.SUNDAY, start_time=dt.time(9, 30))

    meetings_schedule_ahead(today=from_day, series=series)

    meetings = list(Meeting.objects.filter(series=series).order_by("starts_at"))
    assert [timezone.localtime(m.starts_at).strftime("%H:%M") for m in meetings] == ["09:30"] * 4
    assert [m.starts_at.astimezone(UTC).hour for m in meetings] == utc_hours
