"""A resident's record as the law sees it: produced whole on request (subject access), and retired
when its retention period has ended.

Part of the record lives in the layers above (meetings: discussions, decisions, actions; audit: the
change history), which this layer cannot import (ADR 0007). So it asks them, as the resident page
does (caseload/journey.py):

- `subject_access_gathered` is sent with `resident`; each receiver returns a list of RecordSection
  holding everything its app keeps about the resident.
- `resident_retired` is sent with `resident` inside the transaction that retires them; each receiver
  removes the personal details its app keeps (free text, and the copies in the change history).
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from dataclasses import dataclass, field

import pghistory
import structlog
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from int_app.celery import enqueue_on_commit
from int_app.teams.models import User
from int_app.teams.pdf import pdf_from_template

from .models import Resident, ResidentAccess, ResidentEvent, SubjectAccessRequest

log = structlog.get_logger(__name__)

subject_access_gathered = Signal()
resident_retired = Signal()

# What a retired resident is called, and what replaces removed free text.
RETIRED_GIVEN_NAME = "Retired"
REMOVED = ""


@dataclass
class RecordSection:
    """One part of a subject access bundle: a heading and rows of named values, in the order the
    PDF draws them. Values are text, so the JSON and the PDF say exactly the same."""

    key: str
    title: str
    order: int
    rows: list[dict[str, str]] = field(default_factory=list)
    note: str = ""

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    @property
    def cells(self) -> list[list[str]]:
        """The rows as lists in the columns' order, for the PDF's one table per section: a table
        per row made a resident with a thousand contacts take half a minute to draw."""
        return [[row.get(column, "") for column in self.columns] for row in self.rows]


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def person(user: User | None) -> str:
    return user.full_name if user is not None else ""


def caseload_sections(resident: Resident) -> list[RecordSection]:
    """What the caseload itself holds about the resident."""
    r = resident
    record = {
        "NHS number": r.nhs_number,
        "Given name": r.given_name,
        "Family name": r.family_name,
        "Date of birth": as_text(r.date_of_birth),
        "Team": r.team.name,
        "Registered practice": f"{r.practice.name} ({r.practice.ods_code})",
        "Status": r.get_status_display(),
        "Referred on": as_text(r.referral_date),
        "Referral source": r.get_referral_source_display(),
        "Reason for referral": r.referral_reason,
        "Referrer": r.referrer,
        "Triaged on": as_text(r.triaged_on),
        "Not accepted because": r.get_not_accepted_reason_display(),
        "Not accepted, details": r.not_accepted_detail,
        "Key worker": person(r.key_worker),
        "Intervention start": as_text(r.intervention_start),
        "Consent to share recorded on": as_text(r.consent_date),
        "Consent obtained": r.get_consent_method_display(),
        "Stepped down on": as_text(r.stepped_down_on),
        "Step-down outcome": r.get_step_down_outcome_display(),
        "Feedback score": as_text(r.feedback_score),
        "Feedback comment": r.feedback_comment,
        "Closed on": as_text(r.closed_on),
        "Restricted since": as_text(r.restricted_at),
        "Restriction reason": r.restriction_reason,
        "Record created": as_text(r.created_at),
    }
    journey = [
        {"When": as_text(e.occurred_at), "What": e.get_kind_display(), "By": person(e.by), "Details": e.detail}
        for e in r.events.select_related("by").order_by("occurred_at", "pk")
    ]
    goals = [
        {"Goal": g.text, "Status": g.get_status_display(), "Added": as_text(g.created_at), "Added by": person(g.created_by)}
        for g in r.goals.select_related("created_by")
    ]
    planned = [
        {
            "Intervention": p.intervention.name,
            "Provider": p.intervention.provider,
            "Chosen": as_text(p.chosen_at),
            "Chosen by": person(p.chosen_by),
        }
        for p in r.planned_interventions.select_related("intervention", "chosen_by")
    ]
    service_use = [
        {"Date": as_text(u.date), "Kind": u.get_kind_display(), "Source": u.source, "Source record": u.source_id}
        for u in r.service_use.order_by("date", "kind", "pk")
    ]
    accesses = [
        {"When": as_text(a.at), "Who": person(a.user), "What": a.get_page_display()}
        for a in ResidentAccess.objects.for_resident(r.pk).order_by("at", "pk")
    ]
    requests = [
        {
            "Received": as_text(q.received_on),
            "Deadline": as_text(q.deadline),
            "Answered": as_text(q.answered_on),
        }
        for q in r.subject_access_requests.order_by("received_on", "pk")
    ]
    return [
        RecordSection("record", "The record", 10, [record]),
        RecordSection("journey", "Journey with the team", 20, journey),
        RecordSection("plan_goals", "Support plan: goals", 30, goals),
        RecordSection("plan_interventions", "Support plan: interventions", 31, planned),
        RecordSection("service_use", "Service use", 60, service_use, note="Contacts with services, from other systems' extracts."),
        RecordSection("access_log", "Who opened the record", 80, accesses),
        RecordSection("subject_access_requests", "Subject access requests", 90, requests),
    ]


def subject_access_sections(resident: Resident) -> list[RecordSection]:
    sections = caseload_sections(resident)
    for _receiver, contributed in subject_access_gathered.send(sender=Resident, resident=resident):
        sections += contributed
    return sorted(sections, key=lambda section: (section.order, section.key))


def subject_access_bundle_request(*, request: SubjectAccessRequest, by: User) -> None:
    """Ask for the bundle to be drawn, on a worker once this commits (caseload.tasks)."""
    from .tasks import produce_subject_access_bundle

    now = timezone.now()
    SubjectAccessRequest.objects.filter(pk=request.pk).update(bundle_requested_at=now, bundle_requested_by=by)
    request.bundle_requested_at, request.bundle_requested_by = now, by
    enqueue_on_commit(produce_subject_access_bundle, request.pk)


def subject_access_bundle_produce(*, request_id: int) -> bool:
    """Draw and keep the bundle asked for; False if there is nothing to do (already drawn since it
    was asked for, or answered meanwhile): safe to run twice."""
    request = SubjectAccessRequest.objects.select_related("bundle_requested_by").filter(pk=request_id).first()
    if request is None or request.bundle_requested_by is None or request.bundle_ready or request.answered_on:
        return False
    by = request.bundle_requested_by
    now = timezone.now()
    with transaction.atomic():
        # Logged first, so the bundle's own access log includes this production.
        ResidentAccess.objects.create(
            user=by, resident_id=request.resident_id, page=ResidentAccess.Page.SUBJECT_ACCESS, path="subject access bundle", at=now
        )
        content = subject_access_bundle(request=request, by=by, now=now)
        SubjectAccessRequest.objects.filter(pk=request.pk).update(bundle=content, last_produced_at=now)
    return True


def subject_access_bundle(*, request: SubjectAccessRequest, by: User, now: datetime.datetime) -> bytes:
    """A zip holding the whole record as a PDF for the resident and as JSON for machines, the same
    sections in both."""
    resident = Resident.objects.select_related("team", "practice", "key_worker").get(pk=request.resident_id)
    sections = subject_access_sections(resident)
    produced = {
        "resident_id": resident.pk,
        "request": {"received_on": as_text(request.received_on), "deadline": as_text(request.deadline)},
        "produced_at": as_text(now),
        "produced_by": by.full_name,
        "sections": {s.key: {"title": s.title, "note": s.note, "rows": s.rows} for s in sections},
    }
    pdf = pdf_from_template(
        "caseload/pdf/subject_access.html",
        {"resident": resident, "request": request, "sections": sections, "produced_at": now, "produced_by": by},
    )
    buffer = io.BytesIO()
    stem = f"subject-access-{resident.pk}-{timezone.localdate(now):%Y-%m-%d}"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{stem}.pdf", pdf)
        bundle.writestr(f"{stem}.json", json.dumps(produced, indent=2, ensure_ascii=False))
    return buffer.getvalue()


def bundle_file_name(request: SubjectAccessRequest) -> str:
    return f"subject-access-{request.resident_id}-{timezone.localdate(request.last_produced_at):%Y-%m-%d}.zip"


# --- retention -------------------------------------------------------------------------------------


# The monthly run (CELERY_BEAT_SCHEDULE "caseload-retire-records"): the 1st of each month.
RETIREMENT_RUN_DAY = 1


def next_retirement_run(today: datetime.date | None = None) -> datetime.date:
    """The day the monthly run next retires records: today if it is the 1st, else next month's 1st.
    The dry run asks `due_for_retirement` about that day, as the run will."""
    today = today or timezone.localdate()
    if today.day == RETIREMENT_RUN_DAY:
        return today
    return (today.replace(day=28) + datetime.timedelta(days=4)).replace(day=RETIREMENT_RUN_DAY)


def retire_resident(*, resident_id: int, today: datetime.date | None = None) -> bool:
    """Remove the personal details of one closed record whose retention period has ended: the name,
    NHS number, date of birth and every free text, here and (through `resident_retired`) in the
    layers above and the change history. What the KPIs count (status, dates, practice, team,
    feedback score, service use) stays, tied to the anonymous record. False if there was nothing
    to do (already retired, reopened, or not yet due): safe to run twice."""
    with transaction.atomic(), pghistory.context(retention=f"{settings.INT_RETENTION_YEARS} years after closure"):
        resident = (
            Resident.objects.select_for_update(of=("self",))
            .due_for_retirement(today)
            .filter(pk=resident_id)
            .first()
        )
        if resident is None:
            return False
        now = timezone.now()
        Resident.objects.filter(pk=resident.pk).update(
            given_name=RETIRED_GIVEN_NAME,
            family_name=f"record {resident.pk}",
            nhs_number=REMOVED,
            date_of_birth=None,
            referral_reason=REMOVED,
            referrer=REMOVED,
            not_accepted_detail=REMOVED,
            feedback_comment=REMOVED,
            restriction_reason=REMOVED if resident.restricted_at is None else "Restricted before retirement",
            retired_at=now,
            updated_at=now,
        )
        resident.events.update(detail=REMOVED)
        resident.subject_access_requests.update(bundle=None)
        resident.goals.update(text=REMOVED)
        ResidentEvent.objects.create(
            resident=resident,
            kind=ResidentEvent.Kind.RETIRED,
            occurred_at=now,
            detail=f"Closed on {resident.closed_on:%d %B %Y}; kept {settings.INT_RETENTION_YEARS} years.",
        )
        resident.refresh_from_db()
        resident_retired.send(sender=Resident, resident=resident)
    log.info("resident_retired", resident_id=resident.pk)
    return True


def retire_due_records(today: datetime.date | None = None) -> list[int]:
    """Every record due for retirement, one transaction each, so a failure part-way keeps what was
    done and the next run carries on."""
    retired = []
    for resident_id in Resident.objects.due_for_retirement(today).order_by("pk").values_list("pk", flat=True):
        if retire_resident(resident_id=resident_id, today=today):
            retired.append(resident_id)
    return retired


# --- restriction -----------------------------------------------------------------------------------


def resident_restrict(*, resident: Resident, reason: str, by: User) -> None:
    """Restrict the record and tell the layers above, once it has committed, to stop using it."""
    from .signals import announce_resident_restricted

    with transaction.atomic():
        resident.restrict(reason=reason, by=by)
        announce_resident_restricted(resident)
