"""Meetings as iCalendar (RFC 5545): each member's private feed, and the invitation the agenda
email carries. One event per meeting, the same in both, so a calendar that has the invitation
and subscribes to the feed keeps one copy: its UID never changes, SEQUENCE rises when the meeting
moves or is cancelled, and a cancelled meeting stays in the feed as STATUS:CANCELLED.

No resident is named: a calendar is synced to phones and shared with assistants, no place for
case details. An event says which team meets, when, where, and links to the agenda in the service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress

from int_app.teams.validators import header_text

from .models import Meeting

# Links as the emails build them (INT_SITE_URL): a feed is read by calendar apps, an invitation
# by mail clients, neither inside a request to the service.
from .services import site_url

PRODID = "-//INT case meetings//EN"
# Calendar apps poll a subscribed feed at their own pace; this asks for about hourly.
REFRESH = dt.timedelta(hours=1)
# The feed holds the last eight weeks (as the meeting list does) and everything ahead.
FEED_PAST = dt.timedelta(weeks=8)


def _host() -> str:
    return urlsplit(getattr(settings, "INT_SITE_URL", "")).hostname or "int-meetings.invalid"


def meeting_uid(meeting: Meeting) -> str:
    """Stable for the meeting's life, and unique across deployments by the site's host name."""
    return f"meeting-{meeting.pk}@{_host()}"


def meeting_event(meeting: Meeting, *, stamp: dt.datetime, attendees: Iterable[str] = ()) -> Event:
    """The event for one meeting. Needs the meeting's series and team loaded."""
    london = ZoneInfo(settings.TIME_ZONE)
    agenda = site_url(reverse("meetings:agenda_print", args=[meeting.team.slug, meeting.pk]))
    # Names and places are one line each, whatever was stored before the forms checked them: a
    # line break would end the property early, or stop the file being written at all.
    series, team = header_text(meeting.series.name), header_text(meeting.team.name)
    lines = [f"{series} of {team}."]
    if meeting.video_link:
        lines.append(f"Video: {header_text(meeting.video_link)}")
    lines.append(f"Agenda: {agenda}")
    lines.append("Residents' details are in the service, not in this calendar.")
    event = Event.new(
        uid=meeting_uid(meeting),
        summary=f"{series} ({team})",
        start=meeting.starts_at.astimezone(london),
        end=meeting.ends_at.astimezone(london),
        location=header_text(meeting.location or meeting.video_link) or None,
        description="\n".join(lines),
        url=agenda,
        sequence=meeting.calendar_sequence,
        status="CANCELLED" if meeting.status == Meeting.Status.CANCELLED else "CONFIRMED",
        stamp=stamp,
    )
    for email in attendees:
        attendee = vCalAddress(f"mailto:{header_text(email)}")
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["RSVP"] = "FALSE"
        event.add("attendee", attendee)
    return event


def _calendar(events: list[Event], *, uid: str, name: str, method: str | None = None) -> bytes:
    calendar = Calendar.new(
        prodid=PRODID, uid=uid, name=name, method=method, refresh_interval=REFRESH, subcomponents=events
    )
    # Europe/London's VTIMEZONE, so every event's TZID is defined in the file itself: its clock
    # changes from a year back to three ahead cover every meeting a feed or invitation holds.
    today = timezone.localdate()
    calendar.add_missing_timezones(first_date=today - dt.timedelta(days=366), last_date=today + dt.timedelta(days=3 * 366))
    return calendar.to_ical()


def feed_meetings(user) -> Iterable[Meeting]:
    """The meetings of the teams where the person takes part in case discussions, asked afresh on
    every fetch: someone who leaves a team stops seeing its meetings at the next refresh."""
    from int_app.teams.roles import Right

    return (
        Meeting.objects.visible_to(user, Right.VIEW_CASES)
        .filter(starts_at__gte=timezone.now() - FEED_PAST)
        .select_related("series", "team")
        .order_by("starts_at", "pk")
    )


def feed_ics(user) -> bytes:
    stamp = timezone.now()
    return _calendar(
        [meeting_event(meeting, stamp=stamp) for meeting in feed_meetings(user)],
        uid=f"feed-{user.pk}@{_host()}",
        name="INT case meetings",
    )


def invitation_ics(meeting: Meeting, *, attendees: list[str]) -> bytes:
    """An invitation (METHOD:REQUEST), from the service's own address: with the agenda email, and
    again when the meeting moves; a cancelled meeting's is METHOD:CANCEL. The calendar that holds
    the event replaces it, as the SEQUENCE is higher."""
    event = meeting_event(meeting, stamp=timezone.now(), attendees=attendees)
    organizer = vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL}")
    organizer.params["CN"] = header_text(f"{meeting.team.name} INT")
    event.add("organizer", organizer)
    method = "CANCEL" if meeting.status == Meeting.Status.CANCELLED else "REQUEST"
    return _calendar([event], uid=f"invitation-{meeting_uid(meeting)}", name=header_text(meeting), method=method)


# --- Throttling the public address ----------------------------------------------------------------
# The address works without a session, so two limits keep it from being hammered or guessed:
# a client that asks for unknown addresses again and again is refused for a while (a token has
# 256 random bits, so this is defence in depth), and one address fetched far more often than any
# calendar app polls is refused until the hour turns.

MISSES_ALLOWED = 20
MISS_WINDOW_SECONDS = 15 * 60
FETCHES_PER_HOUR = 60


def _count(key: str, window_seconds: int) -> int:
    cache.add(key, 0, timeout=window_seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=window_seconds)
        return 1


def client_refused(client_ip: str) -> bool:
    return (cache.get(f"calendar-miss:{client_ip}") or 0) >= MISSES_ALLOWED


def record_miss(client_ip: str) -> None:
    _count(f"calendar-miss:{client_ip}", MISS_WINDOW_SECONDS)


def fetch_allowed(feed_id: int) -> bool:
    return _count(f"calendar-fetch:{feed_id}", 3600) <= FETCHES_PER_HOUR
