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
