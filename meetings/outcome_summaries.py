"""The outcome of each case discussion, sent to the resident's registered GP practice.

When the minutes are published, every resident discussed gets a one-page summary (who was present,
the discussion in brief, the decisions with the GP's sign-off, the actions with owners and due
dates, the next review, and the SNOMED CT concept the practice codes it with). Its words are fixed
then, from the locked minutes; a Celery task draws the PDF, keeps it, and emails it to the
practice's shared mailbox, once. A correction is a new version marked as an addendum.

The services of the summaries, kept out of services.py because they are one workflow of their own:
keyword-only, named <entity>_<action>."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from caseload.access import record_resident_access_by
from caseload.models import Resident, ResidentAccess
from int_app.celery import enqueue_on_commit
from int_app.teams.mail import email_send
from int_app.teams.models import Membership, User
from int_app.teams.pdf import pdf_from_template
from int_app.teams.roles import Role

from .models import Action, AgendaItem, Attendance, Decision, Meeting, OutcomeSummary, TransitionNotAllowed
from .suggestions import REVIEW_EVERY


@dataclass(frozen=True)
class SnomedConcept:
    concept_id: str
    term: str

    def __str__(self) -> str:
        return f"{self.concept_id} |{self.term}|"


# The SNOMED CT concept for a multidisciplinary case discussion, so that the practice can code the
# summary in the resident's GP record. 384682003 |Multidisciplinary care conference (procedure)|
# is in the international release, so in the UK edition that GP systems use; the Dutch national
# information model for an MDT meeting (Nictiz, MultidisciplinaryTeamMeeting) and OHDSI's standard
# vocabulary use the same concept. One constant: the PDF, the email and the tests read it here.
MDT_DISCUSSION_CONCEPT = SnomedConcept("384682003", "Multidisciplinary care conference (procedure)")

# The summary fits one page: longer notes are cut here, and the summary says where the rest is.
DISCUSSION_LIMIT = 1200

# How the summary writes a moment and a day.
MOMENT = "%-d %B %Y, %H:%M"
DAY = "%-d %B %Y"


def _moment(value: dt.datetime | None) -> str:
    return f"{timezone.localtime(value):{MOMENT}}" if value else ""


def _roles_by_user(meeting: Meeting) -> dict[int, str]:
    labels = dict(Role.choices)
    roles: dict[int, str] = {}
    for user_id, role in Membership.objects.filter(team_id=meeting.team_id).order_by("pk").values_list("user_id", "role"):
        roles.setdefault(user_id, labels.get(role, role))
    return roles


def _attendance(meeting: Meeting) -> dict:
    present, apologies = [], []
    rows = sorted(meeting.attendance.select_related("user"), key=lambda row: (Role.values.index(row.role) if row.role in Role.values else 99, row.user.full_name))
    for row in rows:
        if row.status == Attendance.Status.PRESENT:
            present.append(f"{row.user}, {row.role_label}")
        elif row.status == Attendance.Status.DEPUTY:
            present.append(f"{row.deputy_name}, deputy for {row.user} ({row.role_label})")
        elif row.status == Attendance.Status.APOLOGIES:
            apologies.append(f"{row.user}, {row.role_label}")
    return {"present": present, "apologies": apologies, "attendance_recorded": bool(present or apologies)}


def _next_reviews(meeting: Meeting, items: list[AgendaItem]) -> dict[int, str]:
    """For each resident: the later meeting they are already on the agenda of; else the date by
    which an open case is due review; else that none is planned."""
    later = (
        AgendaItem.objects.filter(
            resident_id__in=[item.resident_id for item in items],
            meeting__team_id=meeting.team_id,
            meeting__status=Meeting.Status.SCHEDULED,
            meeting__starts_at__gt=meeting.starts_at,
        )
        .select_related("meeting__series")
        .order_by("-meeting__starts_at")
    )
    next_meeting = {found.resident_id: found.meeting for found in later}  # the earliest wins, read last
    reviews = {}
    for item in items:
        resident = item.resident
        if resident.pk in next_meeting:
            found = next_meeting[resident.pk]
            reviews[resident.pk] = f"On the agenda of the {found.series.name} on {timezone.localtime(found.starts_at):%A %-d %B %Y}."
        elif resident.status in (Resident.Status.ACTIVE, Resident.Status.ACCEPTED, Resident.Status.REFERRED):
            due = meeting.date + REVIEW_EVERY
            weeks = REVIEW_EVERY.days // 7
            reviews[resident.pk] = f"By {due:{DAY}}: the team reviews each resident it supports at least every {weeks} weeks."
        else:
            reviews[resident.pk] = f"None planned: the case is {resident.get_status_display().lower()}."
    return reviews


def _discussed_items(meeting: Meeting, item_ids: list[int] | None = None) -> list[AgendaItem]:
    items = (
        meeting.items.filter(outcome=AgendaItem.Outcome.DISCUSSED)
        .select_related("resident__practice", "resident__key_worker")
        .prefetch_related(
            Prefetch("decisions", queryset=Decision.objects.select_related("signed_by").order_by("recorded_at", "pk")),
            Prefetch("actions", queryset=Action.objects.select_related("owner").order_by("due_date", "pk")),
        )
        .order_by("position")
    )
    if item_ids is not None:
        items = items.filter(pk__in=item_ids)
    return list(items)


def _content(item: AgendaItem, *, meeting: Meeting, attendance: dict, next_review: str, roles: dict[int, str], addendum: dict | None) -> dict:
    """What the summary says, in words, as it will be read. Stored as it is, so the preview, the
    PDF and any later download say the same thing the practice was sent."""
    resident = item.resident
    notes = item.notes.strip()
    shortened = len(notes) > DISCUSSION_LIMIT
    return {
        "team": meeting.team.name,
        "meeting": meeting.series.name,
        "held_on": f"{timezone.localtime(meeting.starts_at):%A %-d %B %Y, %H:%M}",
        "minutes_published": f"{_moment(meeting.minutes_published_at)} by {meeting.minutes_published_by}" if meeting.minutes_published_by_id else "",
        "resident": {
            "name": resident.full_name,
            "nhs_number": resident.formatted_nhs_number,
            "date_of_birth": f"{resident.date_of_birth:{DAY}}",
            "key_worker": str(resident.key_worker) if resident.key_worker_id else "",
        },
        "practice": {"name": resident.practice.name, "ods_code": resident.practice.ods_code},
        **attendance,
        "discussion": notes[:DISCUSSION_LIMIT].rstrip() + ("…" if shortened else ""),
        "discussion_shortened": shortened,
        "decisions": [
            {
                "text": decision.text,
                "clinical": decision.is_clinical,
                "signed_by": str(decision.signed_by) if decision.signed_by_id else "",
                "signed_at": _moment(decision.signed_at),
            }
            for decision in item.decisions.all()
        ],
        "actions": [
            {
                "description": action.description,
                "owner": str(action.owner),
                "owner_role": roles.get(action.owner_id, ""),
                "due": f"{action.due_date:{DAY}}",
                "status": action.get_status_display(),
            }
            for action in item.actions.all()
        ],
        "next_review": next_review,
        "snomed": {"concept_id": MDT_DISCUSSION_CONCEPT.concept_id, "term": MDT_DISCUSSION_CONCEPT.term},
        "addendum": addendum,
    }


def _made_for(
    meeting: Meeting, items: list[AgendaItem], *, by: User, previous: dict[int, OutcomeSummary], correction: str = "", send: bool = True
) -> list[OutcomeSummary]:
    attendance = _attendance(meeting)
    reviews = _next_reviews(meeting, items)
    roles = _roles_by_user(meeting)
    made = []
    for item in items:
        before = previous.get(item.pk)
        addendum = None
        if before is not None:
            corrects = (
                f"Addendum: corrects the summary sent on {_moment(before.sent_at)}"
                if before.status == OutcomeSummary.Status.SENT
                else f"Addendum: replaces the summary of {_moment(before.created_at)}, which was not sent"
            )
            addendum = {"corrects": corrects, "correction": correction, "version": before.version + 1}
        made.append(
            OutcomeSummary.objects.create(
                meeting=meeting,
                agenda_item=item,
                resident=item.resident,
                practice=item.resident.practice,
                kind=OutcomeSummary.Kind.ADDENDUM if before else OutcomeSummary.Kind.ORIGINAL,
                version=before.version + 1 if before else 1,
                supersedes=before,
                correction=correction,
                content=_content(item, meeting=meeting, attendance=attendance, next_review=reviews[item.resident_id], roles=roles, addendum=addendum),
                created_by=by,
            )
        )
    from .tasks import send_outcome_summary

    for summary in made if send else ():
        enqueue_on_commit(send_outcome_summary, summary.pk)
    return made


def outcome_summaries_create(*, meeting: Meeting, by: User, send: bool = True) -> list[OutcomeSummary]:
    """One summary for each resident discussed, made as the minutes are published (in the same
    transaction: the meeting is locked) and sent once that has committed. A resident who already
    has one is left as it is. (`send=False`: made only, for the demo's history.)"""
    made = set(OutcomeSummary.objects.filter(meeting=meeting).values_list("agenda_item_id", flat=True))
    items = [item for item in _discussed_items(meeting) if item.pk not in made]
    return _made_for(meeting, items, by=by, previous={}, send=send)


@transaction.atomic
def outcome_summary_correct(*, agenda_item: AgendaItem, correction: str, by: User) -> OutcomeSummary:
    """A corrected summary, marked as an addendum, from the record as it is now (a clinical decision
    signed off since, say), saying what it corrects. A version not yet sent is not sent at all."""
    meeting = agenda_item.meeting
    meeting.lock()
    if not meeting.minutes_published:
        raise TransitionNotAllowed("Outcome summaries go to the practices once the minutes are published.")
    correction = correction.strip()
    if not correction:
        raise TransitionNotAllowed("Say what the corrected summary corrects.")
    items = _discussed_items(meeting, [agenda_item.pk])
    if not items:
        raise TransitionNotAllowed(f"{agenda_item.resident} was not discussed at this meeting, so has no outcome summary.")
    latest = OutcomeSummary.objects.select_for_update().filter(agenda_item=agenda_item).order_by("-version").first()
    if latest is not None and latest.status in (OutcomeSummary.Status.PENDING, OutcomeSummary.Status.NO_MAILBOX):
        latest.status = OutcomeSummary.Status.SUPERSEDED
        latest.save(update_fields=["status"])
    previous = {agenda_item.pk: latest} if latest is not None else {}
    return _made_for(meeting, items, by=by, previous=previous, correction=correction)[0]


@transaction.atomic
def outcome_summary_send_again(*, summary: OutcomeSummary) -> None:
    """Send a summary held back for want of a mailbox, or whose sending failed, once more."""
    locked = OutcomeSummary.objects.select_for_update(of=("self",)).select_related("practice").get(pk=summary.pk)
    if not locked.can_send_again:
        raise TransitionNotAllowed(f"This summary cannot be sent again: {locked.status_text[0].lower()}{locked.status_text[1:]}.")
    if not locked.practice.shared_mailbox:
        raise TransitionNotAllowed(
            f"{locked.practice} still has no shared mailbox. A system admin sets it on the practice in the admin pages."
        )
    locked.status = OutcomeSummary.Status.PENDING
    locked.save(update_fields=["status"])
    from .tasks import send_outcome_summary

    enqueue_on_commit(send_outcome_summary, locked.pk)


def outcome_summary_pdf(*, summary: OutcomeSummary) -> bytes:
    return pdf_from_template(
        "meetings/outcome_summary/document.html", {"summary": summary, "content": summary.content}
    )


def _locked(summary_id: int) -> OutcomeSummary:
    return (
        OutcomeSummary.objects.select_for_update(of=("self",))
        .select_related("practice", "meeting__team", "meeting__series", "created_by")
        .get(pk=summary_id)
    )


def outcome_summary_send(*, summary_id: int) -> str:
    """Draw the PDF (once, and keep it), then email it to the practice's shared mailbox, once:
    the status and the email are decided under the summary's lock, so a task run twice, or
    retried, sends nothing twice. No mailbox: kept and marked. A mail server failing: the try is
    recorded for the coordinator and the error raised again, so the task's retry policy applies.
    Returns the summary's status."""
    failure: Exception | None = None
    with transaction.atomic():
        summary = _locked(summary_id)
        if summary.status != OutcomeSummary.Status.PENDING:
            return summary.status
        if not summary.pdf:
            try:
                summary.pdf = outcome_summary_pdf(summary=summary)
            except Exception as error:  # noqa: BLE001 - recorded for the coordinator, then raised again below
                failure = error
            else:
                summary.save(update_fields=["pdf"])
    if failure is not None:
        _record_failure(summary_id, failure)
    with transaction.atomic():
        summary = _locked(summary_id)
        if summary.status != OutcomeSummary.Status.PENDING:
            return summary.status
        mailbox = summary.practice.shared_mailbox.strip()
        if not mailbox:
            summary.status = OutcomeSummary.Status.NO_MAILBOX
            summary.save(update_fields=["status"])
            return summary.status
        try:
            email_send(
                subject=outcome_summary_subject(summary),
                body=render_to_string(
                    "meetings/email/outcome_summary.txt",
                    {"summary": summary, "content": summary.content, "concept": MDT_DISCUSSION_CONCEPT},
                ),
                to=[mailbox],
                attachments=[(summary.filename, bytes(summary.pdf), "application/pdf")],
            )
        except Exception as error:  # noqa: BLE001 - recorded for the coordinator, then raised again below
            failure = error
        else:
            summary.status = OutcomeSummary.Status.SENT
            summary.sent_at = timezone.now()
            summary.sent_to = mailbox
            summary.attempts = F("attempts") + 1
            summary.last_error = ""
            summary.save(update_fields=["status", "sent_at", "sent_to", "attempts", "last_error"])
            # The record left the service: logged as the doing of whoever published or corrected it.
            record_resident_access_by(
                user=summary.created_by,
                resident_ids=[summary.resident_id],
                page=ResidentAccess.Page.OUTCOME_SUMMARY_SENT,
                path=reverse("meetings:outcome_summary", args=[summary.meeting.team.slug, summary.pk]),
            )
            return OutcomeSummary.Status.SENT
    _record_failure(summary_id, failure)


def _record_failure(summary_id: int, failure: Exception) -> None:
    """Write the failed try on the summary, where the coordinator sees it, then raise the error
    again so that the task's retry policy applies."""
    OutcomeSummary.objects.filter(pk=summary_id, status=OutcomeSummary.Status.PENDING).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(failure).__name__}: {failure}"[:300],
        last_attempt_at=timezone.now(),
    )
    raise failure


def outcome_summary_subject(summary: OutcomeSummary) -> str:
    # No name or NHS number in the subject: it shows in mailbox listings. The PDF carries them.
    prefix = "Addendum: " if summary.is_addendum else ""
    return f"{prefix}Outcome of an INT case discussion, {summary.meeting.date:%-d %B %Y} (ref {summary.pk})"


# Queued on commit normally goes within seconds; one still waiting after this is queued again by
# beat's catch-up (tasks.send_unsent_mail), as agendas and minutes are.
def outcome_summaries_unsent(*, now: dt.datetime, grace: dt.timedelta, days: int) -> list[int]:
    return list(
        OutcomeSummary.objects.filter(
            status=OutcomeSummary.Status.PENDING, created_at__gte=now - dt.timedelta(days=days), created_at__lt=now - grace
        ).values_list("pk", flat=True)
    )


def outcome_summaries_for_meeting(*, meeting: Meeting) -> list[OutcomeSummary]:
    """The current version of each resident's summary, for the meeting page: one query."""
    return list(
        meeting.outcome_summaries.current()
        .select_related("resident", "practice")
        .defer("pdf", "content")
        .order_by("agenda_item__position")
    )
