"""Calendars: a member subscribes their calendar app to a private address that shows their teams'
meetings, kept up to date when a meeting moves or is cancelled, and can swap the address for a new
one; the agenda email carries the meeting as an invitation. Everything is read back with the
icalendar library, as a calendar app would read it."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from int_app.teams.models import Membership
from int_app.teams.roles import Role
from meetings import calendar
from meetings.models import CalendarFeed, Meeting, MeetingSeries
from meetings.services import agenda_email_send, agenda_publish

from ..conftest import member
from ..factories import MembershipFactory
from .factories import active_resident, add_item, make_meeting

LONDON = ZoneInfo("Europe/London")
# A Tuesday in March: the meetings below fall either side of the clocks going forward (29 March).
TUESDAY = dt.datetime(2026, 3, 17, 9, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def tuesday(settings):
    settings.INT_SITE_URL = "https://int.example.nhs.uk"
    cache.clear()  # the feed's throttles live in the cache
    with time_machine.travel(TUESDAY, tick=False):
        yield


def fetch(token: str, client: Client | None = None):
    """As a calendar app does: no session, just the address."""
    return (client or Client()).get(f"/meetings/calendar/{token}.ics")


def events_in(response) -> dict[str, object]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/calendar")
    parsed = Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in parsed.events}


def meeting_of(team, **fields) -> Meeting:
    meeting = make_meeting(team, **fields)
    return Meeting.objects.select_related("series", "team").get(pk=meeting.pk)


def test_a_member_sees_their_teams_meetings_in_their_calendar_app(own_team, other_team, social_worker):
    ours = meeting_of(own_team, days_ahead=2)
    video = meeting_of(own_team, days_ahead=16)  # after the clocks go forward
    Meeting.objects.filter(pk=video.pk).update(location="", video_link="https://meet.example.nhs.uk/int-own")
    theirs = meeting_of(other_team, days_ahead=2)
    feed = CalendarFeed.of(social_worker)

    events = events_in(fetch(feed.token))

    assert set(events) == {calendar.meeting_uid(ours), calendar.meeting_uid(video)}, "another team's meeting is not in it"
    assert calendar.meeting_uid(theirs) not in events
    event = events[f"meeting-{ours.pk}@int.example.nhs.uk"]
    assert event["SUMMARY"] == f"{ours.series.name} (Own INT)"
    assert event.start == ours.starts_at and event.end == ours.starts_at + dt.timedelta(minutes=90)
    assert event.start.tzinfo.key == "Europe/London" and event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.start.hour == 13  # 13:00 in London, GMT then
    assert event["LOCATION"] == "Church Road Surgery, meeting room 2"
    agenda = f"https://int.example.nhs.uk/meetings/teams/own/{ours.pk}/agenda/print/"
    assert agenda in event["DESCRIPTION"] and str(event["URL"]) == agenda
    assert event["STATUS"] == "CONFIRMED" and event["SEQUENCE"] == 0
    summer = events[calendar.meeting_uid(video)]
    assert summer.start.hour == 13 and summer.start.utcoffset() == dt.timedelta(hours=1), "13:00 British Summer Time"
    assert summer["LOCATION"] == "https://meet.example.nhs.uk/int-own"
    assert "Video: https://meet.example.nhs.uk/int-own" in summer["DESCRIPTION"]
    parsed = Calendar.from_ical(fetch(feed.token).content)
    assert [tz["TZID"] for tz in parsed.timezones] == ["Europe/London"], "the feed defines the time zone it uses"
    assert parsed["UID"] == Calendar.from_ical(fetch(feed.token).content)["UID"], "the same calendar on every fetch"


def test_the_feed_names_no_resident(own_team, social_worker):
    meeting = make_meeting(own_team, days_ahead=2, published=True)
    resident = active_resident(own_team, given_name="Winifred", family_name="Quarrington")
    add_item(meeting, resident)
    meeting.cancel(reason="Winifred Quarrington's family asked for the room")

    body = fetch(CalendarFeed.of(social_worker).token).content.decode()

    assert "Quarrington" not in body and "Winifred" not in body and resident.nhs_number not in body
    assert "CANCELLED" in body, "the cancellation shows, without its reason"


def test_names_and_places_stored_with_line_breaks_stay_on_one_line(own_team, social_worker):
    """As stored before the forms checked them: straight into the tables."""
    meeting = meeting_of(own_team, days_ahead=2)
    MeetingSeries.objects.filter(pk=meeting.series_id).update(name="Case review\r\nBcc: everyone@example.com\u2028West")
    Meeting.objects.filter(pk=meeting.pk).update(location="Room 2\nSecond floor")

    event = events_in(fetch(CalendarFeed.of(social_worker).token))[calendar.meeting_uid(meeting)]

    assert event["SUMMARY"] == "Case review Bcc: everyone@example.com West (Own INT)"
    assert event["LOCATION"] == "Room 2 Second floor"


def test_a_moved_meeting_moves_in_the_calendar_and_a_cancelled_one_is_cancelled(own_team, social_worker):
    moved = meeting_of(own_team, days_ahead=2)
    cancelled = meeting_of(own_team, days_ahead=9)
    token = CalendarFeed.of(social_worker).token
    before = events_in(fetch(token))
    assert before[calendar.meeting_uid(moved)]["SEQUENCE"] == 0

    new_start = dt.datetime(2026, 3, 20, 10, 30, tzinfo=LONDON)
    moved.move(starts_at=new_start, duration_minutes=60)
    cancelled.cancel(reason="Room unavailable")
    after = events_in(fetch(token))

    event = after[calendar.meeting_uid(moved)]
    assert event["SEQUENCE"] == 1, "the calendar replaces its copy"
    assert event.start == new_start and event.end == new_start + dt.timedelta(minutes=60)
    assert event["STATUS"] == "CONFIRMED"
    gone = after[calendar.meeting_uid(cancelled)]
    assert gone["STATUS"] == "CANCELLED" and gone["SEQUENCE"] == 1
    assert set(after) == set(before), "the same events, by the same UIDs"

    moved.move(starts_at=new_start + dt.timedelta(days=1), duration_minutes=60)
    assert events_in(fetch(token))[calendar.meeting_uid(moved)]["SEQUENCE"] == 2


def test_the_coordinator_cancels_a_meeting_and_every_member_feed_shows_it(client, coordinator, own_team, gp):
    meeting = make_meeting(own_team, days_ahead=3)
    client.force_login(coordinator)
    response = client.post(reverse("meetings:meeting_cancel", args=[own_team.slug, meeting.pk]), {"reason": "Bank holiday"})
    assert response.status_code == 302
    event = events_in(fetch(CalendarFeed.of(gp).token))[calendar.meeting_uid(meeting)]
    assert event["STATUS"] == "CANCELLED"


def test_someone_who_leaves_a_team_stops_seeing_its_meetings(own_team, other_team, social_worker):
    ours = meeting_of(own_team, days_ahead=2)
    theirs = meeting_of(other_team, days_ahead=2)
    MembershipFactory(user=social_worker, team=other_team, role=Role.GP)
    token = CalendarFeed.of(social_worker).token
    assert set(events_in(fetch(token))) == {calendar.meeting_uid(ours), calendar.meeting_uid(theirs)}

    Membership.objects.filter(user=social_worker, team=other_team).delete()

    assert set(events_in(fetch(token))) == {calendar.meeting_uid(ours)}


def test_a_member_without_case_discussions_in_a_team_gets_none_of_its_meetings(own_team, pcn_lead):
    meeting_of(own_team, days_ahead=2)
    assert events_in(fetch(CalendarFeed.of(pcn_lead).token)) == {}


def test_a_switched_off_account_has_no_feed(own_team, social_worker):
    token = CalendarFeed.of(social_worker).token
    social_worker.is_active = False
    social_worker.save(update_fields=["is_active"])
    assert fetch(token).status_code == 404


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00", "' OR 1=1 --"])
def test_an_unknown_or_malformed_address_is_not_found(db, token):
    assert fetch(token).status_code == 404


def test_someone_guessing_addresses_is_refused_for_a_while(own_team, social_worker):
    token = CalendarFeed.of(social_worker).token
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for attempt in range(calendar.MISSES_ALLOWED):
        assert fetch(f"guess{attempt}", guesser).status_code == 404
    assert fetch(f"guess{calendar.MISSES_ALLOWED}", guesser).status_code == 429
    assert fetch(token, guesser).status_code == 429, "even a right guess is refused now"
    assert fetch(token, Client(REMOTE_ADDR="198.51.100.7")).status_code == 200, "others are not"
    with time_machine.travel(dt.timedelta(seconds=calendar.MISS_WINDOW_SECONDS + 1)):
        cache.delete(f"calendar-miss:{'203.0.113.9'}")  # the cache's own expiry, which time-machine does not move
        assert fetch(token, guesser).status_code == 200


def test_an_address_fetched_far_more_often_than_any_calendar_app_polls_is_refused(own_team, social_worker):
    token = CalendarFeed.of(social_worker).token
    for _ in range(calendar.FETCHES_PER_HOUR):
        assert fetch(token).status_code == 200
    refused = fetch(token)
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"


def test_the_member_finds_their_address_and_a_new_one_ends_the_old(client, own_team, social_worker):
    meeting_of(own_team, days_ahead=2)
    client.force_login(social_worker)
    page = client.get(reverse("meetings:calendar"))
    old = CalendarFeed.objects.get(user=social_worker).token
    assert page.status_code == 200
    assert f"https://int.example.nhs.uk/meetings/calendar/{old}.ics" in page.text
    assert "Subscribe from web" in page.text
    assert client.get(reverse("meetings:calendar")).text.count(old) == 1, "the same address on every visit"
    assert fetch(old).status_code == 200

    response = client.post(reverse("meetings:calendar_reset"), follow=True)

    new = CalendarFeed.objects.get(user=social_worker).token
    assert new != old and len(new) >= 43
    assert "The old one no longer works" in response.text and new in response.text
    assert fetch(old).status_code == 404
    assert len(events_in(fetch(new))) == 1


def test_every_member_gets_an_address_of_their_own(own_team):
    tokens = {CalendarFeed.of(member(own_team, role)).token for role in (Role.GP, Role.SOCIAL_WORKER, Role.COORDINATOR)}
    assert len(tokens) == 3


def test_the_calendar_page_is_for_people_in_case_discussions(client, own_team, pcn_lead):
    client.force_login(pcn_lead)
    assert client.get(reverse("meetings:calendar")).status_code == 403
    assert client.post(reverse("meetings:calendar_reset")).status_code == 403
    assert not CalendarFeed.objects.filter(user=pcn_lead).exists()


def test_the_feed_costs_the_same_few_queries_however_many_meetings(own_team, other_team, social_worker):
    MembershipFactory(user=social_worker, team=other_team, role=Role.GP)
    token = CalendarFeed.of(social_worker).token
    from django.db import connection

    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert fetch(token).status_code == 200
        return len(captured)

    make_meeting(own_team, days_ahead=2)
    few = queries()
    for days in range(3, 30, 3):
        make_meeting(own_team, days_ahead=days)
        make_meeting(other_team, days_ahead=days)
    assert queries() == few <= 3


def test_the_agenda_email_carries_the_meeting_as_an_invitation(own_team, coordinator, mailoutbox, settings):
    django_settings = settings
    meeting = make_meeting(own_team, days_ahead=9)
    resident = active_resident(own_team, family_name="Blackwood")
    add_item(meeting, resident)
    agenda_publish(meeting=meeting, by=coordinator)

    assert agenda_email_send(meeting_id=meeting.pk) > 0

    email = mailoutbox[0]
    (filename, content, mimetype), = email.attachments
    assert filename == "meeting.ics" and mimetype == "text/calendar"
    invitation = Calendar.from_ical(content)
    assert invitation["METHOD"] == "REQUEST"
    (event,) = invitation.events
    assert str(event["UID"]) == calendar.meeting_uid(meeting), "the same event as in the members' feeds"
    assert event.start == meeting.starts_at and event["DTSTART"].params["TZID"] == "Europe/London"
    assert event["LOCATION"] == meeting.location
    assert f"https://int.example.nhs.uk/meetings/teams/own/{meeting.pk}/agenda/print/" in event["DESCRIPTION"]
    assert str(event["ORGANIZER"]) == f"mailto:{django_settings.DEFAULT_FROM_EMAIL}"
    attendees = {str(address).removeprefix("mailto:") for address in event["ATTENDEE"]}
    assert attendees == set(email.to)
    assert member(own_team, Role.GP).email in attendees
    text = content.decode() if isinstance(content, bytes) else content
    assert "Blackwood" not in text and resident.nhs_number not in text
    assert "/meetings/calendar/" in email.body, "the email says where to subscribe"


def published_and_emailed(team, coordinator, mailoutbox) -> Meeting:
    meeting = make_meeting(team, days_ahead=9)
    add_item(meeting, active_resident(team, family_name="Blackwood"))
    agenda_publish(meeting=meeting, by=coordinator)
    agenda_email_send(meeting_id=meeting.pk)
    mailoutbox.clear()
    return meeting


def invitation_in(email) -> tuple[Calendar, object]:
    (filename, content, mimetype), = email.attachments
    assert (filename, mimetype) == ("meeting.ics", "text/calendar")
    invitation = Calendar.from_ical(content)
    (event,) = invitation.events
    return invitation, event


def test_those_who_had_the_invitation_get_the_new_time_when_the_meeting_moves(
    client, own_team, coordinator, mailoutbox, django_capture_on_commit_callbacks
):
    meeting = published_and_emailed(own_team, coordinator, mailoutbox)
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("meetings:meeting_move", args=[own_team.slug, meeting.pk]),
            {"date": "2026-03-27", "start_time": "10:30", "duration_minutes": 60},
        )
    assert response.status_code == 302

    (email,) = mailoutbox
    assert email.subject.startswith("Moved: ") and "Friday 27 March 2026, 10:30 to 11:30" in email.body
    assert member(own_team, Role.GP).email in email.to and "Blackwood" not in email.body
    invitation, event = invitation_in(email)
    assert invitation["METHOD"] == "REQUEST"
    assert str(event["UID"]) == calendar.meeting_uid(meeting) and event["SEQUENCE"] == 1
    assert event.start == dt.datetime(2026, 3, 27, 10, 30, tzinfo=LONDON)

    from meetings.tasks import send_invitation_update

    send_invitation_update(meeting.pk)  # a retried task
    assert len(mailoutbox) == 1, "one update per change"


def test_those_who_had_the_invitation_are_told_when_the_meeting_is_cancelled(
    client, own_team, coordinator, mailoutbox, django_capture_on_commit_callbacks
):
    meeting = published_and_emailed(own_team, coordinator, mailoutbox)
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("meetings:meeting_cancel", args=[own_team.slug, meeting.pk]), {"reason": "Blackwood's family visit"})

    (email,) = mailoutbox
    assert email.subject.startswith("Cancelled: ") and "is cancelled" in email.body
    assert "Blackwood" not in email.body, "no cancellation reason: it may name a resident"
    invitation, event = invitation_in(email)
    assert invitation["METHOD"] == "CANCEL" and event["STATUS"] == "CANCELLED" and event["SEQUENCE"] == 1
    content = email.attachments[0][1]
    assert "Blackwood" not in (content.decode() if isinstance(content, bytes) else content)


def test_a_move_before_the_agenda_went_out_sends_nothing_and_the_agenda_carries_the_new_time(
    own_team, coordinator, mailoutbox, django_capture_on_commit_callbacks
):
    from meetings.services import meeting_move

    meeting = make_meeting(own_team, days_ahead=9)
    add_item(meeting, active_resident(own_team))
    new_start = dt.datetime(2026, 3, 27, 9, 0, tzinfo=LONDON)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_move(meeting=meeting, starts_at=new_start, duration_minutes=60)
    assert mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True):
        agenda_publish(meeting=meeting, by=coordinator)
    (email,) = mailoutbox
    _invitation, event = invitation_in(email)
    assert event.start == new_start and event["SEQUENCE"] == 1


def test_an_update_lost_with_the_broker_is_sent_by_the_next_sweep(own_team, coordinator, mailoutbox):
    from meetings import tasks

    meeting = published_and_emailed(own_team, coordinator, mailoutbox)
    meeting.cancel(reason="Room unavailable")  # as if its task never reached a worker
    assert mailoutbox == []

    assert tasks.send_unsent_mail() == 1
    assert [email.subject.split(":")[0] for email in mailoutbox] == ["Cancelled"]
    assert tasks.send_unsent_mail() == 0, "sent once, and marked so"
