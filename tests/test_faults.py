"""Faults: the database or broker going away, and a worker killed in the middle of its work.

The PCN lead must never see a half-computed KPI, and no task may be lost or done twice."""

import time

import pytest
from django.db import OperationalError, connection, transaction
from kombu.exceptions import OperationalError as BrokerError

from caseload.models import ImportJob, ServiceUseEvent
from caseload.services import import_job_create, service_use_import
from int_app.celery import app, durable_task
from kpis.models import KpiRun, KpiValue
from kpis.tasks import recompute_kpis

from .conftest import member
from .kpis.kpi_builders import before_and_after, supported

PROJECT_TASK_PREFIXES = ("caseload.", "meetings.", "kpis.", "int_app.")
KPI_KEY = ("level", "unit_id", "measure", "kind", "cohort", "period")


def project_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(PROJECT_TASK_PREFIXES)}


def test_every_task_is_acknowledged_when_done_and_retried_with_backoff_on_passing_faults():
    tasks = project_tasks()
    assert {"kpis.tasks.recompute_kpis", "caseload.tasks.import_service_use", "meetings.tasks.send_agenda"} <= set(tasks)
    for name, task in tasks.items():
        assert task.acks_late and task.reject_on_worker_lost, name
        assert task.retry_backoff and task.max_retries >= 3, name
        for fault in (OperationalError, BrokerError, ConnectionError):
            assert issubclass(fault, task.autoretry_for), (name, fault)
        # A bug is not retried: it would fail the same way six times.
        assert not issubclass(ValueError, task.autoretry_for), name


def test_durable_task_options_can_be_overridden_for_one_task():
    @durable_task(name="tests.slow_to_give_up", max_retries=10)
    def slow_to_give_up():
        return "ok"

    assert slow_to_give_up.max_retries == 10 and slow_to_give_up.acks_late


@pytest.mark.worker
def test_a_recompute_that_loses_its_database_connection_is_retried_and_succeeds(live_worker, own_team, monkeypatch):
    from kpis import compute

    before_and_after(supported(own_team), 4, 1)
    real_recompute, calls = compute.kpis_recompute, []

    def database_restarting_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_recompute(**kwargs)

    monkeypatch.setattr(compute, "kpis_recompute", database_restarting_once)
    recompute_kpis.delay(full=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and KpiRun.objects.current() is None:
        time.sleep(0.2)
    assert len(calls) == 2, "the task was not tried again after the fault"
    assert KpiRun.objects.current().status == KpiRun.Status.SUCCEEDED


def test_an_import_that_meets_a_passing_fault_waits_to_be_tried_again_and_then_loads_once(own_team, monkeypatch):
    from caseload import services

    from .factories import ResidentFactory

    resident = ResidentFactory(team=own_team)
    day = resident.referral_date.isoformat()
    content = f"nhs_number,date,kind,source,source_id\n{resident.nhs_number},{day},ae_attendance,BHAM-ED,ED-1\n"
    job = import_job_create(
        content=content.encode(), file_name="ae.csv", by=member(own_team, "coordinator"), teams=[own_team], background=True
    )
    real_load = services.service_use_load

    def database_restarting(staged=None):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(services, "service_use_load", database_restarting)
    with pytest.raises(OperationalError):
        service_use_import(job=job, retry_on=(OperationalError,))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED and not ServiceUseEvent.objects.exists()

    monkeypatch.setattr(services, "service_use_load", real_load)
    service_use_import(job=job, retry_on=(OperationalError,))
    service_use_import(job=job, retry_on=(OperationalError,))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and ServiceUseEvent.objects.count() == 1


def values_of(run: KpiRun) -> list[tuple]:
    return sorted(KpiValue.objects.filter(run=run).values_list(*KPI_KEY, "n", "baseline", "followup", "value"), key=repr)


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {seconds} s waiting for {what}.")
        time.sleep(0.1)


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


@pytest.mark.worker
def test_a_worker_killed_in_the_middle_of_a_recompute_leaves_the_previous_run_current(worker_process, own_team):
    for before, after in ((5, 1), (3, 3), (6, 2)):
        before_and_after(supported(own_team), before, after)
    previous = recompute_kpis.apply(kwargs={"full": True}).get() and KpiRun.objects.current()
    assert previous is not None and previous.rows > 0

    # Hold the values table so the worker's run stops part-way: its windows and counts are
    # rewritten, its values not yet. Then kill the worker there.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {KpiValue._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        recompute_kpis.apply_async(kwargs={"full": True}, queue=worker_process.queue)
        wait_for(lambda: KpiRun.objects.filter(status=KpiRun.Status.RUNNING).exists(), seconds=60, what="the worker to start the run")
        killed = KpiRun.objects.get(status=KpiRun.Status.RUNNING)
        worker_process.kill()
        assert KpiRun.objects.current() == previous

    # The dead worker's database session ends when PostgreSQL finds its client gone; with it go
    # its uncommitted rows and its lock on "the KPI recompute".
    wait_for(lambda: advisory_locks_held() == 0, seconds=30, what="the killed worker's session to end")
    assert KpiRun.objects.current() == previous
    assert not KpiValue.objects.filter(run=killed).exists(), "a partial run was written"

    latest = recompute_kpis.apply(kwargs={"full": True}).get() and KpiRun.objects.current()
    killed.refresh_from_db()
    assert killed.status == KpiRun.Status.FAILED and not killed.is_current
    assert latest.status == KpiRun.Status.SUCCEEDED and latest.pk > killed.pk
    assert KpiRun.objects.filter(is_current=True).count() == 1
    keys = list(KpiValue.objects.filter(run=latest).values_list(*KPI_KEY))
    assert len(keys) == len(set(keys)) == latest.rows, "duplicate rows in the run"
    assert values_of(latest) == values_of(previous)
