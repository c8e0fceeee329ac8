from int_app.celery import durable_task


@durable_task
def recompute_kpis(full: bool = True) -> dict:
    """The nightly full recompute, and the one each import enqueues (full=False: only residents
    with new service use or a changed window are recounted). Idempotent: running it again gives
    the same figures; a worker lost part-way leaves the previous run current."""
    from .compute import kpis_recompute

    run = kpis_recompute(full=full)
    return {"run": run.pk, "mode": run.mode, "rows": run.rows}


@durable_task
def prune_kpi_runs() -> int:
    """Keep the newest runs only (nightly, by beat): older ones are history nobody reads."""
    from .compute import prune_old_runs

    return prune_old_runs()
