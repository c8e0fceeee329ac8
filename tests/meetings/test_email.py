"""Email: a saved change is never a server error, whatever is stored and whatever the mail server
does; every email's headers are one line; the agenda and the minutes say when they went out."""

import datetime as dt
import smtplib
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.exceptions import Retry
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend as MemoryBackend
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError as BrokerError

from int_app.teams.models import (
    PCN,
    Neighbourhood,
    Organisation,
    Place,
    Practice,
    Team,
    User,
)
from int_app.teams.validators import single_line_validator
from meetings import services, tasks
from meetings.models import Meeting, MeetingSeries

from .factories import active_resident, add_item, make_meeting

# A Tuesday morning; the meeting is on the Thursday after next.
MONDAY_WEEK = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Europe/London"))
# Every character Python's email package refuses in a header, as a coordinator could paste them.
LINE_BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.fixture(autouse=True)
def tuesday():
    with time_machine.travel(MONDAY_WEEK, tick=False):
        yield


def agenda_to_publish(team: Team, series_name: str | None = None) -> Meeting:
    meeting = make_meeting(team, days_ahead=9)
    if series_name is not None:
        # As stored before names were checked: straight into the table, past every form.
        MeetingSeries.objects.filter(pk=meeting.series_id).update(name=series_name)
    add_item(meeting, active_resident(team))
    return meeting


class MailServerHangingUpOnce(MemoryBackend):
    """The outbox, behind a mail server that drops the first connection of the test."""

    attempts = 0

    def send_messages(self, messages):
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


class MailServerDown(MemoryBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def mail_through(settings, backend: type) -> None:
    settings.MAILERS = {"default": {"BACKEND": f"{backend.__module__}.{backend.__qualname__}"}}


# --- a line break stored in a series name ----------------------------------------------------------


def test_an_agenda_whose_stored_series_name_has_line_breaks_is_published_and_emailed_with_a_one_line_subject(
    client, coordinator, own_team, transactional_db, mailoutbox
):
    meeting = agenda_to_publish(own_team, "Case review\r\nBcc: everyone@example.com\u2028West")
    client.force_login(coordinator)
    response = client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk]))
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.agenda_published_at is not None
    assert [email.subject for email in mailoutbox] == [
        "Agenda published: Case review Bcc: everyone@example.com West, Thu 19 Mar 2026 13:00"
    ]
    assert mailoutbox[0].bcc == []
    assert meeting.agenda_emailed_at == MONDAY_WEEK


def test_minutes_of_a_series_whose_stored_name_has_a_line_break_are_published_and_emailed(
    client, coordinator, own_team, transactional_db, mailoutbox
):
    meeting = make_meeting(own_team, days_ahead=-2, published=True, status=Meeting.Status.HELD)
    MeetingSeries.objects.filter(pk=meeting.series_id).update(name="Case\nreview")
    client.force_login(coordinator)
    response = client.post(reverse("meetings:minutes_publish", args=[meeting.team.slug, meeting.pk]))
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.minutes_published_at is not None and meeting.minutes_emailed_at == MONDAY_WEEK
    assert [email.subject for email in mailoutbox] == ["Minutes published: Case review, Sun 08 Mar 2026 13:00"]
    page = client.get(reverse("meetings:minutes", args=[meeting.team.slug, meeting.pk])).text
    assert "Emailed to the team 10 March 2026, 09:00." in page


# --- the forms refuse a line break -----------------------------------------------------------------


def series_form(series: MeetingSeries, **changes) -> dict:
    return {
        "name": series.name,
        "purpose": series.purpose,
        "weekday": series.weekday,
        "start_time": series.start_time.strftime("%H:%M"),
        "duration_minutes": series.duration_minutes,
        "location": series.location,
        "video_link": "",
        "active": "on",
        **changes,
    }


