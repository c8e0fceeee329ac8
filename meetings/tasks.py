"""Celery tasks: each takes ids, calls one service and is safe to run twice."""

import datetime as dt

from django.utils import timezone

from int_app.celery import durable_task

from . import outcome_summaries, services
from .models import local_today, week_start

# The weekly digest goes out from Monday morning; the hourly beat picks the first run after this.
DIGEST_FROM = dt.time(7, 0)


@durable_task
def schedule_meetings() -> int:
    """Beat: keep four weeks of meetings ahead for every active series."""
    return services.meetings_schedule_ahead()


@durable_task
def send_agenda(meeting_id: int) -> int:
    return services.agenda_email_send(meeting_id=meeting_id)


@durable_task
def send_invitation_update(meeting_id: int) -> int:
    return services.invitation_update_send(meeting_id=meeting_id)


@durable_task
def send_minutes(meeting_id: int) -> int:
    return services.minutes_email_send(meeting_id=meeting_id)


@durable_task
def send_unsent_mail() -> int:
    """Beat (every 15 minutes): an agenda or minutes published but never emailed, an outcome summary
    still waiting, or the invitation update of a meeting moved or cancelled since its agenda went
    out (the broker was down when it was queued, or every retry failed) is queued again. Sending is
    idempotent."""
    agendas, minutes = services.meetings_with_unsent_mail()
    for meeting_id in agendas:
        send_agenda.delay(meeting_id)
    for meeting_id in minutes:
        send_minutes.delay(meeting_id)
    summaries = outcome_summaries.outcome_summaries_unsent(
        now=timezone.now(), grace=services.MAIL_GRACE, days=services.MAIL_CATCH_UP_DAYS
    )
    for summary_id in summaries:
        send_outcome_summary.delay(summary_id)
    updates = services.meetings_with_unsent_invitation_updates()
    for meeting_id in updates:
        send_invitation_update.delay(meeting_id)
    return len(agendas) + len(minutes) + len(summaries) + len(updates)


@durable_task
def send_outcome_summary(summary_id: int) -> str:
    """Draw one outcome summary's PDF and email it to the resident's practice, once."""
    return outcome_summaries.outcome_summary_send(summary_id=summary_id)


@durable_task
def send_action_digest(user_id: int, week: str) -> bool:
    return services.action_digest_send(user_id=user_id, week=dt.date.fromisoformat(week))


@durable_task
def send_action_digests() -> int:
    """Beat (hourly): from Monday 07:00, each owner of open actions gets this week's digest once.
    Running hourly rather than once a week means a worker that was down on Monday catches up."""
    now = timezone.localtime()
    monday = week_start(local_today())
    if now.date() == monday and now.time() < DIGEST_FROM:
        return 0
    owner_ids = services.action_digest_owner_ids(week=monday)
    for owner_id in owner_ids:
        send_action_digest.delay(owner_id, monday.isoformat())
    return len(owner_ids)


@durable_task
def send_reassign_notice(user_id: int) -> int:
    """An account was switched off: its owner's coordinators are told which actions to hand on."""
    return services.reassign_notice_send(user_id=user_id)
