"""In a real browser: the coordinator uploads the team's population extract, watches it load, opens
case finding and refers the person at the top of the list, with the form filled in from the extract."""


import pytest

from caseload.models import PopulationExtract, Resident
from int_app.teams.roles import Role
from tests.factories import valid_nhs_number

from ..caseload.population_builders import extract_csv, extract_rows
from ..conftest import member
from .conftest import log_in


@pytest.mark.browser
def test_the_coordinator_uploads_an_extract_and_refers_someone_from_case_finding(page, live_server, transactional_db, own_team, tmp_path):
    from playwright.sync_api import expect

    coordinator = member(own_team, Role.COORDINATOR)
    practice = own_team.practices.order_by("pk").first()
    frequent = valid_nhs_number(31_000)
    extract = tmp_path / "population.csv"
    extract.write_bytes(
        extract_csv(
            extract_rows(
                own_team,
                {
                    frequent: (practice, 1944, "F", {0: {"ae_attendance": 3}, 1: {"ambulance_callout": 2}, 8: {"ae_attendance": 1}}),
                    valid_nhs_number(32_000): (practice, 1980, "M", {2: {"primary_care_appointment": 1}}),
                },
            )
        )
    )
    log_in(page, live_server, coordinator.email)

    page.goto(f"{live_server.url}/caseload/teams/{own_team.slug}/")
    page.get_by_role("link", name="Population extract").click()
    page.get_by_label("Population extract (CSV)").set_input_files(str(extract))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="Loaded")).to_be_visible()
    assert PopulationExtract.objects.get(team=own_team).is_current

    page.get_by_role("link", name=f"Case finding for {own_team.name}").click()
    first_row = page.locator("tbody tr").first
    expect(first_row).to_contain_text("3 A&E attendances and 2 ambulance call-outs since")
    first_row.get_by_role("link", name="Refer").click()

    expect(page.get_by_label("NHS number")).to_have_value(frequent)
    expect(page.get_by_label("Referred by (source)")).to_have_value("case_finding")
    expect(page.get_by_text("year of birth as 1944")).to_be_visible()
    page.get_by_label("First name").fill("Olive")
    page.get_by_label("Last name").fill("Mensah")
    page.get_by_label("Date of birth").fill("1944-02-11")
    page.get_by_label("Reason for referral").fill("Found by case finding: rising A&E use")
    page.get_by_role("button", name="Record the referral").click()
    expect(page.get_by_role("heading", name="Olive Mensah", level=1)).to_be_visible()
    resident = Resident.objects.get(nhs_number=frequent)
    assert (resident.referral_source, resident.practice) == (Resident.ReferralSource.CASE_FINDING, practice)