@pytest.mark.parametrize("line_break", LINE_BREAKS)
def test_the_coordinator_cannot_name_a_series_over_two_lines(client, coordinator, own_team, line_break):
    series = make_meeting(own_team).series
    client.force_login(coordinator)
    response = client.post(reverse("meetings:series_edit", args=[series.team.slug, series.pk]), series_form(series, name=f"Case{line_break}review"))
    assert response.status_code == 200
    assert "Keep this on one line: it is used in email subjects." in response.text
    assert MeetingSeries.objects.get(pk=series.pk).name == series.name


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=st.text(max_size=20),
    line_break=st.sampled_from(LINE_BREAKS),
    after=st.text(min_size=1, max_size=20).filter(lambda text: text.strip()),
)
def test_no_series_name_with_a_line_break_inside_is_ever_saved(client, coordinator, own_team, before, line_break, after):
    series = own_team.meeting_series.first() or make_meeting(own_team).series
    client.force_login(coordinator)
    response = client.post(reverse("meetings:series_edit", args=[series.team.slug, series.pk]), series_form(series, name=f"x{before}{line_break}{after}x"))
    assert response.status_code == 200
    assert MeetingSeries.objects.get(pk=series.pk).name == series.name


# Every name that can reach an email header: the series in agenda and minutes subjects, the
# practice in pressure alerts, and the team, PCN, place, employer and person names around them.
HEADER_NAMES = [
    (MeetingSeries, "name"),
    (Practice, "name"),
    (PCN, "name"),
    (Team, "name"),
    (Neighbourhood, "name"),
    (Place, "name"),
    (Organisation, "name"),
    (User, "full_name"),
]


@pytest.mark.parametrize(("model", "field_name"), HEADER_NAMES, ids=lambda value: getattr(value, "__name__", value))
def test_every_name_that_reaches_an_email_is_checked_for_line_breaks_in_every_form(model, field_name):
    # Model validators run in every ModelForm: the coordinator's pages and the staff admin alike.
    field = model._meta.get_field(field_name)
    assert single_line_validator in field.validators
    with pytest.raises(ValidationError, match="Keep this on one line"):
        field.clean("North\nWest", None)


# --- the mail server failing ---------------------------------------------------------------------------


def test_a_mail_server_hanging_up_leaves_the_agenda_published_and_the_page_answers(
    client, coordinator, own_team, transactional_db, settings, mailoutbox
):
    mail_through(settings, MailServerDown)
    meeting = agenda_to_publish(own_team)
    client.force_login(coordinator)
    response = client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk]))
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.agenda_published_at is not None and meeting.agenda_emailed_at is None
    page = client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk]))
    assert page.status_code == 200 and "Not emailed yet" in page.text


def test_a_broker_that_cannot_be_reached_leaves_the_agenda_published_and_the_page_answers(
    client, coordinator, own_team, transactional_db, monkeypatch, mailoutbox
):
    def redis_restarting(*args, **kwargs):
        raise BrokerError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.send_agenda, "delay", redis_restarting)
    meeting = agenda_to_publish(own_team)
    client.force_login(coordinator)
    assert client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk])).status_code == 302
    meeting.refresh_from_db()
    assert meeting.agenda_published_at is not None and mailoutbox == []


def test_the_agenda_email_task_retries_when_the_mail_server_hangs_up_and_sends_once(own_team, coordinator, db, settings, mailoutbox):
    mail_through(settings, MailServerHangingUpOnce)
    MailServerHangingUpOnce.attempts = 0
    meeting = agenda_to_publish(own_team)
    services.agenda_publish(meeting=meeting, by=coordinator)  # the task is queued on commit, not run here
    with pytest.raises(Retry, match="SMTPServerDisconnected"):  # run in-process, the retry is raised, not waited for
        tasks.send_agenda.apply(args=[meeting.pk])
    assert mailoutbox == []
    meeting.refresh_from_db()
    assert meeting.agenda_emailed_at is None, "a failed send is not recorded as sent"

    assert tasks.send_agenda.apply(args=[meeting.pk]).state == "SUCCESS"
    assert tasks.send_agenda.apply(args=[meeting.pk]).get() == 0, "the retried task sends nothing twice"
    meeting.refresh_from_db()
    assert meeting.agenda_emailed_at == MONDAY_WEEK and len(mailoutbox) == 1


