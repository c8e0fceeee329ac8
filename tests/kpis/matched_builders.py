"""Worlds for the matched comparison: a team's population extract (people with monthly contacts)
and supported residents who are people of it, built straight into the tables; a plain-Python
matcher to check the SQL one against; and seeded simulations with regression to the mean."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

from caseload.demo import population_nhs_number
from caseload.models import EMERGENCY_KINDS, PopulationPerson, Resident, ServiceUseEvent, add_months
from caseload.population import population_load_unchecked
from int_app.teams.models import Practice, Team
from kpis.matching import AGE_BAND_YEARS, MATCH_MONTHS, MATCHES, TREND_MONTHS
from kpis.models import MatchedPair

from .kpi_builders import TODAY, supported

PRIMARY = ServiceUseEvent.Kind.PRIMARY_CARE_APPOINTMENT
AE = ServiceUseEvent.Kind.AE_ATTENDANCE
LAST_MONTH = add_months(TODAY.replace(day=1), -1)
# 24 months ending last month: starts 6 to 12 months ago have their whole reach inside it.
MONTHS = [add_months(LAST_MONTH, -back) for back in reversed(range(24))]
START_MONTHS_AGO = range(6, 13)


def start_month(months_ago: int) -> datetime.date:
    return add_months(TODAY.replace(day=1), -months_ago)


@dataclass
class Person:
    nhs_number: str
    practice: Practice
    birth_year: int
    sex: str
    # (month, kind) -> contacts
    contacts: dict[tuple[datetime.date, str], int] = field(default_factory=dict)

    def between(self, first: datetime.date, end: datetime.date, kinds: tuple[str, ...] | None = None) -> int:
        return sum(n for (month, kind), n in self.contacts.items() if first <= month < end and (kinds is None or kind in kinds))

    def rows(self) -> list[tuple]:
        return [
            (self.nhs_number, self.practice.pk, self.birth_year, self.sex, month, kind, n)
            for (month, kind), n in sorted(self.contacts.items())
            if n > 0
        ]


@dataclass
class World:
    team: Team
    people: list[Person]
    # The residents, as (person index, start)
    residents: dict[int, Resident] = field(default_factory=dict)


def load_world(team: Team, people: list[Person], supported_people: dict[int, datetime.date], *, team_number: int = 0) -> World:
    """The extract of `people`, and a supported resident for each index in `supported_people`,
    with that person's NHS number and practice, started on the given day."""
    rows = [row for person in people for row in person.rows()]
    # The extract must reach its months even where nobody had a contact in them.
    if not any(row[4] == MONTHS[0] for row in rows) or not any(row[4] == MONTHS[-1] for row in rows):
        anchor = people[0]
        for month in (MONTHS[0], MONTHS[-1]):
            anchor.contacts[(month, PRIMARY)] = anchor.contacts.get((month, PRIMARY), 0) + 1
        rows = [row for person in people for row in person.rows()]
    population_load_unchecked(team=team, rows=rows, file_name="test.csv")
    world = World(team, people)
    for index, start in supported_people.items():
        person = people[index]
        world.residents[index] = supported(
            team, start=start, practice=person.practice, nhs_number=person.nhs_number,
            date_of_birth=datetime.date(person.birth_year, 6, 1),
        )
    # Their service use, as the extract counts it, so the before/after figures see the same.
    ServiceUseEvent.objects.bulk_create(
        ServiceUseEvent(resident=resident, date=month + datetime.timedelta(days=day), kind=kind, source="TEST",
                        source_id=f"M{resident.pk}-{month:%Y%m}-{kind}-{day}")
        for index, resident in world.residents.items()
        for (month, kind), n in people[index].contacts.items()
        for day in range(n)
    )
    return world


def nhs_numbers(count: int, team_number: int = 0) -> list[str]:
    return [population_nhs_number(team_number, index) for index in range(count)]


def pairs_of(run) -> dict[int, list[str]]:
    """Each resident's comparison people (NHS numbers) in rank order, from the stored pairs."""
    numbers = dict(PopulationPerson.objects.values_list("pk", "nhs_number"))
    chosen: dict[int, list[str]] = {}
    for pair in MatchedPair.objects.filter(run=run).order_by("resident_id", "rank"):
        chosen.setdefault(pair.resident_id, []).append(numbers[pair.comparison_id])
    return chosen


# --- the reference matcher, in plain Python ---------------------------------------------------------


