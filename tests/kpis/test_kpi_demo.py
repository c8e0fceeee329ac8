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


def _matched(run, level: str, unit_label: str, kind: str):
    from kpis.models import MatchedValue
    from kpis.statistics import MatchedSums, matched_effect

    row = MatchedValue.objects.get(run=run, level=level, unit_label=unit_label, kind=kind, period=None)
    return matched_effect(MatchedSums(
        row.eligible, row.n, row.comparisons, row.baseline, row.difference, row.baseline_sq, row.difference_sq, row.baseline_difference,
    ))


def test_in_the_demo_the_before_after_fall_is_larger_than_the_change_beyond_similar_people(client, db):
    """The demo's residents were referred at a peak of their use: part of their fall would have
    happened anyway. With the population extract (which holds people like them whose use peaked
    at the same time and whom nobody referred) the board sees the smaller fall the team made,
    which recovers the demo's built-in effect on A&E (about -10 %), beside the larger
    before/after one; and the matching balances what it matches on."""
    from caseload.demo import seed_population
    from kpis.models import MatchedBalance

    Command().seed_organisation()
    seed_caseload(None)
    seed_population(None)
    seed_kpis(None)
    run = KpiRun.objects.current()
    for team in ("East INT", "West INT"):
        for kind in ("all", "ae_attendance"):
            before_after = KpiValue.objects.get(
                run=run, level=Level.TEAM, unit_label=team, measure="service_use", kind=kind, cohort="intervention", period=None
            )
            effect = _matched(run, Level.TEAM, team, kind)
            # Residents whose start is at least 12 months into the extract and whose follow-up
            # is over: 30 to 50 a team, depending on the day the demo is made.
            assert effect.n >= 30 and effect.pct is not None
            assert before_after.pct_change < effect.pct - 10, (team, kind, before_after.pct_change, effect.pct)
    # Both teams together (about 95 residents): the interval covers the built-in effect and
    # excludes no effect at all.
    ae = _matched(run, Level.PLACE, "Birmingham", "ae_attendance")
    assert ae.ci_low < -10 < ae.ci_high and ae.ci_high < 5, (ae.pct, ae.ci_low, ae.ci_high)
    balance = MatchedBalance.objects.filter(run=run)
    assert balance.count() == 10
    # The residents are unlike the population; after matching, alike on what the matcher
    # matches on. Emergency contacts come within 0.1 on most days the demo is made and within
    # 0.15 on all tried. The earlier use (trend_contacts) is left out: the matcher uses it only
    # to break ties (kpis/matching.py), and it stays 0.2 to 0.45 apart (docs/adr/0023-demo-look-alikes.md).
    bars = {"baseline_contacts": 0.1, "age": 0.1, "female": 0.1, "baseline_emergency": 0.15}
    for row in balance:
        if row.variable in bars:
            assert abs(row.smd_before) > 0.2 or row.variable == "female", row.variable
            assert abs(row.smd_after) <= bars[row.variable], (row.team_id, row.variable, row.smd_after)
    client.force_login(User.objects.get(email=demo_email(Role.PCN_LEAD, "east")))
    page = client.get(reverse("kpis:dashboard")).text
    assert "beyond what similar people not supported did over the same months" in page
    assert "Before/after change" in page