@pytest.mark.worker
def test_a_real_worker_retries_the_agenda_email_after_the_mail_server_hangs_up(
    client, coordinator, own_team, live_worker, settings, mailoutbox
):
    mail_through(settings, MailServerHangingUpOnce)
    MailServerHangingUpOnce.attempts = 0
    meeting = agenda_to_publish(own_team)
    client.force_login(coordinator)
    assert client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk])).status_code == 302
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not Meeting.objects.get(pk=meeting.pk).agenda_emailed_at:
        time.sleep(0.2)
    assert Meeting.objects.get(pk=meeting.pk).agenda_emailed_at is not None, "the email was not retried"
    assert MailServerHangingUpOnce.attempts == 2 and len(mailoutbox) == 1


def test_the_minutes_email_task_run_twice_sends_once_and_keeps_the_first_time(own_team, coordinator, db, mailoutbox):
    meeting = make_meeting(own_team, days_ahead=-2, published=True, status=Meeting.Status.HELD)
    meeting.publish_minutes(by=coordinator)
    assert tasks.send_minutes(meeting.pk) > 0
    with time_machine.travel(MONDAY_WEEK + dt.timedelta(hours=1), tick=False):
        assert tasks.send_minutes(meeting.pk) == 0
    meeting.refresh_from_db()
    assert meeting.minutes_emailed_at == MONDAY_WEEK and len(mailoutbox) == 1


def test_the_coordinator_sees_when_the_agenda_was_emailed(client, coordinator, own_team, db, mailoutbox):
    meeting = agenda_to_publish(own_team)
    services.agenda_publish(meeting=meeting, by=coordinator)
    client.force_login(coordinator)
    assert "Not emailed yet" in client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text
    tasks.send_agenda(meeting.pk)
    assert "Emailed to the team 10 March 2026, 09:00." in client.get(reverse("meetings:agenda", args=[meeting.team.slug, meeting.pk])).text


def test_an_agenda_that_could_not_be_queued_is_emailed_by_the_next_catch_up_run(
    client, coordinator, own_team, transactional_db, monkeypatch, mailoutbox
):
    def redis_restarting(*args, **kwargs):
        raise BrokerError("Error 111 connecting to redis:6379. Connection refused.")

    meeting = agenda_to_publish(own_team)
    client.force_login(coordinator)
    with monkeypatch.context() as broker_down:
        broker_down.setattr(tasks.send_agenda, "delay", redis_restarting)
        client.post(reverse("meetings:agenda_publish", args=[meeting.team.slug, meeting.pk]))
    assert mailoutbox == []

    assert tasks.send_unsent_mail() == 0, "queued mail gets ten minutes before it counts as lost"
    with time_machine.travel(MONDAY_WEEK + dt.timedelta(minutes=11), tick=False):
        assert tasks.send_unsent_mail() == 1
        assert tasks.send_unsent_mail() == 0, "sent once, and marked so"
    assert len(mailoutbox) == 1 and mailoutbox[0].subject.startswith("Agenda published")
    meeting.refresh_from_db()
    assert meeting.agenda_emailed_at is not None


def test_the_catch_up_run_leaves_mail_older_than_a_week_alone(own_team, coordinator, db, mailoutbox):
    meeting = agenda_to_publish(own_team)
    Meeting.objects.filter(pk=meeting.pk).update(agenda_published_at=MONDAY_WEEK - dt.timedelta(days=8))
    assert tasks.send_unsent_mail() == 0 and mailoutbox == []
