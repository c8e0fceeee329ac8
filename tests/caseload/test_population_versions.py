"""Each version of a team's population extract keeps its contacts in a table of its own, a partition
of the contacts' table (docs/adr/0028-population-contacts-a-partition-per-version.md): written whole,
attached in the commit that makes the version current, detached and dropped once another is."""

import psycopg2
import pytest
from django.db import connection

from caseload import population
from caseload.models import PopulationContacts, PopulationExtract, PopulationPerson
from caseload.population import contacts_partition, population_extract_create
from tests.factories import valid_nhs_number

from .population_builders import HEADER, extract_csv, extract_rows, month

ALICE, BOB = valid_nhs_number(1), valid_nhs_number(2)


def two_people(team, *, alice_ae: int = 3) -> bytes:
    practice = team.practices.order_by("pk").first()
    return extract_csv(
        extract_rows(
            team,
            {
                ALICE: (practice, 1948, "F", {0: {"ae_attendance": alice_ae}, 2: {"emergency_admission": 1}}),
                BOB: (practice, 1990, "M", {1: {"primary_care_appointment": 2}}),
            },
        )
    )


def partitions(team) -> dict[str, bool]:
    """The contacts' partitions of the team's extracts, and whether each is being detached. (A test
    that commits leaves its partitions to the tests after it, as Django empties the tables it knows.)"""
    ours = {contacts_partition(pk) for pk in PopulationExtract.objects.filter(team=team).values_list("pk", flat=True)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text, inhdetachpending FROM pg_inherits WHERE inhparent = %s::regclass",
            [PopulationContacts._meta.db_table],
        )
        return {name: pending for name, pending in cursor.fetchall() if name in ours}


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_each_version_is_a_partition_and_the_old_one_is_dropped_once_the_new_one_is_current(coordinator, own_team, django_capture_on_commit_callbacks):
    first = population_extract_create(content=two_people(own_team, alice_ae=3), file_name="a.csv", team=own_team, by=coordinator)
    assert partitions(own_team) == {contacts_partition(first.pk): False}

    with django_capture_on_commit_callbacks() as after_commit:
        second = population_extract_create(content=two_people(own_team, alice_ae=7), file_name="b.csv", team=own_team, by=coordinator)
    # The load itself (a small file: in the uploader's request) does not wait to drop the old
    # version: a task does, once the load has committed.
    assert table_exists(contacts_partition(first.pk)) and second.is_current
    for callback in after_commit:
        callback()

    assert partitions(own_team) == {contacts_partition(second.pk): False}
    assert not table_exists(contacts_partition(first.pk))
    assert PopulationContacts.objects.filter(extract_id=second.pk).count() == 5
    # The partition's key is the parent's: a person's months are read through it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [contacts_partition(second.pk)])
        assert [row[0].split(" USING ")[1] for row in cursor.fetchall()] == ["btree (person_id, month, kind, extract_id)"]


def test_a_refused_file_leaves_no_table_behind_whichever_way_it_was_checked(coordinator, own_team):
    ods = own_team.practices.order_by("pk").first().ods_code
    spans = [f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1", f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,1"]
    files = {
        # Plain values throughout: only the primary key, built after the rows, finds the repeat.
        "repeated": [*spans, f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,2"],
        # A count that is no number stops the quick load's cast; the line-by-line check names it.
        "not a number": [*spans, f"{BOB},{ods},1990,M,{month(1):%Y-%m},ae_attendance,two"],
        "too big": [*spans, f"{BOB},{ods},1990,M,{month(1):%Y-%m},ae_attendance,99999999999"],
        "signed": [*spans, f"{BOB},{ods},1990,M,{month(1):%Y-%m},ae_attendance,+2"],
    }

    extracts = {
        name: population_extract_create(content="\n".join([HEADER, *lines]).encode(), file_name=f"{name}.csv", team=own_team, by=coordinator)
        for name, lines in files.items()
    }

    assert {name: extract.status for name, extract in extracts.items()} == dict.fromkeys(files, PopulationExtract.Status.REFUSED)
    assert extracts["repeated"].errors[0]["message"] == "The same NHS number, month and kind as line 3."
    assert [error["line"] for error in extracts["not a number"].errors] == [4]
    assert "Bad contacts two" in extracts["not a number"].errors[0]["message"]
    assert "Bad contacts 99999999999" in extracts["too big"].errors[0]["message"]
    assert "Bad contacts +2" in extracts["signed"].errors[0]["message"]
    assert partitions(own_team) == {}
    assert not any(table_exists(contacts_partition(extract.pk)) for extract in extracts.values())
    assert not PopulationPerson.objects.exists()


def test_a_count_written_with_a_leading_zero_is_loaded_line_by_line_as_its_number(coordinator, own_team):
    """The quick way takes a count only as the number it is; the line-by-line check takes 02 as 2."""
    ods = own_team.practices.order_by("pk").first().ods_code
    lines = [f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1", f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,02"]

    extract = population_extract_create(content="\n".join([HEADER, *lines]).encode(), file_name="z.csv", team=own_team, by=coordinator)

    assert extract.status == PopulationExtract.Status.DONE, extract.errors
    assert sorted(PopulationContacts.objects.filter(extract_id=extract.pk).values_list("contacts", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_the_old_version_stays_readable_by_others_until_the_switch_commits_then_is_detached_and_dropped(own_team, monkeypatch):
    """Outside a transaction (a worker's run): another connection reads the current version while the
    new one is written and attached, without waiting; the old one goes only after the commit, by a
    DETACH … CONCURRENTLY that leaves nothing half detached."""
    first = population_extract_create(content=two_people(own_team, alice_ae=3), file_name="a.csv", team=own_team, by=None)
    seen_at_the_switch = []
    announce = population.announce_population_extract_loaded

    def read_from_another_connection(extract, team) -> None:
        other = psycopg2.connect(**connection.get_connection_params())
        try:
            with other.cursor() as cursor:
                cursor.execute("SET statement_timeout = '5s'")  # a reader that had to wait would fail here
                cursor.execute(
                    f"SELECT x.id, count(c.*) FROM caseload_populationextract x JOIN {PopulationContacts._meta.db_table} c "  # noqa: S608
                    "ON c.extract_id = x.id WHERE x.is_current AND x.team_id = %s GROUP BY x.id",
                    [team.pk],
                )
                seen_at_the_switch.extend(cursor.fetchall())
        finally:
            other.close()
        announce(extract, team)

    monkeypatch.setattr(population, "announce_population_extract_loaded", read_from_another_connection)
    second = population_extract_create(content=two_people(own_team, alice_ae=7), file_name="b.csv", team=own_team, by=None)

    try:
        assert seen_at_the_switch == [(first.pk, 5)]
        second.refresh_from_db()
        assert second.is_current and second.status == PopulationExtract.Status.DONE
        assert partitions(own_team) == {contacts_partition(second.pk): False}
        assert not table_exists(contacts_partition(first.pk))
        assert not PopulationPerson.objects.filter(extract_id=first.pk).exists()
    finally:
        with connection.cursor() as cursor:  # committed: not left to the tests after this one
            cursor.execute(f"DROP TABLE IF EXISTS {contacts_partition(first.pk)}, {contacts_partition(second.pk)}")
