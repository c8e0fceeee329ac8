"""The matched comparison: each supported resident gets up to three people of the team's extract who
were not supported and were alike at the start; the effect is the change beyond theirs."""

import datetime
import random

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload.models import add_months
from kpis.compute import kpis_recompute
from kpis.matching import MATCHES, SMD_BAR
from kpis.models import ALL_KINDS, Level, MatchedBalance, MatchedPair, MatchedValue
from kpis.statistics import MatchedSums, matched_effect
from tests.factories import PCNFactory, PracticeFactory

from .kpi_builders import figure
from .matched_builders import (
    AE,
    MONTHS,
    PRIMARY,
    Person,
    load_world,
    nhs_numbers,
    pairs_of,
    reference_pairs,
    simulated_world,
    start_month,
)


def matched_sums(run, team, kind=ALL_KINDS) -> MatchedSums:
    row = MatchedValue.objects.get(run=run, level=Level.TEAM, unit_id=team.pk, kind=kind, period=None)
    return MatchedSums(
        row.eligible, row.n, row.comparisons, row.baseline, row.difference,
        row.baseline_sq, row.difference_sq, row.baseline_difference,
    )


# --- the matcher ---------------------------------------------------------------------------------------


@st.composite
def small_worlds(draw):
    """A few residents and a few dozen people: two PCNs (one small, so some residents fall back to
    the place), two sexes, two age bands, and sparse random contacts that make many ties."""
    people = draw(st.integers(min_value=6, max_value=30))
    residents = draw(st.integers(min_value=1, max_value=min(6, people - 1)))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    return people, residents, seed


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=small_worlds())
def test_the_sql_matcher_chooses_what_the_plain_python_reference_chooses(own_team, world):
    people_count, resident_count, seed = world
    rng = random.Random(seed)
    with transaction.atomic():
        big = own_team.practices.order_by("pk").first()
        small = PracticeFactory(pcn=PCNFactory(neighbourhood=own_team.neighbourhood))
        people = []
        for number in nhs_numbers(people_count):
            person = Person(number, rng.choice([big, big, small]), rng.choice([1950, 1955, 1962]), rng.choice("FFM"))
            for month in MONTHS:
                for kind in (PRIMARY, AE):
                    if rng.random() < 0.15:
                        person.contacts[(month, kind)] = rng.randint(1, 2)
            people.append(person)
        chosen = rng.sample(range(people_count), resident_count)
        world = load_world(own_team, people, {index: start_month(rng.choice([7, 9, 12])) for index in chosen})
        run = kpis_recompute()
        assert pairs_of(run) == reference_pairs(world)
        transaction.set_rollback(True)


def test_ties_are_broken_by_nhs_number_whatever_order_people_were_loaded_in(own_team):
    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(6)
    # The resident, and five people exactly alike in every matching variable.
    people = [Person(number, practice, 1950, "F", {(add_months(start_month(9), -2), AE): 2}) for number in numbers]
    shuffled = [people[0], *reversed(people[1:])]
    load_world(own_team, shuffled, {0: start_month(9)})
    run = kpis_recompute()
    assert list(pairs_of(run).values()) == [sorted(numbers[1:])[:MATCHES]]
    again = kpis_recompute()
    assert pairs_of(again) == pairs_of(run)


def test_a_resident_with_no_eligible_comparison_is_counted_as_unmatched(own_team):
    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(14)
    # Twelve residents, all of one sex and age; the only other people are men, or much younger.
    people = [Person(number, practice, 1950, "F", {(MONTHS[5], AE): 1}) for number in numbers[:12]]
    people += [Person(numbers[12], practice, 1950, "M"), Person(numbers[13], practice, 1990, "F")]
    load_world(own_team, people, {index: start_month(9) for index in range(12)})
    run = kpis_recompute()
    assert not MatchedPair.objects.filter(run=run).exists()
    sums = matched_sums(run, own_team)
    assert (sums.eligible, sums.n) == (12, 0)
    assert matched_effect(sums).pct is None


