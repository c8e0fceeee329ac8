import pytest
from django.core.exceptions import ImproperlyConfigured

from int_app.settings import database_from_url, env_bool, env_int


def test_a_socket_url_from_the_embedded_postgres_is_understood():
    db = database_from_url("postgresql://postgres:@/int?host=/tmp/pg")
    assert (db["NAME"], db["USER"], db["HOST"], db["PORT"]) == ("int", "postgres", "/tmp/pg", "")
    assert db["CONN_MAX_AGE"] > 0


def test_a_tcp_url_is_understood():
    db = database_from_url("postgresql://app:s%40cret@db.internal:5433/int")
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == ("app", "s@cret", "db.internal", "5433")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/int", "must start with postgresql://"),
        ("postgresql://localhost:5432/", "must name a database"),
        ("postgresql://localhost:port/int", "port that is not a number"),
        ("not a url", "must start with postgresql://"),
    ],
)
def test_a_bad_database_url_is_refused_with_a_clear_message(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_from_url(url)


def test_settings_refuse_to_start_without_a_database_url(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.DATABASES"],
        env={**env, "DJANGO_SETTINGS_MODULE": "int_app.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_boolean_and_number_settings_fail_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER must be a whole number"):
        env_int("X_NUMBER", 1)


SEND_ONE_EMAIL = """
import django
django.setup()
from django.core import mail
from django.core.mail import EmailMessage

backend = mail.mailers.default
if type(backend).__module__.endswith("smtp"):
    print("smtp", backend.host, backend.port, backend.use_tls, backend.timeout)
else:
    EmailMessage("Agenda published", "Residents to discuss: 2", None, ["gp@example.nhs.uk"]).send()
    print("sent", len(getattr(mail, "outbox", [])))
"""


def production_settings_run(script: str, **environment: str):
    import os
    import subprocess
    import sys

    inherited = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    return subprocess.run(
        [sys.executable, "-c", script],
        env={
            **inherited,
            "DJANGO_SETTINGS_MODULE": "int_app.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "production-like-secret",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("backend", ["console", "locmem"])
def test_with_debug_off_the_console_and_memory_mail_backends_send(backend):
    result = production_settings_run(SEND_ONE_EMAIL, EMAIL_BACKEND=f"django.core.mail.backends.{backend}.EmailBackend")
    assert result.returncode == 0, result.stderr[-2000:]
    expected = "Subject: Agenda published" if backend == "console" else "sent 1"
    assert expected in result.stdout


def test_with_debug_off_the_file_mail_backend_writes_to_email_file_path(tmp_path):
    result = production_settings_run(
        SEND_ONE_EMAIL, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [written] = list(tmp_path.iterdir())
    assert "Subject: Agenda published" in written.read_text()


def test_with_debug_off_smtp_is_the_default_and_takes_its_options_from_the_environment():
    result = production_settings_run(
        SEND_ONE_EMAIL, EMAIL_HOST="smtp.example.nhs.uk", EMAIL_PORT="587", EMAIL_USE_TLS="true"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["smtp", "smtp.example.nhs.uk", "587", "True", "30"]


def test_smtp_with_both_tls_and_ssl_is_refused_at_start():
    result = production_settings_run(SEND_ONE_EMAIL, EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert result.returncode != 0 and "not both" in result.stderr
