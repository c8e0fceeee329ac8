"""Who the coordinator might put on an agenda, under the headings a coordinator works through.

One query reads the team's open cases with everything the headings need (so the agenda page
reads in a fixed number of queries however many residents there are); the headings are then
worked out in Python. A resident who fits several headings is listed once, under the first
heading in the meeting's order, with the other reasons shown beside them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent

from .models import Action, AgendaItem, Meeting, MeetingSeries

Reason = AgendaItem.Reason

# How often an active resident should be reviewed, and when a case is a step-down candidate.
REVIEW_EVERY = dt.timedelta(weeks=4)
STEP_DOWN_AFTER = dt.timedelta(weeks=12)
SERVICE_USE_WINDOW = dt.timedelta(days=30)
AE_ATTENDANCES_THRESHOLD = 2
# A city-scale caseload can put hundreds under one heading: list the first few, search the rest.
SHOWN_PER_HEADING = 8

HEADINGS: dict[str, tuple[str, str]] = {
    Reason.NOT_REACHED: ("Not reached at the last meeting", "On an earlier agenda but not discussed since."),
    Reason.NEW_REFERRAL: ("New referrals awaiting triage", "Accept or not, and allocate a key worker."),
    Reason.OVERDUE_ACTIONS: ("Residents with overdue actions", "Actions past their due date by the meeting day."),
    Reason.OPEN_ACTIONS: ("Open actions coming back", "Open actions come back to the team until they are done."),
    Reason.SERVICE_USE: (
        "2 or more A&E attendances or an emergency admission in the last 30 days",
        "From the service-use extracts.",
    ),
    Reason.DUE_REVIEW: ("Active residents due review", "Not discussed in the last 4 weeks."),
    Reason.STEP_DOWN: ("Step-down candidates", "Active for 12 weeks or more."),
}

ORDER_BY_PURPOSE: dict[str, tuple[str, ...]] = {
    MeetingSeries.Purpose.TRIAGE: (
        Reason.NOT_REACHED,
        Reason.NEW_REFERRAL,
        Reason.OVERDUE_ACTIONS,
        Reason.SERVICE_USE,
        Reason.OPEN_ACTIONS,
        Reason.DUE_REVIEW,
        Reason.STEP_DOWN,
    ),
    MeetingSeries.Purpose.CASE_REVIEW: (
        Reason.NOT_REACHED,
        Reason.OVERDUE_ACTIONS,
        Reason.SERVICE_USE,
        Reason.OPEN_ACTIONS,
        Reason.DUE_REVIEW,
        Reason.STEP_DOWN,
        Reason.NEW_REFERRAL,
    ),
}


@dataclass
class Suggestion:
    resident: Resident
    reason: str
    detail: str
    other_reasons: list[str] = field(default_factory=list)

    @property
    def other_reason_labels(self) -> list[str]:
        return [HEADINGS[reason][0] for reason in self.other_reasons]


@dataclass
class SuggestionGroup:
    reason: str
    heading: str
    hint: str
    suggestions: list[Suggestion]
    total: int = 0

    @property
    def hidden(self) -> int:
        return self.total - len(self.suggestions)


def _count(model, *, resident_field: str = "resident", **filters) -> Subquery:
    counted = (
        model.objects.filter(**{resident_field: OuterRef("pk")}, **filters)
        .order_by()
        .values(resident_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _last_discussed_before(moment: dt.datetime, team_id: int) -> Subquery:
    return Subquery(
        AgendaItem.objects.filter(
            resident=OuterRef("pk"),
            outcome=AgendaItem.Outcome.DISCUSSED,
            meeting__team_id=team_id,
            meeting__starts_at__lt=moment,
        )
        .order_by()
        .values("resident")
        .annotate(last=Max("meeting__starts_at"))
        .values("last")
    )


def _fmt(day: dt.date | dt.datetime) -> str:
    if isinstance(day, dt.datetime):
        day = timezone.localdate(day)
    return f"{day:%-d %b %Y}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _candidates(meeting: Meeting) -> QuerySet[Resident]:
    """The team's open cases not yet on this agenda, with everything the headings need, in one
    query: when they were last discussed or not reached, their actions and recent service use."""
    since = timezone.localdate() - SERVICE_USE_WINDOW
    not_reached_at = Subquery(
        AgendaItem.objects.filter(
            resident=OuterRef("pk"),
            outcome=AgendaItem.Outcome.NOT_REACHED,
            meeting__team_id=meeting.team_id,
            meeting__starts_at__lt=meeting.starts_at,
        )
        .order_by()
        .values("resident")
        .annotate(last=Max("meeting__starts_at"))
        .values("last")
    )
    open_statuses = Action.Status.open_values()
    return (
        Resident.objects.filter(team_id=meeting.team_id, status__in=Resident.Status.open_values())
        .exclude(agenda_items__meeting=meeting)
        .select_related("key_worker")
        .annotate(
            not_reached_at=not_reached_at,
            last_discussed=_last_discussed_before(meeting.starts_at, meeting.team_id),
            open_actions=_count(Action, status__in=open_statuses),
            overdue_actions=_count(Action, status__in=open_statuses, due_date__lt=meeting.date),
            ae=_count(ServiceUseEvent, kind=ServiceUseEvent.Kind.AE_ATTENDANCE, date__gte=since),
            admissions=_count(ServiceUseEvent, kind=ServiceUseEvent.Kind.EMERGENCY_ADMISSION, date__gte=since),
        )
        .order_by("family_name", "given_name", "pk")
    )


def _reasons(resident: Resident, meeting: Meeting) -> dict[str, str]:
    """Every heading the resident fits, with the detail the coordinator sees beside their name."""
    reasons: dict[str, str] = {}
    if resident.not_reached_at and (resident.last_discussed is None or resident.last_discussed < resident.not_reached_at):
        reasons[Reason.NOT_REACHED] = f"Not reached on {_fmt(resident.not_reached_at)}"
    if resident.status == Resident.Status.REFERRED:
        reasons[Reason.NEW_REFERRAL] = f"Referred {_fmt(resident.referral_date)} by {resident.get_referral_source_display()}"
    if resident.overdue_actions:
        reasons[Reason.OVERDUE_ACTIONS] = _plural(resident.overdue_actions, "overdue action")
    if resident.open_actions:
        reasons[Reason.OPEN_ACTIONS] = _plural(resident.open_actions, "open action")
    if resident.ae >= AE_ATTENDANCES_THRESHOLD or resident.admissions:
        parts = [_plural(resident.ae, "A&E attendance")] if resident.ae else []
        parts += [_plural(resident.admissions, "emergency admission")] if resident.admissions else []
        reasons[Reason.SERVICE_USE] = " and ".join(parts) + " in 30 days"
    if resident.status == Resident.Status.ACTIVE:
        if resident.last_discussed is None or resident.last_discussed < meeting.starts_at - REVIEW_EVERY:
            reasons[Reason.DUE_REVIEW] = (
                f"Last discussed {_fmt(resident.last_discussed)}" if resident.last_discussed else "Not discussed yet"
            )
        if resident.intervention_start and resident.intervention_start <= meeting.date - STEP_DOWN_AFTER:
            weeks = (meeting.date - resident.intervention_start).days // 7
            reasons[Reason.STEP_DOWN] = f"Active since {_fmt(resident.intervention_start)} ({weeks} weeks)"
    return reasons


def agenda_suggestions(*, meeting: Meeting, shown: int = SHOWN_PER_HEADING) -> list[SuggestionGroup]:
    """The headings in the meeting's order. Each resident appears once, under the first heading
    they fit; at most `shown` per heading are listed (the search finds the rest)."""
    order = ORDER_BY_PURPOSE[meeting.series.purpose]
    groups = {reason: SuggestionGroup(reason, *HEADINGS[reason], suggestions=[]) for reason in order}
    for resident in _candidates(meeting):
        reasons = _reasons(resident, meeting)
        fitting = [reason for reason in order if reason in reasons]
        if fitting:
            first = fitting[0]
            groups[first].suggestions.append(
                Suggestion(resident=resident, reason=first, detail=reasons[first], other_reasons=fitting[1:])
            )
    referrals = groups[Reason.NEW_REFERRAL]
    referrals.suggestions.sort(key=lambda s: (s.resident.referral_date, s.resident.pk))
    for group in groups.values():
        group.total = len(group.suggestions)
        group.suggestions = group.suggestions[:shown]
    return list(groups.values())


def resident_search(*, meeting: Meeting, query: str, limit: int = 10) -> list[Resident]:
    """Any of the team's open cases not yet on the agenda, by name or NHS number."""
    if len(query.strip()) < 2:
        return []
    return list(
        Resident.objects.filter(team_id=meeting.team_id, status__in=Resident.Status.open_values())
        .exclude(agenda_items__meeting=meeting)
        .matching(query)
        .order_by("family_name", "given_name")[:limit]
    )
