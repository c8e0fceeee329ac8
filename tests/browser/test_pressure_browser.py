import pytest
from playwright.sync_api import expect

from int_app.teams.roles import Role

from ..conftest import member
from .conftest import assert_accessible, log_in


@pytest.mark.browser
def test_a_practice_manager_reports_level_six_and_the_pcn_lead_sees_the_alert_and_the_cell(
    new_page, live_server, transactional_db, own_team
):
    manager = member(own_team, Role.PRACTICE_MANAGER)
    practice = manager.memberships.get().practice

    reporting = new_page()
    log_in(reporting, live_server, manager.email)
    reporting.get_by_role("navigation", name="Menu").get_by_role("link", name="Report pressure").click()
    reporting.wait_for_url(f"{live_server.url}/pressure/report/")
    assert_accessible(reporting, live_server, context="pressure report form")
    reporting.get_by_label("6 – vaporising").check()
    reporting.get_by_label("Comment").fill("Three GPs off with flu")
    reporting.get_by_role("button", name="Save report").click()
    expect(reporting.get_by_text("level 6, vaporising")).to_be_visible()

    lead_page = new_page()
    log_in(lead_page, live_server, member(own_team, Role.PCN_LEAD).email)
    lead_page.get_by_role("navigation", name="Menu").get_by_role("link", name="Practice pressure").click()
    expect(lead_page.get_by_role("alert").filter(has_text="Practice at level 6")).to_be_visible()
    row = lead_page.get_by_role("row").filter(has=lead_page.get_by_role("rowheader", name=practice.name))
    expect(row.get_by_text("vaporising")).to_be_visible()
    assert_accessible(lead_page, live_server, context="pressure heatmap")
    lead_page.get_by_role("button", name="Acknowledge").click()
    expect(lead_page.get_by_text("acknowledged by")).to_be_visible()
    expect(lead_page.get_by_text("Practice at level 6")).to_have_count(0)


@pytest.mark.browser
def test_on_the_gpas_scale_a_manager_reports_red_with_figures_and_the_lead_reads_the_situation_report(
    new_page, live_server, transactional_db, own_team
):
    from pressure.scales import Preset
    from pressure.services import pressure_scale_use_preset

    pressure_scale_use_preset(preset=Preset.GPAS)
    manager = member(own_team, Role.PRACTICE_MANAGER)
    practice = manager.memberships.get().practice
    practice.list_size = 6_000
    practice.save(update_fields=["list_size"])

    reporting = new_page()
    log_in(reporting, live_server, manager.email)
    reporting.goto(f"{live_server.url}/pressure/report/")
    expect(reporting.get_by_label("4 – black")).to_be_visible()
    reporting.get_by_label("3 – red").check()
    reporting.get_by_label("Appointments offered on the day").fill("90")
    reporting.get_by_label("Clinical staff available").fill("5")
    reporting.get_by_role("button", name="Save report").click()
    expect(reporting.get_by_text("level 3, red")).to_be_visible()

    lead_page = new_page()
    log_in(lead_page, live_server, member(own_team, Role.PCN_LEAD).email)
    lead_page.goto(f"{live_server.url}/pressure/")
    expect(lead_page.get_by_role("alert").filter(has_text="Practice at level 3")).to_be_visible()
    lead_page.get_by_role("link", name="This week's situation report").click()
    row = lead_page.get_by_role("row").filter(has=lead_page.get_by_role("rowheader", name=practice.name, exact=False))
    expect(row.get_by_text("red")).to_be_visible()
    expect(row.get_by_role("cell", name="15.0")).to_be_visible()
    assert_accessible(lead_page, live_server, context="situation report")
