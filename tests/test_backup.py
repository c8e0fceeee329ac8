"""`make backup` and `make restore`: a restore into a fresh database holds every row of every table."""

import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from int_app.teams.roles import Role

from .conftest import member

ROOT = Path(__file__).resolve().parent.parent


def url_for(database: str) -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"]
    if host.startswith("/"):
        return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{database}?host={host}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{database}"


def fingerprint(dsn_database: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row's text, for every table in the public schema."""
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname=dsn_database, user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            tables = [row[0] for row in cursor.fetchall()]
            result = {}
            for table in tables:
                cursor.execute(
                    f'SELECT count(*), coalesce(md5(string_agg(t::text, \'|\' ORDER BY t::text)), \'\') FROM "{table}" t'
                )
                result[table] = cursor.fetchone()
            return result
    finally:
        conn.close()


def run(*args: str, url: str) -> None:
    import os

    subprocess.run([sys.executable, str(ROOT / "scripts" / "backup.py"), *args], env={**os.environ, "DATABASE_URL": url}, check=True)


@pytest.mark.django_db(transaction=True)
def test_a_backup_restored_into_a_fresh_database_matches_table_for_table(tmp_path, own_team, other_team):
    # Some data worth keeping, committed so that pg_dump sees it.
    lead = member(own_team, Role.PCN_LEAD)
    lead.full_name = "Zoë O'Brien – naïve “quotes”"
    lead.save(update_fields=["full_name"])
    source = connection.settings_dict["NAME"]
    fresh = f"{source}_restore"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        cursor.execute(f'CREATE DATABASE "{fresh}"')
    try:
        dump = tmp_path / "int.dump"
        run("backup", str(dump), url=url_for(source))
        assert dump.stat().st_size > 0
        run("restore", str(dump), url=url_for(fresh))
        before, after = fingerprint(source), fingerprint(fresh)
        assert before == after
        assert before["teams_user"][0] == own_team.memberships.count() + other_team.memberships.count()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_restore_refuses_a_missing_file(tmp_path):
    import os

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "backup.py"), "restore", str(tmp_path / "none.dump")],
        env={**os.environ, "DATABASE_URL": url_for("unused")},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "No backup at" in result.stderr
