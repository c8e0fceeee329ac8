"""The version of the team data, for caching what a page shows (ADR 0026).

Every INSERT, UPDATE, DELETE or TRUNCATE of a table of the data apps advances one sequence, from a
statement trigger in the database (so bulk updates, imports by COPY and raw SQL count too, and no
code path can forget). Each writing transaction also holds a shared advisory lock until it ends.
`data_version()` reads the sequence and then tries that lock: if a write is under way it answers
None (do not cache: what is read now may be about to change without the version moving again);
otherwise every write numbered up to the answer has committed, so what the page reads next is at
least that new. A cached page keyed on the version is then never older than the data it names.

The tables are found from the models when `migrate` runs (post_migrate), so a new model is covered
without anyone remembering to; only the logs written by reading pages are left out, or every page
view would make every cached page old.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection, connections

# pg_advisory_xact_lock_shared's key, one bigint for the whole database ("INT" and a number).
WRITER_LOCK = 4_804_948_001
DATA_APPS = ("teams", "caseload", "pressure", "meetings", "kpis", "audit")
# Written by reading (who opened a record) or by the clock (the worker's heartbeat), not data a page shows.
NOT_DATA = {"caseload.residentaccess", "teams.workerheartbeat"}
TRIGGER = "int_data_version"


def data_tables() -> list[str]:
    tables = set()
    for app_label in DATA_APPS:
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in NOT_DATA:
                tables.add(model._meta.db_table)
    return sorted(tables)


def left_out_tables() -> list[str]:
    return sorted(apps.get_model(label)._meta.db_table for label in NOT_DATA)


def install_triggers(*, using: str = "default", **kwargs) -> None:
    """post_migrate: the statement trigger on every data table (again: CREATE OR REPLACE)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regproc('int_data_changed') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # migrated backwards past teams 0009
        existing = set(connections[using].introspection.table_names(cursor))
        for table in data_tables():
            if table in existing:
                quoted = connections[using].ops.quote_name(table)
                cursor.execute(
                    f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {quoted} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION int_data_changed()"
                )
        for table in left_out_tables():
            if table in existing:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {connections[using].ops.quote_name(table)}")


def in_a_transaction_of_its_own() -> bool:
    """What is read now may yet be rolled back (a test's own transaction does not count)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def data_version() -> int | None:
    """The committed version of the team data, or None while a write is under way or when this
    request is inside a transaction of its own (what it reads there may yet be rolled back)."""
    if in_a_transaction_of_its_own():
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT int_data_version_now()")
        return cursor.fetchone()[0]


def data_version_of(request) -> int | None:
    """The data version for this request, read once, before anything it shows is read: the person
    (middleware.person_from_cache) and the page (page_cache.cached_page) are keyed on the same one."""
    if in_a_transaction_of_its_own():
        return None  # asked again inside one: nothing read there is cached
    if not hasattr(request, "_int_data_version"):
        request._int_data_version = data_version()
    return request._int_data_version