def test_a_resident_on_a_caseload_or_referred_in_the_window_is_nobody_s_comparison(own_team):
    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(5)
    people = [Person(number, practice, 1950, "F", {(MONTHS[10], AE): 1}) for number in numbers]
    world = load_world(own_team, people, {0: start_month(9), 1: start_month(12), 2: start_month(7)})
    run = kpis_recompute()
    chosen = pairs_of(run)
    # Person 1 was on the caseload at resident 0's start; person 2 was referred in their window.
    assert chosen[world.residents[0].pk] == sorted(numbers[3:])
    assert not {numbers[0], numbers[1], numbers[2]} & {n for picks in chosen.values() for n in picks}


def test_people_once_referred_and_free_at_the_start_compete_with_everyone_else_by_nhs_number(own_team):
    from caseload.models import Resident
    from tests.factories import ResidentFactory

    from .kpi_builders import supported

    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(7)
    m0 = start_month(9)
    # The resident, and six people exactly alike in every matching variable.
    people = [Person(number, practice, 1950, "F", {(add_months(m0, -2), AE): 2}) for number in numbers]
    world = load_world(own_team, people, {0: m0})
    first, second, third, *rest = sorted(numbers[1:])
    # The first two by NHS number were referred long before and not accepted: free at the start,
    # so still comparisons. The third has been supported since the month before: not.
    for number in (first, second):
        referred = add_months(m0, -20)
        ResidentFactory(
            team=own_team, practice=practice, nhs_number=number, referral_date=referred, status=Resident.Status.NOT_ACCEPTED,
            triaged_on=referred + datetime.timedelta(days=3), not_accepted_reason="does_not_meet_criteria",
        )
    supported(own_team, start=add_months(m0, -1), practice=practice, nhs_number=third)
    run = kpis_recompute()
    assert pairs_of(run)[world.residents[0].pk] == [first, second, rest[0]]


# --- the effect ---------------------------------------------------------------------------------------


def test_the_effect_is_the_residents_change_less_their_comparisons_mean_change_over_their_baseline(own_team):
    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(4)
    m0 = start_month(9)
    before, after = add_months(m0, -1), add_months(m0, 1)
    # The resident: 6 A&E attendances before, 2 after (−4). Comparisons alike before: −3, −1, −2.
    people = [
        Person(numbers[0], practice, 1950, "F", {(before, AE): 6, (after, AE): 2}),
        Person(numbers[1], practice, 1950, "F", {(before, AE): 6, (after, AE): 3}),
        Person(numbers[2], practice, 1950, "F", {(before, AE): 6, (after, AE): 5}),
        Person(numbers[3], practice, 1950, "F", {(before, AE): 6, (after, AE): 4}),
    ]
    load_world(own_team, people, {0: m0})
    run = kpis_recompute()
    sums = matched_sums(run, own_team, AE)
    # d = −4 − mean(−3, −1, −2) = −2, over a baseline of 6.
    assert (sums.n, sums.comparisons, sums.baseline, sums.difference) == (1, 3, 6, -2)
    assert matched_effect(sums).pct == pytest.approx(-100 / 3)
    month = MatchedValue.objects.get(run=run, level=Level.TEAM, unit_id=own_team.pk, kind=AE, period=m0)
    assert month.difference == -2


@pytest.mark.parametrize("seed", [11, 12])
def test_with_regression_to_the_mean_and_no_effect_the_fall_is_large_but_the_matched_interval_covers_0(own_team, seed):
    simulated_world(own_team, seed=seed, people=6000, residents=300, effect_of_baseline=0.0)
    run = kpis_recompute()
    before_after = figure(run, own_team.pk)
    # The before/after figure claims a clear fall...
    assert before_after.pct_change < -10 and before_after.ci_high < 0
    # ...that similar people not supported had too.
    effect = matched_effect(matched_sums(run, own_team))
    assert effect.n == 300
    assert effect.ci_low < 0 < effect.ci_high


