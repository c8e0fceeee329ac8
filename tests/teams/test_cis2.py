"""NHS CIS2 sign-in against a real OpenID Connect provider on 127.0.0.1 (tests/teams/cis2_provider.py),
driven through the test client: the browser's part (following redirects, choosing who to be at
the provider) is done here by hand. tests/browser/test_cis2_browser.py walks the same in Chromium."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.hashers import make_password
from django.urls import reverse

from int_app.teams.invitations import Invitee, invitation_create
from int_app.teams.models import Invitation
from int_app.teams.roles import Role

from ..factories import PASSWORD, MembershipFactory, OrganisationFactory, UserFactory
from .cis2_provider import CLIENT_ID, MockCIS2, running_mock_cis2

CIS2_LOGIN = "/accounts/oidc/cis2/login/"


@pytest.fixture
def cis2(settings) -> Iterator[MockCIS2]:
    with running_mock_cis2() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
        yield provider


@pytest.fixture
def invited(own_team):
    """Someone a coordinator invited: an active account with no usable password and no TOTP."""
    person = UserFactory(email="sam.patel@nhs.net", full_name="Sam Patel", password=make_password(None))
    MembershipFactory(user=person, team=own_team, role=Role.SOCIAL_WORKER)
    return person


def sign_in_with_cis2(client, provider: MockCIS2, sub: str):
    """Press "Sign in with NHS CIS2", be `sub` at the provider, come back: the callback's response."""
    to_provider = client.post(CIS2_LOGIN)
    assert to_provider.status_code == 302 and to_provider["Location"].startswith(f"{provider.issuer}/oauth2/authorize?")
    back = requests.post(to_provider["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/accounts/oidc/cis2/login/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def invitation_for(team, email: str, *, by) -> Invitation:
    return invitation_create(
        invitee=Invitee(
            email=email, given_name="Ana", family_name="Lopez", team=team, role=Role.OCCUPATIONAL_THERAPIST, organisation=OrganisationFactory()
        ),
        by=by,
    )


def signed_in_as(client):
    return client.session.get("_auth_user_id")


def test_the_login_page_offers_cis2_only_when_it_is_configured(client, db, settings):
    assert "Sign in with NHS CIS2" not in client.get(reverse("account_login")).text
    with running_mock_cis2() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
        page = client.get(reverse("account_login")).text
    assert "Sign in with NHS CIS2" in page and f'action="{CIS2_LOGIN}"' in page
    assert 'name="password"' in page, "passwords stay on unless switched off"


def test_without_cis2_configured_its_addresses_send_people_back_to_log_in(client, db):
    response = client.post(CIS2_LOGIN, follow=True)
    assert response.redirect_chain[-1][0] == reverse("account_login")
    assert "NHS CIS2 sign-in is not set up" in response.text


def test_an_invited_person_signs_in_with_cis2_and_is_not_asked_for_a_local_code(client, cis2, invited, settings):
    settings.INT_REQUIRE_MFA = True
    cis2.add_person("5550-0001", "Sam.Patel@NHS.net", name="Sam Patel")
    response = sign_in_with_cis2(client, cis2, "5550-0001")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert signed_in_as(client) == str(invited.pk)
    assert client.get("/").status_code == 200, "no TOTP set-up is asked of a CIS2 session"
    # The identity is now linked: the next sign-in finds the account by it, whatever the email says.
    assert SocialAccount.objects.get(user=invited).uid == "5550-0001"
    client.post(reverse("account_logout"))
    cis2.add_person("5550-0001", "s.patel@another-trust.nhs.uk")
    assert sign_in_with_cis2(client, cis2, "5550-0001")["Location"] == reverse("home")
    assert signed_in_as(client) == str(invited.pk)


def test_a_cis2_sign_in_skips_the_code_step_even_for_someone_with_an_authenticator_app(client, cis2, invited, settings):
    settings.INT_REQUIRE_MFA = True
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(invited, generate_totp_secret())
    cis2.add_person("5550-0002", invited.email)
    response = sign_in_with_cis2(client, cis2, "5550-0002")
    assert response["Location"] == reverse("home") and signed_in_as(client) == str(invited.pk)


def test_the_same_person_with_a_password_still_meets_local_mfa(client, cis2, coordinator, settings):
    """The exemption follows how the session signed in, not whether a CIS2 identity is linked."""
    settings.INT_REQUIRE_MFA = True
    cis2.add_person("5550-0003", coordinator.email)
    sign_in_with_cis2(client, cis2, "5550-0003")
    assert client.get("/").status_code == 200
    client.post(reverse("account_logout"))
    assert SocialAccount.objects.filter(user=coordinator).exists()
    client.post(reverse("account_login"), {"login": coordinator.email, "password": PASSWORD})
    assert signed_in_as(client) == str(coordinator.pk)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    assert not Authenticator.objects.filter(user=coordinator).exists()


def test_someone_without_an_account_is_refused_and_nothing_is_created(client, cis2, own_team):
    from int_app.teams.models import User

    people = User.objects.count()
    cis2.add_person("5550-0009", "stranger@nhs.net")
    response = sign_in_with_cis2(client, cis2, "5550-0009")
    assert response.status_code == 403
    assert "No account for this NHS identity" in response.text and "ask your coordinator for an invitation" in response.text.lower()
    assert signed_in_as(client) is None
    assert User.objects.count() == people and not SocialAccount.objects.exists()


def test_a_switched_off_account_is_refused_by_email_and_by_linked_identity(client, cis2, invited):
    cis2.add_person("5550-0004", invited.email)
    sign_in_with_cis2(client, cis2, "5550-0004")
    client.post(reverse("account_logout"))
    invited.is_active = False
    invited.save(update_fields=["is_active"])
    response = sign_in_with_cis2(client, cis2, "5550-0004")
    assert response.status_code == 403 and "switched off" in response.text and signed_in_as(client) is None
    SocialAccount.objects.all().delete()
    response = sign_in_with_cis2(client, cis2, "5550-0004")
    assert response.status_code == 403 and signed_in_as(client) is None and not SocialAccount.objects.exists()


@pytest.mark.parametrize(
    "spoil, reason",
    [
        ("audience", "The ID token is for another service"),
        ("signature", "signature is not the provider"),
        ("nonce", "issued for another sign-in"),
    ],
)
def test_an_id_token_for_another_service_or_not_signed_by_the_provider_is_refused(client, cis2, invited, caplog, spoil, reason):
    cis2.add_person("5550-0005", invited.email)
    cis2.spoil = spoil
    response = sign_in_with_cis2(client, cis2, "5550-0005")
    assert response.status_code == 401 and "NHS CIS2 sign-in did not work" in response.text
    assert signed_in_as(client) is None and not SocialAccount.objects.exists()
    assert cis2.id_tokens, "the provider did hand out a (spoilt) token"
    assert reason in caplog.text, "refused for that reason, not another"


def test_logging_out_of_a_cis2_session_ends_it_here_and_at_cis2(client, cis2, invited):
    cis2.add_person("5550-0007", invited.email)
    sign_in_with_cis2(client, cis2, "5550-0007")
    assert client.get("/").status_code == 200
    response = client.post(reverse("account_logout"))
    assert signed_in_as(client) is None and client.get("/").status_code == 302, "our session has ended"
    to_cis2 = urlsplit(response["Location"])
    assert f"{to_cis2.scheme}://{to_cis2.netloc}{to_cis2.path}" == f"{cis2.issuer}/oauth2/end_session"
    asked = parse_qs(to_cis2.query)
    assert asked["id_token_hint"] == [cis2.id_tokens[-1]], "the session to end is named by the ID token CIS2 sent"
    assert asked["client_id"] == [CLIENT_ID]
    back_to = "http://testserver" + reverse("account_login")
    assert asked["post_logout_redirect_uri"] == [back_to]
    # At CIS2: the person confirms, and CIS2 sends them back to our login page.
    ended = requests.post(f"{cis2.issuer}/oauth2/end_session/confirm", data={"redirect_uri": asked["post_logout_redirect_uri"][0]}, allow_redirects=False, timeout=10)
    assert ended.status_code == 302 and ended.headers["Location"] == back_to


def test_logging_out_after_a_password_sign_in_stays_here_even_after_a_refused_cis2_sign_in(client, cis2, coordinator):
    cis2.add_person("5550-0009", "nobody-here@nhs.net")
    assert sign_in_with_cis2(client, cis2, "5550-0009").status_code == 403, "no account for this identity"
    client.post(reverse("account_login"), {"login": coordinator.email, "password": PASSWORD})
    assert signed_in_as(client) == str(coordinator.pk)
    response = client.post(reverse("account_logout"))
    assert response["Location"] == reverse("account_login") and signed_in_as(client) is None


def test_a_failed_cis2_sign_in_does_not_lock_out_nor_count_against_the_password(client, cis2, coordinator):
    """django-axes counts password failures by account; a refused CIS2 sign-in is not one."""
    from axes.models import AccessAttempt

    cis2.add_person("5550-0008", coordinator.email)
    cis2.spoil = "signature"
    for _ in range(6):
        sign_in_with_cis2(client, cis2, "5550-0008")
    assert not AccessAttempt.objects.exists()
    client.post(reverse("account_login"), {"login": coordinator.email, "password": PASSWORD})
    assert signed_in_as(client) == str(coordinator.pk)


def test_signing_in_with_cis2_takes_up_a_waiting_invitation(client, cis2, own_team, coordinator):
    invitation = invitation_for(own_team, "ana.lopez@nhs.net", by=coordinator)
    assert invitation.state == Invitation.State.PENDING
    cis2.add_person("5550-0020", "Ana.Lopez@nhs.net")

    assert sign_in_with_cis2(client, cis2, "5550-0020")["Location"] == reverse("home")

    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.ACCEPTED and invitation.accepted_at is not None
    assert not invitation.user.has_usable_password(), "no password was chosen"


class TestLocalPasswordsOff:
    @pytest.fixture(autouse=True)
    def _passwords_off(self, settings, cis2):
        settings.INT_LOCAL_PASSWORDS = False

    def test_the_login_page_offers_only_cis2(self, client):
        page = client.get(reverse("account_login")).text
        assert "Sign in with NHS CIS2" in page
        assert 'name="password"' not in page and "Forgotten your password?" not in page

    def test_a_right_password_is_refused_and_counts_no_failure(self, client, coordinator):
        from axes.models import AccessAttempt

        response = client.post(reverse("account_login"), {"login": coordinator.email, "password": PASSWORD})
        assert response.status_code == 200 and "Passwords are switched off" in response.text
        assert signed_in_as(client) is None and not AccessAttempt.objects.exists()

    def test_the_admin_login_refuses_passwords_too(self, client, db):
        admin = UserFactory(is_staff=True, is_superuser=True)
        client.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
        assert signed_in_as(client) is None

    def test_a_password_reset_is_refused_and_sends_nothing(self, client, coordinator, mailoutbox, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("account_reset_password"), {"email": coordinator.email})
        assert response.status_code == 200 and "Passwords are switched off" in response.text
        assert mailoutbox == []

    def test_the_invitation_link_offers_cis2_and_no_password(self, client, own_team, coordinator):
        invitation = invitation_for(own_team, "ana.lopez@nhs.net", by=coordinator)

        page = client.get(reverse("invitation_accept", args=[invitation.token()])).text

        assert "Sign in with NHS CIS2" in page and f'action="{CIS2_LOGIN}"' in page
        assert 'name="password1"' not in page
        refused = client.post(reverse("invitation_accept", args=[invitation.token()]), {"password1": "a long pass phrase 42", "password2": "a long pass phrase 42"})
        assert refused.status_code == 200 and signed_in_as(client) is None
        invitation.refresh_from_db()
        assert invitation.state == Invitation.State.PENDING and not invitation.user.has_usable_password()

    def test_cis2_still_signs_people_in(self, client, cis2, invited):
        cis2.add_person("5550-0010", invited.email)
        assert sign_in_with_cis2(client, cis2, "5550-0010")["Location"] == reverse("home")
        assert signed_in_as(client) == str(invited.pk)


def test_opening_the_sign_in_address_asks_before_leaving_for_cis2(client, db, cis2):
    """A link someone else sent cannot start a sign-in by itself: GET asks, only the POST goes."""
    page = client.get(CIS2_LOGIN)
    assert page.status_code == 200 and "NHS CIS2" in page.text and 'method="post"' in page.text


def test_when_cis2_does_not_answer_the_person_is_told_so(client, db, settings):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.SOCIALACCOUNT_PROVIDERS = MockCIS2(issuer=f"http://127.0.0.1:{closed_port}").app_settings()
    response = client.post(CIS2_LOGIN)
    assert response.status_code == 503 and "NHS CIS2 is not answering" in response.text


def test_the_linked_identities_page_works_with_cis2_configured_or_switched_off_since(client, db, coordinator, settings):
    SocialAccount.objects.create(user=coordinator, provider="cis2", uid="5550-0011", extra_data={"userinfo": {"sub": "5550-0011"}})
    client.force_login(coordinator)
    assert client.get("/accounts/3rdparty/").status_code == 200
    with running_mock_cis2() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
        page = client.get("/accounts/3rdparty/")
    assert page.status_code == 200 and "NHS CIS2" in page.text


def test_a_link_made_before_cis2_was_switched_off_is_kept_and_the_person_told_why(client, db, coordinator, settings):
    """The server's CIS2 settings were removed after the coordinator linked their identity: the
    page still offers the link by its id, and removing it says why it cannot be done now, rather
    than failing, and leaves it linked."""
    link = SocialAccount.objects.create(user=coordinator, provider="cis2", uid="5550-0013")
    client.force_login(coordinator)
    page = client.get("/accounts/3rdparty/")
    assert f'value="{link.pk}"' in page.text and "NHS CIS2 identity 5550-0013" in page.text
    response = client.post("/accounts/3rdparty/", {"account": link.pk})
    assert response.status_code == 200 and "NHS CIS2 sign-in is switched off on this server" in response.text
    assert SocialAccount.objects.filter(pk=link.pk).exists()


def test_a_person_removes_the_link_to_their_cis2_identity(client, db, coordinator, settings):
    link = SocialAccount.objects.create(user=coordinator, provider="cis2", uid="5550-0014")
    client.force_login(coordinator)
    with running_mock_cis2() as provider:
        settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
        response = client.post("/accounts/3rdparty/", {"account": link.pk})
    assert response.status_code == 302
    assert not SocialAccount.objects.filter(pk=link.pk).exists()


def test_a_sign_in_below_the_assurance_level_asked_for_is_refused(client, cis2, invited, settings, caplog):
    settings.SOCIALACCOUNT_PROVIDERS = cis2.app_settings(acr_values="AAL3_ANY")
    assert "acr_values=AAL3_ANY" in client.post(CIS2_LOGIN)["Location"]
    cis2.add_person("5550-0012", invited.email, acr="AAL2_ANY")
    response = sign_in_with_cis2(client, cis2, "5550-0012")
    assert response.status_code == 401 and signed_in_as(client) is None
    assert "not at the assurance level asked for" in caplog.text
    cis2.add_person("5550-0012", invited.email, acr="AAL3_ANY")
    assert sign_in_with_cis2(client, cis2, "5550-0012")["Location"] == reverse("home")
    assert signed_in_as(client) == str(invited.pk)
