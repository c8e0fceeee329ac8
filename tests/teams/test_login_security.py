"""Login hardening, as an information-governance lead would check it."""

import datetime
import re
import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from allauth.usersessions.models import UserSession
from axes.models import AccessAttempt
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from int_app.teams.signals import SESSION_STARTED_KEY

from ..factories import PASSWORD

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def log_in(client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_account_is_locked_for_15_minutes_after_5_failed_attempts(client, coordinator):
    for _ in range(4):
        assert log_in(client, coordinator.email, "wrong-password").status_code == 200
    assert log_in(client, coordinator.email, "wrong-password").status_code == 429, "the fifth failure locks"
    locked = log_in(client, coordinator.email)
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.text
    assert "_auth_user_id" not in client.session

    # Fifteen minutes later the same password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    cache.clear()
    assert log_in(client, coordinator.email).status_code == 302
    assert client.session["_auth_user_id"] == str(coordinator.pk)


def test_the_lockout_counts_the_address_whatever_its_case(client, coordinator):
    for _ in range(5):
        log_in(client, coordinator.email.upper(), "wrong-password")
    assert log_in(client, coordinator.email).status_code == 429


def test_nobody_can_sign_up(client, db):
    from int_app.teams.models import User

    before = User.objects.count()
    response = client.post(reverse("account_signup"), {"email": "new@example.com", "password1": "a-long-pass-2026!"})
    assert "Sign Up Closed" in response.text or response.status_code in {302, 403}
    assert User.objects.count() == before


class TestMFA:
    @pytest.fixture(autouse=True)
    def _mfa_required(self, settings):
        settings.INT_REQUIRE_MFA = True

    def test_an_account_without_an_authenticator_app_is_sent_to_set_one_up(self, client, coordinator):
        log_in(client, coordinator.email)
        response = client.get("/")
        assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")

    def test_with_an_authenticator_app_the_code_is_asked_for_after_the_password(self, client, coordinator):
        secret = generate_totp_secret()
        TOTP.activate(coordinator, secret)
        response = log_in(client, coordinator.email)
        assert response["Location"] == reverse("mfa_authenticate")
        assert "_auth_user_id" not in client.session
        assert client.get("/").status_code == 302  # not in yet
        wrong = client.post(reverse("mfa_authenticate"), {"code": "000000" if current_code(secret) != "000000" else "111111"})
        assert wrong.status_code == 200 and "_auth_user_id" not in client.session
        client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
        assert client.session["_auth_user_id"] == str(coordinator.pk)
        assert client.get("/").status_code == 200

    def test_a_password_reset_does_not_bypass_the_code(self, client, coordinator, mailoutbox, django_capture_on_commit_callbacks):
        secret = generate_totp_secret()
        TOTP.activate(coordinator, secret)
        with django_capture_on_commit_callbacks(execute=True):  # the worker sends it once the request commits
            client.post(reverse("account_reset_password"), {"email": coordinator.email})
        link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)
        form_page = client.get(link, follow=True)
        new_password = "a-brand-new-password-2026"
        client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
                    {"password1": new_password, "password2": new_password})
        assert "_auth_user_id" not in client.session, "a reset must not log the person in"
        coordinator.refresh_from_db()
        assert coordinator.check_password(new_password)
        response = log_in(client, coordinator.email, new_password)
        assert response["Location"] == reverse("mfa_authenticate")
        assert "_auth_user_id" not in client.session

    def test_a_password_reset_for_an_unknown_address_sends_nothing_and_looks_the_same(
        self, client, coordinator, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            stranger = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
        assert mailoutbox == [], "sign-up is closed: no invitation to sign up, no email at all"
        with django_capture_on_commit_callbacks(execute=True):
            member = client.post(reverse("account_reset_password"), {"email": coordinator.email})
        assert (stranger.status_code, stranger["Location"]) == (member.status_code, member["Location"])
        assert [email.to for email in mailoutbox] == [[coordinator.email]]

    def test_a_password_reset_while_the_mail_server_is_down_still_answers(
        self, client, coordinator, transactional_db, settings, mailoutbox
    ):
        settings.MAILERS = {"default": {"BACKEND": "tests.meetings.test_email.MailServerDown"}}
        response = client.post(reverse("account_reset_password"), {"email": coordinator.email})
        assert response.status_code == 302 and mailoutbox == []


class TestSessions:
    def test_a_session_ends_after_30_minutes_idle(self, client, coordinator, settings):
        log_in(client, coordinator.email)
        assert client.session.get_expiry_age() == 30 * 60
        client.get("/")
        session = client.session
        session.set_expiry(-1)  # as if 30 minutes had passed without a request
        session.save()
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)

    def test_activity_keeps_a_session_alive_renewing_it_at_most_once_a_minute(self, client, coordinator):
        from django.contrib.sessions.models import Session
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from int_app.teams.middleware import SESSION_RENEWED_KEY

        log_in(client, coordinator.email)
        client.get("/")
        key = client.session.session_key
        with CaptureQueriesContext(connection) as busy:
            client.get("/")
        assert not [q for q in busy.captured_queries if q["sql"].startswith('UPDATE "django_session"')]

        # Two minutes later the next request pushes the expiry 30 minutes on from then.
        session = client.session
        session[SESSION_RENEWED_KEY] -= 120
        session.save()
        Session.objects.filter(pk=key).update(expire_date=timezone.now() + datetime.timedelta(minutes=28))
        assert client.get("/").status_code == 200
        assert Session.objects.get(pk=key).expire_date > timezone.now() + datetime.timedelta(minutes=29)

    def test_a_session_ends_12_hours_after_login_however_busy(self, client, coordinator):
        log_in(client, coordinator.email)
        assert client.get("/").status_code == 200
        session = client.session
        session[SESSION_STARTED_KEY] = int(time.time()) - 12 * 3600 - 1
        session.save()
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        assert "_auth_user_id" not in client.session

    def test_deactivating_a_user_ends_their_sessions_at_once(self, client, coordinator, django_capture_on_commit_callbacks):
        log_in(client, coordinator.email)
        assert client.get("/").status_code == 200
        assert UserSession.objects.filter(user=coordinator).exists()
        with django_capture_on_commit_callbacks(execute=True):
            coordinator.is_active = False
            coordinator.save(update_fields=["is_active"])
        assert not UserSession.objects.filter(user=coordinator).exists()
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_mfa_is_required_by_default_outside_demo_mode():
    import os
    import subprocess
    import sys

    def setting(extra: dict) -> str:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "int_app.settings", **extra}
        env.pop("INT_REQUIRE_MFA", None)
        return subprocess.run(
            [sys.executable, "-c", "from django.conf import settings; print(settings.INT_REQUIRE_MFA)"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()

    assert setting({"INT_DEMO_MODE": "false"}) == "True"
    assert setting({"INT_DEMO_MODE": "true"}) == "False"
