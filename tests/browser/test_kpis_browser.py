import csv
import io

import pytest
from playwright.sync_api import expect

from int_app.teams.roles import Role
from kpis.compute import kpis_recompute

from ..conftest import member
from ..kpis.kpi_builders import before_and_after, not_supported, supported
from .conftest import assert_accessible, log_in


@pytest.mark.browser
def test_the_pcn_lead_filters_the_dashboard_by_pcn_and_downloads_those_figures(page, live_server, transactional_db, own_team):
    for index in range(12):
        before_and_after(supported(own_team, feedback=4 + index % 2), 5, 3)
    # Ten comparator residents: the fewest whose change is shown.
    for _ in range(10):
        before_and_after(not_supported(own_team), 5, 4)
    kpis_recompute()
    pcn = own_team.pcns.get()

    log_in(page, live_server, member(own_team, Role.PCN_LEAD).email)
    page.goto(f"{live_server.url}/kpis/")
    expect(page.get_by_role("heading", name="A&E attendances")).to_be_visible()
    expect(page.locator("[data-kpi-chart=cohorts]")).to_be_visible()
    # The chart is drawn (Chart.js sizes the canvas) and the same numbers are in the table.
    page.wait_for_function("document.querySelector('[data-kpi-chart=cohorts]').width > 0")
    expect(page.get_by_role("table", name="Change in all contacts by month of start")).to_contain_text("\u221240.0%")

    page.get_by_label("PCN", exact=True).select_option(label=str(pcn))
    # htmx swaps the figures in place and keeps the filter in the address bar.
    page.wait_for_url(f"**/kpis/?*pcn={pcn.pk}*")
    expect(page.locator(".app-kpi-as-of")).to_contain_text(str(pcn))
    expect(page.get_by_role("table", name="PCN", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Team", exact=True)).to_have_count(0)
    page.wait_for_function("document.querySelector('[data-kpi-chart=cohorts]').width > 0")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download these figures (CSV)").click()
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert {row["level"] for row in rows} == {"pcn"}
    assert {row["unit"] for row in rows} == {str(pcn)}
    all_kinds = next(row for row in rows if row["kind"] == "all")
    assert (all_kinds["residents"], all_kinds["pct_change"], all_kinds["comparator_pct_change"]) == ("12", "-40.0", "-20.0")

    # The same view, from the shared address, without htmx.
    page.goto(page.url)
    expect(page.locator(".app-kpi-as-of")).to_contain_text(str(pcn))


@pytest.mark.browser
def test_the_pcn_lead_sees_the_change_beyond_similar_people_beside_the_before_after_change(page, live_server, transactional_db, own_team):
    from ..kpis.test_kpi_matched_dashboard import matched_world

    matched_world(own_team, residents=12)
    log_in(page, live_server, member(own_team, Role.PCN_LEAD).email)
    page.goto(f"{live_server.url}/kpis/")
    tile = page.locator(".app-kpi-tile").filter(has=page.get_by_role("heading", name="A&E attendances"))
    expect(tile.locator(".app-kpi-matched")).to_contain_text("\u221220.0% beyond what similar people not supported did over the same months")
    expect(tile.locator(".app-kpi-before-after")).to_contain_text("Before/after change")
    expect(tile.locator(".app-kpi-before-after")).to_contain_text("\u221240.0%")
    expect(page.locator(".app-kpi-projection")).to_contain_text("At the matched effect seen here")
    assert_accessible(page, live_server, context="dashboard with the matched effect")
    page.goto(f"{live_server.url}/kpis/methods/#balance")
    expect(page.get_by_role("table", name="Balance, by team")).to_contain_text("12 of 12")
    assert_accessible(page, live_server, context="methods with balance")