@pytest.mark.parametrize("seed", [21, 22])
def test_with_a_true_effect_of_minus_15_percent_the_interval_covers_it_and_excludes_0(own_team, seed):
    _world, truth = simulated_world(own_team, seed=seed, people=6000, residents=300, effect_of_baseline=0.15)
    run = kpis_recompute()
    effect = matched_effect(matched_sums(run, own_team))
    assert truth["prevented"] / truth["baseline"] == pytest.approx(0.15, abs=0.02)
    assert effect.ci_low < -15 < effect.ci_high
    assert effect.ci_high < 0


def test_balance_is_stored_per_team_and_matching_brings_baseline_use_within_the_bar(own_team):
    simulated_world(own_team, seed=31, people=6000, residents=300, effect_of_baseline=0.0)
    run = kpis_recompute()
    balance = {row.variable: row for row in MatchedBalance.objects.filter(run=run, team=own_team)}
    assert set(balance) == {"baseline_contacts", "baseline_emergency", "trend_contacts", "age", "female"}
    # Residents were referred at a peak: far from everyone before matching, alike after.
    assert balance["baseline_contacts"].smd_before > 1
    assert abs(balance["baseline_contacts"].smd_after) <= SMD_BAR
    assert balance["baseline_contacts"].eligible == 300 and balance["baseline_contacts"].matched == 300


def test_without_an_extract_nothing_is_matched_and_the_run_succeeds(own_team):
    from .kpi_builders import before_and_after, supported

    before_and_after(supported(own_team), 3, 1)
    run = kpis_recompute()
    assert not MatchedValue.objects.filter(run=run).exists()


def test_a_new_extract_is_followed_by_a_recompute_that_matches_against_it(own_team, django_capture_on_commit_callbacks):
    from caseload.population import population_load_unchecked
    from kpis.models import KpiRun

    practice = own_team.practices.order_by("pk").first()
    numbers = nhs_numbers(5)
    m0 = start_month(9)
    people = [Person(number, practice, 1950, "F", {(add_months(m0, -1), AE): 2}) for number in numbers]
    load_world(own_team, people, {0: m0})
    before = kpis_recompute()
    assert len(pairs_of(before)[next(iter(pairs_of(before)))]) == MATCHES
    # The ICB sends a new extract in which one of those people is a young man (the record corrected).
    rows = [row for person in people if person.nhs_number != numbers[1] for row in person.rows()]
    rows += [(numbers[1], practice.pk, 1990, "M", MONTHS[0], PRIMARY, 1)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        population_load_unchecked(team=own_team, rows=rows, file_name="again.csv")
    assert KpiRun.objects.current() == before, "nothing is recomputed before the extract commits"
    for callback in callbacks:
        callback()  # CELERY_TASK_ALWAYS_EAGER in tests: the task runs here
    after = KpiRun.objects.current()
    assert after != before
    assert numbers[1] not in next(iter(pairs_of(after).values()))


def test_matched_rows_are_the_same_when_run_again_and_old_runs_lose_theirs_when_pruned(own_team):
    from kpis.compute import prune_old_runs

    simulated_world(own_team, seed=41, people=600, residents=30, effect_of_baseline=0.0)
    runs = [kpis_recompute() for _ in range(4)]
    fields = ["level", "unit_id", "kind", "period", "eligible", "n", "comparisons", "baseline", "difference", "difference_sq"]
    first, last = (sorted(MatchedValue.objects.filter(run=run).values_list(*fields), key=repr) for run in (runs[0], runs[-1]))
    assert first == last and first
    assert pairs_of(runs[0]) == pairs_of(runs[-1])
    prune_old_runs(keep=3)
    assert not MatchedValue.objects.filter(run=runs[0]).exists()
    assert not MatchedPair.objects.filter(run=runs[0]).exists()
    assert not MatchedBalance.objects.filter(run=runs[0]).exists()
    assert MatchedValue.objects.filter(run=runs[-1]).exists()
