import time

import pytest

from int_app.teams.models import WorkerHeartbeat
from int_app.teams.tasks import record_worker_heartbeat


@pytest.mark.worker
def test_a_real_worker_takes_a_task_from_redis_and_writes_to_postgres(live_worker):
    record_worker_heartbeat.delay("test-worker")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not WorkerHeartbeat.objects.filter(name="test-worker").exists():
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.filter(name="test-worker").exists()


def test_the_heartbeat_task_can_run_twice_and_keeps_one_row(db):
    record_worker_heartbeat("again")
    record_worker_heartbeat("again")
    assert WorkerHeartbeat.objects.filter(name="again").count() == 1
