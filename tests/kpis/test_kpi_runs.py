"""Runs: written whole, made current in one step, identical when repeated, and a failed or
killed run leaves the previous one current. Imports enqueue a run that recounts only what
changed and gives the same figures as a full one."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from caseload.models import Resident
from caseload.services import import_job_create, service_use_load
from kpis import compute
from kpis.compute import kpis_recompute, prune_old_runs
from kpis.models import KpiRun, KpiValue, ResidentUsage, ResidentWindow
from kpis.tasks import recompute_kpis

from .kpi_builders import TODAY, before_and_after, figure, not_supported, supported, value_rows


@pytest.fixture
def residents(own_team, other_team):
    for team in (own_team, other_team):
        for before, after in ((4, 2), (6, 3), (2, 2)):
            before_and_after(supported(team, feedback=4), before, after)
        before_and_after(not_supported(team), 3, 3)


def test_a_run_records_when_how_long_and_how_many_rows_and_becomes_the_current_one(residents):
    run = kpis_recompute()
    assert run.status == KpiRun.Status.SUCCEEDED and run.is_current
    assert run.finished_at >= run.started_at and run.duration is not None
    assert run.rows == KpiValue.objects.filter(run=run).count() > 0
    assert run.as_of == timezone.localdate() and run.window_months == 6  # not TODAY: a run may cross midnight
    assert KpiRun.objects.current() == run


def test_running_again_gives_identical_rows_and_moves_current_to_the_new_run(residents):
    first = kpis_recompute()
    second = kpis_recompute()
    first.refresh_from_db()
    assert value_rows(first) == value_rows(second)
    assert not first.is_current and second.is_current
    assert KpiRun.objects.filter(is_current=True).count() == 1


def test_a_run_that_fails_half_way_leaves_the_previous_run_current_and_writes_nothing(residents, monkeypatch, own_team):
    previous = kpis_recompute()
    resident = supported(own_team)
    before_and_after(resident, 50, 0)

    def broken(cursor, run):
        raise RuntimeError("the database went away")

    # Windows, counts and the service-use figures are written by now; the process measures fail.
    monkeypatch.setattr(compute, "write_process_values", broken)
    with pytest.raises(RuntimeError):
        kpis_recompute()

    failed = KpiRun.objects.exclude(pk=previous.pk).get()
    assert failed.status == KpiRun.Status.FAILED and not failed.is_current
    assert "the database went away" in failed.error
    assert KpiRun.objects.current() == previous
    assert not KpiValue.objects.filter(run=failed).exists()
    # The working tables were rolled back with it.
    assert not ResidentWindow.objects.filter(resident=resident).exists()
    assert figure(previous, own_team.pk).baseline == 12


def test_a_run_killed_part_way_is_marked_failed_by_the_next_one(residents):
    previous = kpis_recompute()
    killed = KpiRun.objects.create(as_of=TODAY, window_months=6)  # its worker died: still "running"
    latest = kpis_recompute()
    killed.refresh_from_db()
    assert killed.status == KpiRun.Status.FAILED and killed.error == "Stopped before it finished."
    assert latest.is_current and previous != latest


def test_the_database_allows_only_one_current_run(db):
    KpiRun.objects.create(as_of=TODAY, window_months=6, status=KpiRun.Status.SUCCEEDED, is_current=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        KpiRun.objects.create(as_of=TODAY, window_months=6, status=KpiRun.Status.SUCCEEDED, is_current=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        KpiRun.objects.filter(is_current=True).update(status=KpiRun.Status.FAILED)


def load(resident: Resident, *days: datetime.date, kind: str = "ae_attendance", batch: str = "B") -> None:
    """Through the import's own loader."""
    staged = io.StringIO("".join(f"{resident.pk},{day.isoformat()},{kind},IMPORT,{batch}-{index}\n" for index, day in enumerate(days)))
    with transaction.atomic():
        service_use_load(staged)


def test_an_incremental_run_after_an_import_recounts_only_those_residents_and_matches_a_full_run(residents, own_team):
    kpis_recompute()
    touched = Resident.objects.filter(team=own_team, intervention_start__isnull=False).first()
    load(touched, touched.intervention_start - datetime.timedelta(days=40), touched.intervention_start + datetime.timedelta(days=3))

    incremental = kpis_recompute(full=False)
    assert incremental.mode == KpiRun.Mode.INCREMENTAL
    assert incremental.residents_recounted == 1
    full = kpis_recompute(full=True)
    assert full.mode == KpiRun.Mode.FULL
    assert value_rows(incremental) == value_rows(full)
    assert figure(full, own_team.pk).baseline == 12 + 1


