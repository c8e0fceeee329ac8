"""An incremental KPI run keeps the comparison people of residents whose inputs did not change and
searches again for the rest (docs/adr/0027-matched-pairs-reused.md); whatever it reuses, it stores
what a full run, searching for everyone, stores."""

import datetime
import random

from caseload.models import PopulationExtract, Resident, add_months
from caseload.records import retire_resident
from kpis.compute import kpis_recompute
from kpis.models import KpiRun, MatchedBalance, MatchedEpisode, MatchedPair, MatchedValue
from tests.factories import PCNFactory, PracticeFactory

from .kpi_builders import contacts_on, not_supported
from .matched_builders import AE, MONTHS, PRIMARY, Person, World, load_world, nhs_numbers, pairs_of, start_month

WOMEN = 40


def two_sex_world(team, seed: int = 7) -> World:
    """80 people of two PCNs (one small, so some residents fall back to the place), the first 40
    women and the rest men, born in one year; four supported residents of each sex."""
    rng = random.Random(seed)
    big = team.practices.order_by("pk").first()
    small = PracticeFactory(pcn=PCNFactory(neighbourhood=team.neighbourhood))
    people = []
    for index, number in enumerate(nhs_numbers(2 * WOMEN)):
        person = Person(number, rng.choice([big, big, small]), 1955, "F" if index < WOMEN else "M")
        for month in MONTHS:
            for kind in (PRIMARY, AE):
                if rng.random() < 0.2:
                    person.contacts[(month, kind)] = rng.randint(1, 2)
        people.append(person)
    starts = {index: start_month(rng.choice([7, 9, 12])) for index in (0, 1, 2, 3, WOMEN, WOMEN + 1, WOMEN + 2, WOMEN + 3)}
    return load_world(team, people, starts)


def matched_rows(run: KpiRun) -> dict[str, list[tuple]]:
    """Everything the matched comparison stored for a run, without the run."""

    def rows(model) -> list[tuple]:
        fields = [f.attname for f in model._meta.fields if f.attname not in ("id", "run_id")]
        return sorted(model.objects.filter(run=run).values_list(*fields), key=repr)

    return {"pairs": rows(MatchedPair), "values": rows(MatchedValue), "balance": rows(MatchedBalance)}


def test_after_a_service_use_import_the_incremental_run_reuses_every_match_and_stores_what_a_full_run_does(own_team):
    world = two_sex_world(own_team)
    first = kpis_recompute()
    assert first.residents_searched == len(world.residents)
    contacts_on(world.residents[0], start_month(1), start_month(2))

    incremental = kpis_recompute(full=False)

    assert incremental.mode == KpiRun.Mode.INCREMENTAL
    assert incremental.residents_searched == 0
    assert len(matched_rows(incremental)["pairs"]) > 10
    assert matched_rows(incremental) == matched_rows(kpis_recompute(full=True))


def test_a_new_extract_has_every_resident_searched_for_again(own_team):
    world = two_sex_world(own_team)
    kpis_recompute()
    # The next version: one woman's contacts before the residents' starts doubled.
    changed = world.people[5]
    for month in MONTHS[:12]:
        changed.contacts[(month, PRIMARY)] = 2 * changed.contacts.get((month, PRIMARY), 0) + 1
    load_world(own_team, world.people, {})
    assert PopulationExtract.objects.current().count() == 1

    incremental = kpis_recompute(full=False)

    assert incremental.residents_searched == len(world.residents)
    assert matched_rows(incremental) == matched_rows(kpis_recompute(full=True))


def test_a_moved_start_has_that_resident_alone_searched_for_again(own_team):
    world = two_sex_world(own_team)
    first = kpis_recompute()
    moved = world.residents[WOMEN + 1]
    Resident.objects.filter(pk=moved.pk).update(
        intervention_start=add_months(moved.intervention_start, -1), updated_at=datetime.datetime.now(datetime.UTC)
    )

    incremental = kpis_recompute(full=False)

    assert incremental.residents_searched == 1
    assert pairs_of(incremental)[moved.pk] != pairs_of(first)[moved.pk]
    assert matched_rows(incremental) == matched_rows(kpis_recompute(full=True))


def test_a_comparison_person_referred_since_has_the_residents_of_their_sex_searched_for_again(own_team):
    world = two_sex_world(own_team)
    first = kpis_recompute()
    woman = world.residents[0]
    chosen = pairs_of(first)[woman.pk][0]
    person = next(p for p in world.people if p.nhs_number == chosen)
    # Referred during the woman's window: no longer anyone's comparison then.
    not_supported(own_team, referred=woman.intervention_start, practice=person.practice, nhs_number=chosen)

    incremental = kpis_recompute(full=False)

    women = sum(1 for index in world.residents if index < WOMEN)
    assert 0 < incremental.residents_searched <= women
    assert chosen not in pairs_of(incremental)[woman.pk]
    assert matched_rows(incremental) == matched_rows(kpis_recompute(full=True))


def test_a_full_run_searches_for_everyone_again(own_team):
    world = two_sex_world(own_team)
    kpis_recompute()
    assert kpis_recompute(full=True).residents_searched == len(world.residents)


def test_a_retired_record_leaves_no_nhs_number_behind_and_the_next_run_searches_for_everyone(own_team):
    world = two_sex_world(own_team)
    first = kpis_recompute()
    woman = world.residents[0]
    chosen = pairs_of(first)[woman.pk][0]
    # Once referred and closed long ago: no one's comparison while their NHS number is on record.
    person = next(p for p in world.people if p.nhs_number == chosen)
    closed = not_supported(own_team, referred=datetime.date(2015, 1, 5), practice=person.practice, nhs_number=chosen)
    Resident.objects.filter(pk=closed.pk).update(closed_on=datetime.date(2015, 3, 1), status=Resident.Status.CLOSED)
    kpis_recompute(full=False)
    assert MatchedEpisode.objects.filter(nhs_number=chosen).exists()

    assert retire_resident(resident_id=closed.pk)  # eight years after its closing

    assert not MatchedEpisode.objects.filter(nhs_number=chosen).exists()
    incremental = kpis_recompute(full=False)
    assert incremental.residents_searched == len(world.residents)
    assert matched_rows(incremental) == matched_rows(kpis_recompute(full=True))
