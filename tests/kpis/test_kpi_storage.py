"""How a run is stored (docs/adr/0030-kpi-figures-a-view.md): service use, in progress and feedback
as one row per unit, cohort and period, which every reader sees, through KpiValue, as the figures
it always read, the change and its interval worked out as they are read."""

import pytest
from django.test import override_settings

from caseload.models import ServiceUseEvent
from kpis.compute import kpis_recompute, prune_old_runs
from kpis.models import ALL_KINDS, OUTCOME_KINDS, Cohort, KpiValue, Level, Measure, OutcomeSums, ProcessValue
from kpis.statistics import ChangeSums, change_with_interval

from .kpi_builders import COMPLETE_START, IN_PROGRESS_START, before_and_after, figure, not_supported, supported

OUTCOME_MEASURES = [Measure.SERVICE_USE, Measure.IN_PROGRESS, Measure.FEEDBACK, Measure.FEEDBACK_SCORE]


@pytest.fixture
def residents(own_team):
    for before, after, score in ((4, 2, 5), (6, 3, 4), (2, 2, 4)):
        before_and_after(supported(own_team, feedback=score), before, after)
        before_and_after(supported(own_team, feedback=score), 1, 1, kind=ServiceUseEvent.Kind.EMERGENCY_ADMISSION)
    supported(own_team, start=IN_PROGRESS_START)
    before_and_after(not_supported(own_team), 3, 3)


def test_a_run_writes_one_row_per_unit_cohort_and_period_and_readers_see_each_figure_of_it(residents, own_team):
    run = kpis_recompute()
    shown = KpiValue.objects.filter(run=run, measure__in=OUTCOME_MEASURES)
    cells = set(shown.values_list("level", "unit_id", "cohort", "period"))
    assert OutcomeSums.objects.filter(run=run).count() == len(cells) > 0
    stored = OutcomeSums.objects.get(run=run, level=Level.TEAM, unit_id=own_team.pk, cohort=Cohort.INTERVENTION, period=None)
    for position, kind in enumerate(OUTCOME_KINDS):
        if kind in (ALL_KINDS, ServiceUseEvent.Kind.AE_ATTENDANCE, ServiceUseEvent.Kind.EMERGENCY_ADMISSION):
            row = figure(run, own_team.pk, kind=kind)
            assert (row.n, row.baseline, row.followup) == (stored.n, stored.baseline[position], stored.followup[position])
    assert (figure(run, own_team.pk).baseline, figure(run, own_team.pk).followup) == (12 + 3, 7 + 3)
    assert figure(run, own_team.pk, measure=Measure.IN_PROGRESS).n == stored.in_progress == 1
    assert stored.feedback_scores == [0, 0, 0, 4, 2]
    # The process figures are their own rows, read the same way.
    assert ProcessValue.objects.filter(run=run).count() == KpiValue.objects.filter(run=run).exclude(measure__in=OUTCOME_MEASURES).count() > 0
    assert run.rows == KpiValue.objects.filter(run=run).count()


def test_the_change_and_its_interval_are_the_ones_the_statistics_give(residents, own_team):
    run = kpis_recompute()
    for kind in (ALL_KINDS, ServiceUseEvent.Kind.AE_ATTENDANCE):
        row = figure(run, own_team.pk, kind=kind, period=COMPLETE_START)
        change = change_with_interval(
            ChangeSums(row.n, row.baseline, row.followup, row.baseline_sq, row.followup_sq, row.baseline_followup), min_residents=1
        )
        assert (row.pct_change, row.ci_low, row.ci_high) == pytest.approx((change.pct_change, change.ci_low, change.ci_high))


def test_a_figure_about_too_few_stays_withheld_by_the_minimum_of_the_day_it_was_worked_out(residents, own_team):
    with override_settings(KPI_MIN_RESIDENTS=7):
        run = kpis_recompute()
    assert figure(run, own_team.pk).n == 6 and figure(run, own_team.pk).too_few
    assert figure(run, own_team.pk, measure=Measure.FEEDBACK).too_few
    with override_settings(KPI_MIN_RESIDENTS=5):
        assert figure(run, own_team.pk).too_few
        assert not figure(kpis_recompute(), own_team.pk).too_few


def test_pruning_an_old_run_deletes_its_rows_from_both_tables(residents):
    runs = [kpis_recompute() for _ in range(4)]
    prune_old_runs()
    for model in (OutcomeSums, ProcessValue):
        assert set(model.objects.values_list("run", flat=True).distinct()) == {run.pk for run in runs[1:]}


def test_a_full_run_brings_each_residents_stored_counts_in_step_with_their_contacts(own_team):
    """What an incremental run builds on: after a full run, a stored row for each resident with
    contacts in a complete window, with their counts now, and none for anyone else."""
    from caseload.models import ServiceUseEvent as Event
    from kpis.models import ResidentUsage

    kept, changed, emptied = (supported(own_team) for _ in range(3))
    for resident in (kept, changed, emptied):
        before_and_after(resident, 3, 1)
    kpis_recompute()
    before_and_after(changed, 2, 2)
    Event.objects.filter(resident=emptied).delete()
    newcomer = supported(own_team)
    before_and_after(newcomer, 1, 4)
    supported(own_team, start=IN_PROGRESS_START)  # in follow-up: not counted yet

    kpis_recompute()
    stored = {row.resident_id: (row.baseline_total, row.followup_total) for row in ResidentUsage.objects.all()}
    assert stored == {kept.pk: (3, 1), changed.pk: (5, 3), newcomer.pk: (1, 4)}
