"""Case finding: people of the team's current population extract whom nobody has referred, ranked
by recent and rising emergency use, each with the reason in words. The ranking's figures are
written with the extract (PopulationPerson's summary columns); this module says them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from .models import EMERGENCY_KINDS, KIND_NUMBERS, RECENT_MONTHS, PopulationExtract, PopulationPerson, Resident, ServiceUseEvent

# Age bands for the filter, by age at the extract's last month: (value, label, youngest, oldest).
AGE_BANDS: tuple[tuple[str, str, int, int], ...] = (
    ("0-17", "Under 18", 0, 17),
    ("18-49", "18 to 49", 18, 49),
    ("50-64", "50 to 64", 50, 64),
    ("65-74", "65 to 74", 65, 74),
    ("75-84", "75 to 84", 75, 84),
    ("85+", "85 and over", 85, 130),
)
# How each kind is counted in words: (one, many).
KIND_WORDS: dict[str, tuple[str, str]] = {
    ServiceUseEvent.Kind.PRIMARY_CARE_APPOINTMENT: ("primary care appointment", "primary care appointments"),
    ServiceUseEvent.Kind.AE_ATTENDANCE: ("A&E attendance", "A&E attendances"),
    ServiceUseEvent.Kind.EMERGENCY_ADMISSION: ("emergency admission", "emergency admissions"),
    ServiceUseEvent.Kind.AMBULANCE_CALLOUT: ("ambulance call-out", "ambulance call-outs"),
    ServiceUseEvent.Kind.NHS_111_CALL: ("NHS 111 call", "NHS 111 calls"),
    ServiceUseEvent.Kind.SOCIAL_CARE_CONTACT: ("social care contact", "social care contacts"),
    ServiceUseEvent.Kind.COMMUNITY_HEALTH_CONTACT: ("community health contact", "community health contacts"),
    ServiceUseEvent.Kind.MENTAL_HEALTH_CONTACT: ("mental health contact", "mental health contacts"),
}


def counted(n: int, kind: str | None = None) -> str:
    one, many = KIND_WORDS[kind] if kind else ("contact", "contacts")
    return f"{n} {one if n == 1 else many}"


def in_words(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def since_words(recent_from: datetime.date, last_month: datetime.date) -> str:
    return f"since {recent_from:%B}" if recent_from.year == last_month.year else f"since {recent_from:%B %Y}"


def reason_for(person: PopulationPerson, extract: PopulationExtract) -> str:
    """"4 A&E attendances and 2 emergency admissions since June, up from 1 in the six months
    before": emergency use when there is any, else all contacts, set against the six months before."""
    since = since_words(extract.recent_from, extract.last_month)
    by_kind = person.recent_by_kind or [0] * len(KIND_NUMBERS)
    if person.recent_emergency:
        parts = [counted(by_kind[KIND_NUMBERS[kind] - 1], kind) for kind in EMERGENCY_KINDS if by_kind[KIND_NUMBERS[kind] - 1]]
        now, before = person.recent_emergency, person.before_emergency
    else:
        parts = [counted(person.recent_total)]
        now, before = person.recent_total, person.before_total
    if now > before:
        change = f"up from {before} in the six months before"
    elif now < before:
        change = f"down from {before} in the six months before"
    else:
        change = "as many as in the six months before"
    return f"{in_words(parts)} {since}, {change}"


@dataclass(frozen=True)
class Candidate:
    person: PopulationPerson
    reason: str
    age: int
    refer_url: str


def candidates_for(people: list[PopulationPerson], extract: PopulationExtract) -> list[Candidate]:
    refer = reverse("caseload:refer")
    return [
        Candidate(
            person=person,
            reason=reason_for(person, extract),
            age=extract.last_month.year - person.birth_year,
            refer_url=f"{refer}?"
            + urlencode(
                {
                    "nhs_number": person.nhs_number,
                    "practice": person.practice_id,
                    "birth_year": person.birth_year,
                    "source": Resident.ReferralSource.CASE_FINDING,
                }
            ),
        )
        for person in people
    ]


__all__ = ["AGE_BANDS", "RECENT_MONTHS", "Candidate", "candidates_for", "reason_for"]