def reference_pairs(world: World) -> dict[int, list[str]]:
    """What the SQL matcher should choose, written out the slow, obvious way."""
    on_caseload = {resident.nhs_number: resident for resident in world.residents.values()}
    chosen: dict[int, list[str]] = {}
    for index, resident in world.residents.items():
        me = world.people[index]
        m0 = resident.intervention_start.replace(day=1)
        year = resident.intervention_start.year
        band = (year - me.birth_year) // AGE_BAND_YEARS

        def features(person: Person, m0=m0) -> tuple[int, int, int]:
            start, trend_start = add_months(m0, -MATCH_MONTHS), add_months(m0, -(MATCH_MONTHS + TREND_MONTHS))
            return person.between(start, m0), person.between(start, m0, EMERGENCY_KINDS), person.between(trend_start, start)

        mine = features(me)

        if not me.rows():
            continue  # not in the extract (it lists people with a contact): unmatched

        def eligible(person: Person, me=me, year=year, band=band) -> bool:
            return (
                person is not me
                # The extract has a row only for a month and kind with contacts: a person with
                # none in its months is not in it.
                and bool(person.rows())
                and person.nhs_number not in on_caseload
                and person.sex == me.sex
                and (year - person.birth_year) // AGE_BAND_YEARS == band
            )

        def ranked(people: list[Person], mine=mine) -> list[str]:
            def key(person: Person) -> tuple:
                total, emergency, trend = features(person)
                return (abs(total - mine[0]) + abs(emergency - mine[1]), abs(trend - mine[2]), person.nhs_number)

            return [person.nhs_number for person in sorted(people, key=key)[:MATCHES]]

        same_pcn = [p for p in world.people if eligible(p) and p.practice.pcn_id == me.practice.pcn_id]
        picks = ranked(same_pcn)
        if len(picks) < MATCHES:
            picks = ranked([p for p in world.people if eligible(p)])
        if picks:
            chosen[resident.pk] = picks
    return chosen


# --- simulations ---------------------------------------------------------------------------------------


def simulated_world(team: Team, *, seed: int, people: int, residents: int, effect_of_baseline: float) -> tuple[World, dict]:
    """A population whose need is stable but whose months are noisy (Poisson counts, and passing
    spells of heavier use). Residents are referred at a peak: the more contacts in the six months
    before their start, the likelier. Their follow-up is what it would have been, less
    `effect_of_baseline` × their baseline contacts (the effect in the units the estimate reports:
    contacts prevented as a share of the residents' baseline), taken contact by contact."""
    rng = random.Random(seed)
    practice = team.practices.order_by("pk").first()
    numbers = nhs_numbers(people)
    year = TODAY.year
    population = []
    for index in range(people):
        need = rng.gammavariate(1.2, 0.6)
        person = Person(numbers[index], practice, year - 75, "F")
        spell = 0
        for month in MONTHS:
            if spell == 0 and rng.random() < 0.04:
                spell = rng.randint(2, 5)
            rate = need * (2.5 if spell else 1.0)
            spell = max(spell - 1, 0)
            for kind, share in ((PRIMARY, 0.7), (AE, 0.3)):
                n = _poisson(rng, rate * share)
                if n:
                    person.contacts[(month, kind)] = n
        population.append(person)
    starts = {}
    for index in range(people):
        starts[index] = start_month(rng.choice(list(START_MONTHS_AGO)))
    # Referred at a peak: the more contacts in the six months before their start, the likelier
    # (a weight of the count squared), a few in every hundred people as in a city.
    def recent(index: int) -> int:
        return population[index].between(add_months(starts[index], -MATCH_MONTHS), starts[index])

    weights = {index: recent(index) ** 2 for index in range(people)}
    chosen: list[int] = []
    while len(chosen) < residents:
        pick = rng.choices(list(weights), weights=list(weights.values()))[0]
        chosen.append(pick)
        del weights[pick]
    truth = {"baseline": 0, "prevented": 0}
    for index in chosen:
        person, m0 = population[index], starts[index]
        baseline = person.between(add_months(m0, -6), m0)
        to_remove = sum(1 for _ in range(baseline) if rng.random() < effect_of_baseline)
        truth["baseline"] += baseline
        follow_up = [key for key in sorted(person.contacts) if m0 <= key[0] < add_months(m0, 6) for _ in range(person.contacts[key])]
        rng.shuffle(follow_up)
        for key in follow_up[:to_remove]:
            person.contacts[key] -= 1
            truth["prevented"] += 1
    world = load_world(team, population, {index: starts[index] for index in chosen})
    return world, truth


def _poisson(rng: random.Random, rate: float) -> int:
    # Knuth's method: the rates here are small.
    import math

    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
