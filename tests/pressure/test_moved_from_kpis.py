"""Practice pressure moved out of kpis into an app of its own without moving a row: its models
keep the kpis tables, the migrations that move them change no table, and the report's history
is still written by exactly one set of triggers."""

import datetime
import io
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from int_app.teams.data_version import TRIGGER as DATA_VERSION_TRIGGER
from int_app.teams.roles import Role
from pressure.models import PressureAlert, PressureReport, PressureReportChange

from ..conftest import member

# The migrations that move the models: the new app's first, the audit copies' key, and kpis' last.
MOVE_MIGRATIONS = [
    ("pressure", "0001_initial"),
    ("audit", "0003_pressure_report_change_follows_the_pressure_app"),
    ("kpis", "0005_pressure_moves_to_its_own_app"),
]
TABLE_CHANGES = re.compile(r"\b(CREATE TABLE|DROP TABLE|ALTER TABLE|TRUNCATE|DELETE FROM)\b", re.IGNORECASE)


def migration_sql(app_label: str, name: str) -> str:
    out = io.StringIO()
    call_command("sqlmigrate", app_label, name, stdout=out)
    return out.getvalue()


def test_the_models_keep_the_tables_kpis_made():
    assert [model._meta.db_table for model in (PressureReport, PressureReportChange, PressureAlert)] == [
        "kpis_pressurereport",
        "kpis_pressurereportchange",
        "kpis_pressurealert",
    ]
    assert {model._meta.app_label for model in (PressureReport, PressureReportChange, PressureAlert)} == {"pressure"}


@pytest.mark.parametrize(("app_label", "name"), MOVE_MIGRATIONS)
def test_the_move_creates_drops_and_renames_no_table(db, app_label, name):
    sql = migration_sql(app_label, name)
    assert not TABLE_CHANGES.findall(sql), sql
    assert not re.search(r"\bRENAME\b", sql, re.IGNORECASE), sql


def test_the_history_triggers_move_to_the_new_app_before_the_old_ones_go(db):
    """pgtrigger names a trigger after its model's app: the new ones are installed on the same
    table first, then kpis drops the old ones, so the table is never without them."""
    installed = migration_sql("pressure", "0001_initial")
    dropped = migration_sql("kpis", "0005_pressure_moves_to_its_own_app")
    assert len(re.findall(r'CREATE\s+TRIGGER \w+\s+AFTER (?:INSERT|UPDATE|DELETE) ON "kpis_pressurereport"', installed)) == 3
    assert len(re.findall(r'DROP TRIGGER IF EXISTS \w+ ON "kpis_pressurereport"', dropped)) == 3


def test_a_report_saved_after_the_move_is_recorded_once_by_the_history_triggers(own_team):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'kpis_pressurereport'::regclass AND NOT tgisinternal AND tgname <> %s ORDER BY tgname",
            [DATA_VERSION_TRIGGER],  # the page cache's (int_app/teams/data_version.py), not a history trigger
        )
        triggers = [name for (name,) in cursor.fetchall()]
    assert triggers == sorted(trigger.get_pgid(PressureReport) for trigger in PressureReport._meta.triggers)

    manager = member(own_team, Role.PRACTICE_MANAGER)
    report = PressureReport.objects.create(
        practice=manager.memberships.get().practice, week_start=datetime.date(2026, 3, 9), level=3, reported_by=manager
    )
    PressureReport.objects.filter(pk=report.pk).update(level=4)
    history = apps.get_model("audit", "PressureReportChange").objects.filter(pgh_obj=report).order_by("pgh_id")
    assert [(event.pgh_label, event.level) for event in history] == [("insert", 3), ("update", 4)]
