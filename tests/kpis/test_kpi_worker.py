import time

import pytest

from kpis.models import KpiRun
from kpis.tasks import recompute_kpis

from .kpi_builders import before_and_after, supported


@pytest.mark.worker
def test_a_real_worker_takes_the_recompute_from_redis_and_makes_a_current_run(live_worker, own_team):
    for before, after in ((4, 2), (6, 3)):
        before_and_after(supported(own_team), before, after)
    recompute_kpis.delay(full=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and KpiRun.objects.current() is None:
        time.sleep(0.2)
    run = KpiRun.objects.current()
    assert run is not None and run.status == KpiRun.Status.SUCCEEDED and run.rows > 0
    # Delivered twice (acks_late after a lost worker, say), the task only makes another run.
    recompute_kpis.delay(full=False)
    while time.monotonic() < deadline and KpiRun.objects.current() == run:
        time.sleep(0.2)
    latest = KpiRun.objects.current()
    assert latest != run and latest.rows == run.rows
