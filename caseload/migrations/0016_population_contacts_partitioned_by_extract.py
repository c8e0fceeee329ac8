"""The population contacts become a table partitioned by extract: each loaded version of an extract
is one partition, written unindexed, indexed after, attached when it becomes current and detached
and dropped when it stops being (docs/adr/0028-population-contacts-a-partition-per-version.md).

The model does not change: its primary key (person, month, kind) stays Django's. PostgreSQL asks a
partitioned table's primary key to hold the partition key, so the database's key is (person, month,
kind, extract), unique for the same rows as a person belongs to one extract.

The people lose the database's foreign key to their extract, which the load paid for row by row
at its commit."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "caseload_populationcontacts"
COLUMNS = "person_id bigint NOT NULL, extract_id bigint NOT NULL, month date NOT NULL, kind smallint NOT NULL, contacts integer NOT NULL"


def partitioned(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_before_0016")
        cursor.execute(f"ALTER TABLE {TABLE}_before_0016 RENAME CONSTRAINT {TABLE}_pkey TO {TABLE}_before_0016_pkey")
        cursor.execute(f"CREATE TABLE {TABLE} ({COLUMNS}, CONSTRAINT {TABLE}_pkey PRIMARY KEY (person_id, month, kind, extract_id)) PARTITION BY LIST (extract_id)")
        cursor.execute(f"SELECT DISTINCT extract_id FROM {TABLE}_before_0016 ORDER BY extract_id")
        for (extract_id,) in cursor.fetchall():
            partition = f"{TABLE}_{int(extract_id)}"
            cursor.execute(f"CREATE TABLE {partition} PARTITION OF {TABLE} FOR VALUES IN ({int(extract_id)})")
            cursor.execute(f"INSERT INTO {partition} SELECT person_id, extract_id, month, kind, contacts FROM {TABLE}_before_0016 WHERE extract_id = %s", [extract_id])
        cursor.execute(f"DROP TABLE {TABLE}_before_0016")


def not_partitioned(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE}_before_0016 ({COLUMNS})")
        cursor.execute(f"INSERT INTO {TABLE}_before_0016 SELECT person_id, extract_id, month, kind, contacts FROM {TABLE}")
        cursor.execute(f"DROP TABLE {TABLE}")  # and its partitions
        cursor.execute(f"ALTER TABLE {TABLE}_before_0016 RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (person_id, month, kind)")


class Migration(migrations.Migration):
    dependencies = [
        ("caseload", "0015_service_use_resident_checked_by_the_import"),
    ]

    operations = [
        migrations.RunPython(partitioned, reverse_code=not_partitioned),
        migrations.AlterField(
            model_name="populationperson",
            name="extract",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="caseload.populationextract"
            ),
        ),
    ]
