"""A person's contacts become two arrays on their PopulationPerson row: the month and kind as one
small number (slot = month index from January 2000 × 8 + kind number − 1) and the count beside it
(docs/adr/0029-population-contacts-as-arrays-per-person.md). The load writes one row a person
instead of one a person, month and kind.

Existing extracts are converted here: each person's contact rows become their arrays, then the
partitioned contacts table (ADR 0028) and its partitions are dropped. `caseload_populationcontacts`
becomes a view that unnests the arrays into the rows it held, read by PopulationContacts (no
longer managed by Django)."""

import django.contrib.postgres.fields
from django.db import migrations, models

TABLE = "caseload_populationcontacts"
PERSON = "caseload_populationperson"
# The rows the table held, from each person's arrays: month index = slot / 8 from January 2000.
VIEW = f"""
    CREATE VIEW {TABLE} AS
    SELECT p.id AS person_id, p.extract_id, make_date(2000 + c.slot / 96, c.slot / 8 % 12 + 1, 1) AS month,
           (c.slot % 8 + 1)::smallint AS kind, c.contacts::integer AS contacts
    FROM {PERSON} AS p CROSS JOIN LATERAL unnest(p.contact_slots, p.contact_counts) AS c (slot, contacts)
"""
COLUMNS = "person_id bigint NOT NULL, extract_id bigint NOT NULL, month date NOT NULL, kind smallint NOT NULL, contacts integer NOT NULL"


def contacts_into_arrays(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {PERSON} AS p SET contact_slots = c.slots, contact_counts = c.counts
            FROM (
                SELECT person_id,
                       array_agg((((extract(year FROM month)::int - 2000) * 12 + extract(month FROM month)::int - 1) * 8 + kind - 1)::smallint
                                 ORDER BY month, kind) AS slots,
                       array_agg(contacts::smallint ORDER BY month, kind) AS counts
                FROM {TABLE} GROUP BY person_id
            ) AS c
            WHERE c.person_id = p.id
            """  # noqa: S608
        )
        cursor.execute(f"DROP TABLE {TABLE}")  # and its partitions
        cursor.execute(VIEW)


def arrays_into_contacts(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE}_from_0017 AS SELECT * FROM {TABLE}")  # noqa: S608
        cursor.execute(f"DROP VIEW {TABLE}")
        cursor.execute(f"CREATE TABLE {TABLE} ({COLUMNS}, CONSTRAINT {TABLE}_pkey PRIMARY KEY (person_id, month, kind, extract_id)) PARTITION BY LIST (extract_id)")
        cursor.execute(f"SELECT DISTINCT extract_id FROM {TABLE}_from_0017 ORDER BY extract_id")  # noqa: S608
        for (extract_id,) in cursor.fetchall():
            cursor.execute(f"CREATE TABLE {TABLE}_{int(extract_id)} PARTITION OF {TABLE} FOR VALUES IN ({int(extract_id)})")
        cursor.execute(f"INSERT INTO {TABLE} SELECT person_id, extract_id, month, kind, contacts FROM {TABLE}_from_0017")  # noqa: S608
        cursor.execute(f"DROP TABLE {TABLE}_from_0017")


class Migration(migrations.Migration):
    dependencies = [
        ("caseload", "0016_population_contacts_partitioned_by_extract"),
    ]

    operations = [
        migrations.AddField(
            model_name="populationperson",
            name="contact_slots",
            field=django.contrib.postgres.fields.ArrayField(base_field=models.SmallIntegerField(), default=list),
        ),
        migrations.AddField(
            model_name="populationperson",
            name="contact_counts",
            field=django.contrib.postgres.fields.ArrayField(base_field=models.SmallIntegerField(), default=list),
        ),
        migrations.RunPython(contacts_into_arrays, reverse_code=arrays_into_contacts),
        migrations.AlterModelOptions(name="populationcontacts", options={"managed": False}),
    ]
