import os
import subprocess
import sys

PRODUCTION = {
    "DJANGO_SECRET_KEY": "k8#Jd92!mZq0@Lr7$Vx1^Tn5&Wb3*Hy6(Pc4)Ge2_Fs9+Ua0=Xo8-Qi7",
    "DJANGO_ALLOWED_HOSTS": "int.example.nhs.uk",
    "DJANGO_DEBUG": "false",
    "INT_DEMO_MODE": "false",
}


def test_the_production_settings_pass_djangos_deployment_checks():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "INT_"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**env, **PRODUCTION},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_carry_hsts_nosniff_a_referrer_policy_and_no_framing(client, coordinator, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    client.force_login(coordinator)
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_production_defaults_are_safe(settings):
    # The test run sets only what tests need (no SSL redirect, plain static files, no MFA);
    # everything else is the production default.
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS == 31_536_000
