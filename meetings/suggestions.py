"""Who the coordinator might put on an agenda, under the headings a coordinator works through.

One query reads the team's open cases, as rows, with everything the headings need; the headings
are then worked out in Python, and a second query reads the few residents each heading lists. So
the agenda page reads in a fixed number of queries however many residents there are. A resident who fits several headings is listed once, under the first
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


def _last_meeting_with(outcome: str, meeting: Meeting) -> Subquery:
    """When the resident's item last had `outcome` at one of the team's meetings before this one."""
    return Subquery(
        AgendaItem.objects.filter(
            resident=OuterRef("pk"),
            outcome=outcome,
            meeting__team_id=meeting.team_id,
            meeting__starts_at__lt=meeting.starts_at,
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


# What the headings read of each open case. Rows, not model instances: a city-scale team has a
# thousand open cases and only the few listed under each heading are needed as residents.
CANDIDATE_FIELDS = ("pk", "status", "referral_date", "referral_source", "intervention_start")
REFERRAL_SOURCES = dict(Resident.ReferralSource.choices)


def _candidates(meeting: Meeting) -> QuerySet:
    """The team's open cases not yet on this agenda, with everything the headings need, in one
    query: when they were last discussed or not reached, their actions and recent service use."""
    since = timezone.localdate() - SERVICE_USE_WINDOW
    open_statuses = Action.Status.open_values()
    return (
        Resident.objects.open_to_planning()
        .filter(team_id=meeting.team_id, status__in=Resident.Status.open_values())
        .exclude(agenda_items__meeting=meeting)
        .annotate(
            not_reached_at=_last_meeting_with(AgendaItem.Outcome.NOT_REACHED, meeting),
            last_discussed=_last_meeting_with(AgendaItem.Outcome.DISCUSSED, meeting),
            open_actions=_count(Action, status__in=open_statuses),
            overdue_actions=_count(Action, status__in=open_statuses, due_date__lt=meeting.date),
            ae=_count(ServiceUseEvent, kind=ServiceUseEvent.Kind.AE_ATTENDANCE, date__gte=since),
            admissions=_count(ServiceUseEvent, kind=ServiceUseEvent.Kind.EMERGENCY_ADMISSION, date__gte=since),
        )
        .order_by("family_name", "given_name", "pk")
        .values(
            *CANDIDATE_FIELDS, "not_reached_at", "last_discussed", "open_actions", "overdue_actions", "ae", "admissions"
        )
    )


def _headings_fitted(case: dict, meeting: Meeting) -> set[str]:
    """Every heading the open case (a row of `_candidates`) fits."""
    fitted = set()
    not_reached_at, last_discussed = case["not_reached_at"], case["last_discussed"]
    if not_reached_at and (last_discussed is None or last_discussed < not_reached_at):
        fitted.add(Reason.NOT_REACHED)
    if case["status"] == Resident.Status.REFERRED:
        fitted.add(Reason.NEW_REFERRAL)
    if case["overdue_actions"]:
        fitted.add(Reason.OVERDUE_ACTIONS)
    if case["open_actions"]:
        fitted.add(Reason.OPEN_ACTIONS)
    if case["ae"] >= AE_ATTENDANCES_THRESHOLD or case["admissions"]:
        fitted.add(Reason.SERVICE_USE)
    if case["status"] == Resident.Status.ACTIVE:
        # By London's calendar: 4 weeks before a 13:00 meeting is 13:00 local, whether or not the
        # clocks changed in between (UTC arithmetic would be an hour out either side of a change).
        if last_discussed is None or timezone.localdate(last_discussed) < meeting.date - REVIEW_EVERY:
            fitted.add(Reason.DUE_REVIEW)
        if case["intervention_start"] and case["intervention_start"] <= meeting.date - STEP_DOWN_AFTER:
            fitted.add(Reason.STEP_DOWN)
    return fitted


def _detail(case: dict, reason: str, meeting: Meeting) -> str:
    """What the coordinator sees beside the name of a case listed under `reason`'s heading."""
    match reason:
        case Reason.NOT_REACHED:
            return f"Not reached on {_fmt(case['not_reached_at'])}"
        case Reason.NEW_REFERRAL:
            source = REFERRAL_SOURCES.get(case["referral_source"], case["referral_source"])
            return f"Referred {_fmt(case['referral_date'])} by {source}"
        case Reason.OVERDUE_ACTIONS:
            return _plural(case["overdue_actions"], "overdue action")
        case Reason.OPEN_ACTIONS:
            return _plural(case["open_actions"], "open action")
        case Reason.SERVICE_USE:
            parts = [_plural(case["ae"], "A&E attendance")] if case["ae"] else []
            parts += [_plural(case["admissions"], "emergency admission")] if case["admissions"] else []
            return " and ".join(parts) + " in 30 days"
        case Reason.DUE_REVIEW:
            return f"Last discussed {_fmt(case['last_discussed'])}" if case["last_discussed"] else "Not discussed yet"
        case Reason.STEP_DOWN:
            weeks = (meeting.date - case["intervention_start"]).days // 7
            return f"Active since {_fmt(case['intervention_start'])} ({weeks} weeks)"
    raise ValueError(f"No heading {reason!r}")


def agenda_suggestions(*, meeting: Meeting, shown: int = SHOWN_PER_HEADING) -> list[SuggestionGroup]:
    """The headings in the meeting's order. Each resident appears once, under the first heading
    they fit; at most `shown` per heading are listed (the search finds the rest). Two queries
    however large the caseload: the open cases as rows, then the residents listed."""
    order = ORDER_BY_PURPOSE[meeting.series.purpose]
    fitting_cases: dict[str, list[tuple[dict, list[str]]]] = {reason: [] for reason in order}
    for case in _candidates(meeting):
        fitted = _headings_fitted(case, meeting)
        if fitted:
            in_order = [reason for reason in order if reason in fitted]
            fitting_cases[in_order[0]].append((case, in_order))
    fitting_cases[Reason.NEW_REFERRAL].sort(key=lambda found: (found[0]["referral_date"], found[0]["pk"]))
    listed = {reason: found[:shown] for reason, found in fitting_cases.items()}
    residents = Resident.objects.in_bulk([case["pk"] for found in listed.values() for case, _ in found])
    return [
        SuggestionGroup(
            reason,
            *HEADINGS[reason],
            suggestions=[
                Suggestion(resident=residents[case["pk"]], reason=reason, detail=_detail(case, reason, meeting), other_reasons=in_order[1:])
                for case, in_order in listed[reason]
                if case["pk"] in residents  # not deleted between the two queries
            ],
            total=len(fitting_cases[reason]),
        )
        for reason in order
    ]


def resident_search(*, meeting: Meeting, query: str, limit: int = 10) -> list[Resident]:
    """Any of the team's open cases not yet on the agenda, by name or NHS number."""
    if len(query.strip()) < 2:
        return []
    return list(
        Resident.objects.open_to_planning()
        .filter(team_id=meeting.team_id, status__in=Resident.Status.open_values())
        .exclude(agenda_items__meeting=meeting)
        .matching(query)
        .order_by("family_name", "given_name")[:limit]
    )
