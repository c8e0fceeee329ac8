"""The team data version (int_app/teams/data_version.py, ADR 0026): a sequence every write of team
data advances, by a statement trigger that post_migrate puts on each table."""

import secrets

from django.db import migrations

from int_app.teams.data_version import WRITER_LOCK


def create_version(apps, schema_editor) -> None:
    # A random start: cached pages are keyed on the version, and a database made again (a test
    # run, a restore) must not meet entries cached from another one with the same numbers.
    start = secrets.randbelow(2**61) + 1
    schema_editor.execute(f"CREATE SEQUENCE int_data_version START WITH {start}")


class Migration(migrations.Migration):
    dependencies = [("teams", "0008_place_lead")]

    operations = [
        migrations.RunPython(create_version, reverse_code=lambda apps, schema_editor: schema_editor.execute("DROP SEQUENCE int_data_version")),
        migrations.RunSQL(
            f"""
            CREATE FUNCTION int_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              -- Held until the transaction ends: a page read meanwhile is not cached (data_version()).
              PERFORM pg_advisory_xact_lock_shared({WRITER_LOCK});
              PERFORM nextval('int_data_version');
              RETURN NULL;
            END $$;
            CREATE FUNCTION int_data_version_now() RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
              seen bigint;
            BEGIN
              -- The version first, then whether a write is under way: every write numbered up to
              -- `seen` has then committed, or is under way and the answer is NULL.
              SELECT last_value INTO seen FROM int_data_version;
              IF pg_try_advisory_lock({WRITER_LOCK}) THEN
                PERFORM pg_advisory_unlock({WRITER_LOCK});
                RETURN seen;
              END IF;
              RETURN NULL;
            END $$;
            """,
            reverse_sql="DROP FUNCTION int_data_version_now(); DROP FUNCTION int_data_changed() CASCADE;",
        ),
    ]
