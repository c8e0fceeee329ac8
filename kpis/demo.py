"""The demo's last step: the KPIs worked out from the demo caseload and meetings."""


def seed_kpis(stdout) -> str:
    """The last demo step: work out the KPIs from the demo caseload and meetings, exactly as
    the nightly task does, so the dashboard has figures from the start. Idempotent: running
    it again makes a new run with the same figures."""
    from .compute import kpis_recompute

    run = kpis_recompute()
    return f"KPIs: run {run.pk}, {run.rows} figures."
