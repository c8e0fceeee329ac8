"""The stored figures equal a plain-Python reference on randomly generated residents."""

import datetime
from collections import defaultdict

import pytest
from dateutil.relativedelta import relativedelta
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload.models import Resident, ServiceUseEvent
from kpis.compute import kpis_recompute
from kpis.models import ALL_KINDS, Cohort, KpiValue, Level, Measure
from kpis.statistics import ChangeSums, change_with_interval

from .kpi_builders import TODAY, contacts_on, not_supported, supported

KINDS = ServiceUseEvent.Kind.values
WINDOW = relativedelta(months=6)

resident_specs = st.lists(
    st.fixed_dictionaries(
        {
            "supported": st.booleans(),
            "comparator_status": st.sampled_from([Resident.Status.NOT_ACCEPTED, Resident.Status.REFERRED, Resident.Status.ACCEPTED]),
            "days_ago": st.integers(min_value=1, max_value=500),
            "team": st.sampled_from(["own", "other"]),
            "second_practice": st.booleans(),
            "feedback": st.none() | st.integers(min_value=1, max_value=5),
            # (kind, days from the start): some fall outside the window, on purpose.
            "contacts": st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=-230, max_value=230)), max_size=8),
        }
    ),
    min_size=1,
    max_size=14,
)


def reference_figures(residents: list[tuple[Resident, list[tuple[str, datetime.date]]]]) -> dict:
    """Per (level, unit, cohort, period, kind): the residents' sums, worked out resident by resident."""
    per_resident: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    counts: dict[tuple, int] = defaultdict(int)
    for resident, contacts in residents:
        start = resident.intervention_start or resident.referral_date
        cohort = Cohort.INTERVENTION if resident.intervention_start else Cohort.COMPARATOR
        complete = start + WINDOW <= TODAY
        units = [
            (Level.TEAM, resident.team_id),
            (Level.PCN, resident.practice.pcn_id),
            (Level.NEIGHBOURHOOD, resident.team.neighbourhood_id),
            (Level.PLACE, resident.team.neighbourhood.place_id),
        ]
        for level, unit in units:
            for period in (None, start.replace(day=1)):
                if not complete:
                    counts[(level, unit, cohort, period, Measure.IN_PROGRESS)] += 1
                    continue
                for kind in (ALL_KINDS, *KINDS):
                    mine = [day for k, day in contacts if kind in (ALL_KINDS, k)]
                    before = sum(start - WINDOW <= day < start for day in mine)
                    after = sum(start <= day < start + WINDOW for day in mine)
                    per_resident[(level, unit, cohort, period, kind)].append((before, after))
    return {"changes": {key: ChangeSums.of_residents(pairs) for key, pairs in per_resident.items()}, "counts": counts}


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=resident_specs)
def test_stored_figures_equal_a_resident_by_resident_reference(own_team, other_team, specs):
    teams = {"own": own_team, "other": other_team}
    with transaction.atomic():
        built = []
        for spec in specs:
            team = teams[spec["team"]]
            practice = team.practices.order_by("pk")[1 if spec["second_practice"] else 0]
            day = TODAY - datetime.timedelta(days=spec["days_ago"])
            if spec["supported"]:
                resident = supported(team, start=day, practice=practice, feedback=spec["feedback"])
            else:
                resident = not_supported(team, referred=day, status=spec["comparator_status"], practice=practice)
            contacts = []
            for kind, offset in spec["contacts"]:
                contact_day = day + datetime.timedelta(days=offset)
                contacts_on(resident, contact_day, kind=kind)
                contacts.append((kind, contact_day))
            built.append((Resident.objects.select_related("team__neighbourhood", "practice").get(pk=resident.pk), contacts))

        run = kpis_recompute()
        expected = reference_figures(built)

        stored = {
            (v.level, v.unit_id, v.cohort, v.period, v.kind): v
            for v in KpiValue.objects.filter(run=run, measure=Measure.SERVICE_USE)
        }
        assert set(stored) == set(expected["changes"])
        for key, sums in expected["changes"].items():
            value = stored[key]
            assert (value.n, value.baseline, value.followup, value.baseline_sq, value.followup_sq, value.baseline_followup) == (
                sums.n, sums.baseline, sums.followup, sums.baseline_sq, sums.followup_sq, sums.baseline_followup
            ), key
            change = change_with_interval(sums, min_residents=10)
            assert value.too_few == change.too_few
            for stored_number, reference in ((value.pct_change, change.pct_change), (value.ci_low, change.ci_low), (value.ci_high, change.ci_high)):
                assert (stored_number is None) == (reference is None), key
                if reference is not None:
                    assert stored_number == pytest.approx(reference, rel=1e-9, abs=1e-9), key

        counted = {
            (v.level, v.unit_id, v.cohort, v.period, v.measure): v.n
            for v in KpiValue.objects.filter(run=run, measure=Measure.IN_PROGRESS)
        }
        assert counted == dict(expected["counts"])
        transaction.set_rollback(True)
