"""In a real browser: the coordinator records a referral, triages it with a key worker, and finds
the resident again by a misspelled name, with no console error and no CSP violation."""

import re

import pytest

from caseload.models import Resident, ServiceUseEvent
from int_app.teams.roles import Role

from ..caseload.factories import days_ago, referred
from ..conftest import member
from .conftest import log_in


@pytest.mark.browser
def test_the_coordinator_refers_triages_and_finds_the_resident_by_a_misspelled_name(page, live_server, transactional_db, own_team):
    from playwright.sync_api import expect

    coordinator = member(own_team, Role.COORDINATOR)
    key_worker = member(own_team, Role.SOCIAL_WORKER)
    referred(own_team, given_name="Martin", family_name="Evans")
    log_in(page, live_server, coordinator.email)

    # The referral: the NHS number is checked as it is typed.
    page.goto(f"{live_server.url}/caseload/refer/")
    nhs_number = page.get_by_label("NHS number")
    nhs_number.press_sequentially("943 476 5918", delay=20)
    expect(page.locator("#nhs-number-check")).to_contain_text("last digit does not match")
    nhs_number.press("Backspace")
    nhs_number.press_sequentially("9", delay=20)
    expect(page.locator("#nhs-number-check")).to_contain_text("This is a valid NHS number")
    page.get_by_label("First name").fill("Margaret")
    page.get_by_label("Last name").fill("Hughes")
    page.get_by_label("Date of birth").fill("1941-06-02")
    page.get_by_label("Registered GP practice").select_option(index=1)
    page.get_by_label("Referred by (source)").select_option(label="A&E frequent-attender list")
    page.get_by_label("Referrer", exact=True).fill("A&E frequent-attender list, Heartlands")
    page.get_by_label("Reason for referral").fill("Six A&E attendances after falls in three months")
    page.get_by_role("button", name="Record the referral").click()
    expect(page.get_by_role("heading", name="Margaret Hughes", level=1)).to_be_visible()
    expect(page.get_by_text("Consent not recorded")).to_be_visible()

    # Triage: accepting reveals the key-worker choice.
    page.get_by_role("link", name="Triage the referral").click()
    page.get_by_label("Accept: the INT will support this resident").check()
    page.get_by_label("Key worker").select_option(value=str(key_worker.pk))
    page.get_by_role("button", name="Save the triage decision").click()
    expect(page.get_by_text(f"{key_worker.full_name} is their key worker")).to_be_visible()
    resident = Resident.objects.get(nhs_number="9434765919")
    assert (resident.status, resident.key_worker) == (Resident.Status.ACCEPTED, key_worker)

    # The caseload search finds her as the coordinator types, misspelled.
    page.goto(f"{live_server.url}/caseload/teams/{own_team.slug}/")
    expect(page.locator("#caseload-results")).to_contain_text("Evans, Martin")
    page.get_by_label("Search by name or NHS number").press_sequentially("Margret", delay=30)
    results = page.locator("#caseload-results")
    expect(results).to_contain_text("Hughes, Margaret")
    expect(results).not_to_contain_text("Evans, Martin")
    expect(page).to_have_url(re.compile(r"q=Margret"))

    # Her page draws the service-use chart from the page's data, under the strict CSP.
    ServiceUseEvent.objects.create(resident=resident, date=days_ago(20), kind="ae_attendance", source="UHB-ED", source_id="ED-1")
    results.get_by_role("link", name="Hughes, Margaret").click()
    expect(page.get_by_role("heading", name="Margaret Hughes", level=1)).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('service-use-chart'))")
    expect(page.get_by_role("table").filter(has_text="Before and after, by kind")).to_contain_text("A&E attendance")
