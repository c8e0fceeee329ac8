"""NHS CIS2 sign-in in Chromium, against a real OpenID Connect provider on 127.0.0.1
(oidc-provider-mock, tests/teams/cis2_provider.py): the person presses "Sign in with NHS CIS2",
says who they are at the provider and comes back."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.hashers import make_password
from django.utils.csp import CSP
from playwright.sync_api import expect

from int_app.teams.roles import Role

from ..factories import MembershipFactory, UserFactory
from ..teams.cis2_provider import MockCIS2, running_mock_cis2
from .conftest import PageProblems, _watched_page, assert_accessible

pytestmark = pytest.mark.browser


@pytest.fixture
def cis2(settings) -> Iterator[MockCIS2]:
    with running_mock_cis2() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
        # As settings.py does for the configured issuer: the button's form may lead to CIS2.
        settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": [CSP.SELF, provider.issuer]}
        settings.INT_REQUIRE_MFA = True
        yield provider


@pytest.fixture
def invited(transactional_db, own_team):
    """Invited by the coordinator: an active account with no usable password and no TOTP."""
    person = UserFactory(email="sam.patel@nhs.net", full_name="Sam Patel", password=make_password(None))
    MembershipFactory(user=person, team=own_team, role=Role.SOCIAL_WORKER)
    return person


@pytest.fixture
def refused_page(browser) -> Iterator[object]:
    """A watched page, as `page`, on which the refusal's own status (401 or 403, which Chromium
    reports on the console) is expected; any other console error or CSP violation still fails."""
    problems = PageProblems()
    context, page, collect = _watched_page(browser, problems)
    yield page
    collect()
    expected = {
        f"Failed to load resource: the server responded with a status of {status}" for status in ("401 (Unauthorized)", "403 (Forbidden)")
    }
    complaints = [f"console error: {text}" for text in problems.console_errors if text not in expected]
    complaints += [f"CSP violation: {text}" for text in problems.csp_violations]
    context.close()
    assert not complaints, "\n".join(complaints)
    assert set(problems.console_errors) & expected, "the refusal came with its status"


def sign_in_with_cis2(page, live_server, provider: MockCIS2, sub: str) -> None:
    # The provider's own page styles itself from a CDN; the tests run offline.
    page.context.route("https://cdn.jsdelivr.net/**", lambda route: route.fulfill(body="", content_type="text/css"))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="Sign in with NHS CIS2").click()
    page.wait_for_url(f"{provider.issuer}/oauth2/authorize?**")
    page.get_by_label("Subject").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()


def test_an_invited_person_signs_in_with_cis2_lands_on_home_without_a_code_and_logs_out(page, live_server, cis2, invited):
    cis2.add_person("5550-0001", "Sam.Patel@nhs.net", name="Sam Patel")
    page.goto(f"{live_server.url}/accounts/login/")
    assert_accessible(page, live_server, context="login page with CIS2")
    sign_in_with_cis2(page, live_server, cis2, "5550-0001")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Hello, Sam")).to_be_visible()
    # No "set up your authenticator app", no code asked: the home page itself.
    page.goto(f"{live_server.url}/teams/{invited.memberships.get().team.slug}/")
    assert page.url.endswith(f"/teams/{invited.memberships.get().team.slug}/")

    # Logging out ends the session here, then CIS2's: CIS2 asks, and sends the person back to log in.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{cis2.issuer}/oauth2/end_session?**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.get_by_role("button", name="Sign in with NHS CIS2")).to_be_visible()


def test_someone_cis2_knows_but_who_has_no_account_is_refused(refused_page, live_server, cis2, invited):
    page = refused_page
    cis2.add_person("5550-0009", "stranger@nhs.net")
    sign_in_with_cis2(page, live_server, cis2, "5550-0009")
    expect(page.get_by_role("heading", name="No account for this NHS identity")).to_be_visible()
    expect(page.get_by_text("Ask your coordinator for an invitation")).to_be_visible()
    assert_accessible(page, live_server, context="no account page")
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/accounts/login/?next=/")


@pytest.mark.parametrize("spoil", ["audience", "signature"])
def test_an_id_token_for_another_service_or_signed_with_another_key_is_refused(refused_page, live_server, cis2, invited, spoil):
    page = refused_page
    cis2.add_person("5550-0001", invited.email)
    cis2.spoil = spoil
    sign_in_with_cis2(page, live_server, cis2, "5550-0001")
    expect(page.get_by_role("heading", name="NHS CIS2 sign-in did not work")).to_be_visible()
    assert_accessible(page, live_server, context="CIS2 sign-in error page")
    assert cis2.id_tokens, "the provider handed out its spoilt token"
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/accounts/login/?next=/")
