import pytest
from playwright.sync_api import expect

from int_app.teams.roles import Role

from ..conftest import member
from .conftest import assert_accessible, log_in


@pytest.mark.browser
def test_the_coordinator_logs_in_and_sees_their_home_without_console_errors(
    page, live_server, transactional_db, own_team
):
    coordinator = member(own_team, Role.COORDINATOR)
    log_in(page, live_server, coordinator.email)
    assert page.get_by_role("heading", name=f"Hello, {coordinator.get_short_name()}").is_visible()
    assert page.get_by_role("heading", name="Own INT").is_visible()
    # The NHS.UK frontend module ran: it marks the body once its components are set up.
    expect(page.locator("body.nhsuk-frontend-supported")).to_be_attached()
    styles = page.evaluate("getComputedStyle(document.querySelector('.nhsuk-header')).backgroundColor")
    assert styles == "rgb(0, 94, 184)", "the NHS.UK stylesheet is loaded (NHS blue header)"
    assert_accessible(page, live_server, context="home")
    page.goto(f"{live_server.url}/teams/{own_team.slug}/")
    assert_accessible(page, live_server, context="team page")


@pytest.mark.browser
def test_a_wrong_password_keeps_the_person_on_the_login_page(page, live_server, transactional_db, own_team):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(member(own_team, Role.GP).email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("There is a problem").is_visible()
    assert_accessible(page, live_server, context="login page with errors")


@pytest.mark.browser
def test_the_accessibility_check_catches_a_broken_page(page, live_server, transactional_db):
    """Guards the guard: axe-core must report an image with no text alternative."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img'))")
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, live_server)
