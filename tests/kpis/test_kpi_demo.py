from django.urls import reverse

from caseload.demo import seed_caseload
from int_app.home.management.commands.seed_demo import Command
from int_app.teams.demo import demo_email
from int_app.teams.models import User
from int_app.teams.roles import Role
from kpis.demo import seed_kpis
from kpis.models import KpiRun, KpiValue, Level


def test_after_the_demo_is_seeded_the_pcn_lead_sees_figures(client, db):
    Command().seed_organisation()
    seed_caseload(None)
    summary = seed_kpis(None)
    run = KpiRun.objects.current()
    assert run is not None and f"run {run.pk}" in summary
    east = KpiValue.objects.get(run=run, level=Level.TEAM, unit_label="East INT", measure="service_use", kind="all", cohort="intervention", period=None)
    assert east.n > 0 and east.pct_change < 0
    client.force_login(User.objects.get(email=demo_email(Role.PCN_LEAD, "east")))
    page = client.get(reverse("kpis:dashboard")).text
    assert "East INT" in page and "No figures yet" not in page


def test_in_the_demo_the_before_after_fall_is_larger_than_the_change_beyond_similar_people(client, db):
    """The demo's residents were referred at a peak: part of their fall would have happened anyway.
    With the population extract the board sees the smaller fall the team made, beside the larger
    before/after one."""
    from caseload.demo import seed_population
    from kpis.models import MatchedValue
    from kpis.statistics import MatchedSums, matched_effect

    Command().seed_organisation()
    seed_caseload(None)
    seed_population(None)
    seed_kpis(None)
    run = KpiRun.objects.current()
    for kind in ("all", "ae_attendance"):
        before_after = KpiValue.objects.get(
            run=run, level=Level.TEAM, unit_label="East INT", measure="service_use", kind=kind, cohort="intervention", period=None
        )
        row = MatchedValue.objects.get(run=run, level=Level.TEAM, unit_label="East INT", kind=kind, period=None)
        effect = matched_effect(MatchedSums(
            row.eligible, row.n, row.comparisons, row.baseline, row.difference, row.baseline_sq, row.difference_sq, row.baseline_difference,
        ))
        assert row.n >= 10 and effect.pct is not None
        assert before_after.pct_change < effect.pct, kind
    client.force_login(User.objects.get(email=demo_email(Role.PCN_LEAD, "east")))
    page = client.get(reverse("kpis:dashboard")).text
    assert "beyond what similar people not supported did over the same months" in page
    assert "Before/after change" in page
