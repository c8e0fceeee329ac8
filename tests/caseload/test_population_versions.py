"""Each version of a team's population extract is its people, each with their contacts as two
arrays on their row (docs/adr/0029-population-contacts-as-arrays-per-person.md): written whole in
the commit that makes the version current, deleted once another one is."""

import psycopg2
import pytest
from django.db import connection

from caseload import population
from caseload.models import KIND_NUMBERS, PopulationContacts, PopulationExtract, PopulationPerson, contact_slot
from caseload.population import population_extract_create
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


def test_each_version_is_its_people_with_their_contacts_and_the_old_one_goes_once_the_new_one_is_current(
    coordinator, own_team, django_capture_on_commit_callbacks
):
    first = population_extract_create(content=two_people(own_team, alice_ae=3), file_name="a.csv", team=own_team, by=coordinator)

    with django_capture_on_commit_callbacks() as after_commit:
        second = population_extract_create(content=two_people(own_team, alice_ae=7), file_name="b.csv", team=own_team, by=coordinator)
    # The load itself (a small file: in the uploader's request) does not wait to delete the old
    # version: a task does, once the load has committed.
    assert PopulationPerson.objects.filter(extract=first).count() == 3 and second.is_current
    for callback in after_commit:
        callback()

    assert not PopulationPerson.objects.filter(extract=first).exists()
    assert not PopulationContacts.objects.filter(extract_id=first.pk).exists()
    alice = PopulationPerson.objects.get(extract=second, nhs_number=ALICE)
    # One element a month and kind with contacts: the month and kind as one number, the count beside it.
    assert sorted(zip(alice.contact_slots, alice.contact_counts, strict=True)) == [
        (contact_slot(month(2), KIND_NUMBERS["emergency_admission"]), 1),
        (contact_slot(month(0), KIND_NUMBERS["ae_attendance"]), 7),
    ]
    # Read as rows, as the contacts table held them.
    assert sorted(PopulationContacts.objects.filter(person_id=alice.pk).values_list("month", "kind", "contacts")) == [
        (month(2), KIND_NUMBERS["emergency_admission"], 1),
        (month(0), KIND_NUMBERS["ae_attendance"], 7),
    ]
    assert PopulationContacts.objects.filter(extract_id=second.pk).count() == 5


def test_a_refused_file_leaves_no_person_behind_whichever_way_it_was_checked(coordinator, own_team):
    ods = own_team.practices.order_by("pk").first().ods_code
    spans = [f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1", f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,1"]
    files = {
        # Plain values throughout: only the count of a person's distinct months and kinds finds the repeat.
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
    assert not PopulationPerson.objects.exists() and not PopulationContacts.objects.exists()


def test_a_count_written_with_a_leading_zero_is_loaded_line_by_line_as_its_number(coordinator, own_team):
    """The quick way takes a count only as the number it is; the line-by-line check takes 02 as 2."""
    ods = own_team.practices.order_by("pk").first().ods_code
    lines = [f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1", f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,02"]

    extract = population_extract_create(content="\n".join([HEADER, *lines]).encode(), file_name="z.csv", team=own_team, by=coordinator)

    assert extract.status == PopulationExtract.Status.DONE, extract.errors
    assert sorted(PopulationContacts.objects.filter(extract_id=extract.pk).values_list("contacts", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_the_old_version_stays_readable_by_others_until_the_switch_commits_then_is_deleted(own_team, monkeypatch):
    """Outside a transaction (a worker's run): another connection reads the current version's
    contacts while the new one is written, without waiting; the old one goes only after the commit."""
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

    assert seen_at_the_switch == [(first.pk, 5)]
    second.refresh_from_db()
    assert second.is_current and second.status == PopulationExtract.Status.DONE
    assert not PopulationPerson.objects.filter(extract_id=first.pk).exists()
    assert PopulationContacts.objects.filter(extract_id=second.pk).count() == 5