def test_an_incremental_run_notices_a_resident_whose_window_changed(residents, own_team):
    kpis_recompute()
    waiting = not_supported(own_team, status=Resident.Status.ACCEPTED, referred=TODAY - datetime.timedelta(days=400))
    before_and_after(waiting, 1, 1)
    first = kpis_recompute(full=False)
    # Their intervention starts, backdated to the day after triage: they move from the comparator
    # to the supported residents.
    waiting.start_intervention(on=waiting.triaged_on + datetime.timedelta(days=1), by=waiting.key_worker)
    second = kpis_recompute(full=False)
    assert second.residents_recounted == 1
    assert figure(second, own_team.pk).n == figure(first, own_team.pk).n + 1
    assert value_rows(second) == value_rows(kpis_recompute(full=True))


def test_the_first_run_or_a_change_of_window_length_is_always_full(residents, settings):
    assert kpis_recompute(full=False).mode == KpiRun.Mode.FULL
    settings.KPI_WINDOW_MONTHS = 3
    run = kpis_recompute(full=False)
    assert run.mode == KpiRun.Mode.FULL and run.window_months == 3
    assert ResidentUsage.objects.exists()


def test_an_import_that_adds_service_use_is_followed_by_a_recompute_once_it_commits(residents, own_team, coordinator, django_capture_on_commit_callbacks):
    # The caseload announces the import (caseload.signals); the KPIs connect to it in ready().
    before = kpis_recompute()
    resident = Resident.objects.filter(team=own_team).first()
    extract = f"nhs_number,date,kind,source,source_id\n{resident.nhs_number},{TODAY - datetime.timedelta(days=3)},ae_attendance,S,new-1\n"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_create(content=extract.encode(), file_name="extract.csv", teams=[own_team], by=coordinator)
    assert job.rows_loaded == 1
    assert KpiRun.objects.current() == before, "nothing is recomputed before the load commits"
    assert len(callbacks) == 1
    callbacks[0]()  # CELERY_TASK_ALWAYS_EAGER in tests: the task runs here
    after = KpiRun.objects.current()
    assert after != before and after.mode == KpiRun.Mode.INCREMENTAL

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        import_job_create(content=extract.encode(), file_name="again.csv", teams=[own_team], by=coordinator)
    assert callbacks == [], "a file that adds nothing changes no figure"


def test_the_task_runs_the_same_recompute_and_says_what_it_wrote(residents):
    summary = recompute_kpis.delay(full=True).get()
    run = KpiRun.objects.get()
    assert summary == {"run": run.pk, "mode": "full", "rows": run.rows}


def test_the_command_runs_a_full_recompute_in_the_foreground_and_prints_the_run(residents, capsys):
    call_command("recompute_kpis")
    run = KpiRun.objects.get()
    out = capsys.readouterr().out
    assert f"KPI run {run.pk} succeeded" in out and f"{run.rows} rows" in out and "in progress" in out


def test_old_runs_are_pruned_with_their_values_and_the_current_one_is_kept(residents):
    runs = [kpis_recompute() for _ in range(5)]
    prune_old_runs(keep=3)
    assert list(KpiRun.objects.order_by("pk")) == runs[2:]
    assert set(KpiValue.objects.values_list("run", flat=True).distinct()) == {run.pk for run in runs[2:]}


def test_the_nightly_prune_task_keeps_the_newest_runs(residents):
    from kpis.tasks import prune_kpi_runs

    runs = [kpis_recompute() for _ in range(4)]
    prune_kpi_runs.delay()
    assert list(KpiRun.objects.order_by("pk")) == runs[1:]
    assert KpiRun.objects.current() == runs[-1]


def test_each_figure_is_written_once(residents):
    """What a unique index over the whole key would check, were it not too slow to write."""
    run = kpis_recompute()
    keys = list(KpiValue.objects.filter(run=run).values_list("level", "unit_id", "measure", "kind", "cohort", "period"))
    assert len(keys) == len(set(keys)) > 0


def test_an_incremental_run_counts_a_resident_whose_follow_up_ended_since_the_last_run(own_team):
    from .kpi_builders import IN_PROGRESS_START, WINDOW

    before_and_after(supported(own_team, start=IN_PROGRESS_START), 4, 1)
    first = kpis_recompute()
    assert not KpiValue.objects.filter(run=first, measure="service_use", unit_id=own_team.pk).exists()
    later = kpis_recompute(full=False, as_of=IN_PROGRESS_START + WINDOW)
    assert later.mode == KpiRun.Mode.INCREMENTAL and later.residents_recounted == 1
    assert (figure(later, own_team.pk).n, figure(later, own_team.pk).baseline) == (1, 4)
