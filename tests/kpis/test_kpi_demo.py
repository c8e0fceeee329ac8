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
