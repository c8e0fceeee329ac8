"""A large population extract is loaded in two halves at once, each on a connection of its own
(docs/adr/0031-population-load-in-two-halves.md). The halves load the same people as one
connection does; a file they cannot load the quick way (a person in both halves, an error in
either half) is loaded, or refused, on one connection, and nothing of the halves is left behind.

These run outside a test transaction (as a worker does): the second half's connection must see the
team, and commits its people before the first half's commit makes the version current."""

import logging

import psycopg2
import pytest
from django.db import connection

from caseload import population
from caseload.models import PopulationExtract, PopulationPerson
from caseload.population import population_extract_create
from tests.factories import valid_nhs_number

from .population_builders import extract_csv, extract_rows

pytestmark = pytest.mark.django_db(transaction=True)

HALVES = "loaded in two halves"


def many_people(team, count: int = 40) -> list[tuple]:
    """`count` people, each with a few months and kinds, the rows of each person together (as the
    ICB writes the file)."""
    practices = list(team.practices.order_by("pk"))
    kinds = ("ae_attendance", "emergency_admission", "primary_care_appointment", "nhs_111_call")
    return extract_rows(
        team,
        {
            valid_nhs_number(500 + n): (
                practices[n % len(practices)],
                1930 + n,
                "MFU"[n % 3],
                {back: {kinds[(n + back) % len(kinds)]: 1 + (n * back) % 4} for back in range(n % 9 + 1)},
            )
            for n in range(count)
        },
    )


def people_of(extract: PopulationExtract) -> dict[str, tuple]:
    """Everything the extract holds of each person, their contacts in slot order."""
    return {
        person.nhs_number: (
            person.practice_id,
            person.birth_year,
            person.sex,
            person.recent_emergency,
            person.recent_total,
            person.before_emergency,
            person.before_total,
            person.recent_by_kind,
            sorted(zip(person.contact_slots, person.contact_counts, strict=True)),
        )
        for person in PopulationPerson.objects.filter(extract=extract)
    }


def people_committed(extract: PopulationExtract) -> int:
    """The extract's people another connection sees: those committed."""
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {PopulationPerson._meta.db_table} WHERE extract_id = %s", [extract.pk])  # noqa: S608
            return cursor.fetchone()[0]
    finally:
        other.close()


def load(team, content: bytes, *, halves: bool, monkeypatch, caplog) -> tuple[PopulationExtract, bool]:
    """Load `content`, in halves (any file of two lines or more) or on one connection; and whether
    it was loaded in halves."""
    monkeypatch.setattr(population, "HALVES_FROM_ROWS", 2 if halves else 10**12)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="caseload.population"):
        extract = population_extract_create(content=content, file_name="extract.csv", team=team, by=None, background=False)
    return extract, any(HALVES in record.getMessage() for record in caplog.records)


def test_a_large_extract_is_loaded_in_two_halves_as_the_same_people_one_connection_loads(own_team, monkeypatch, caplog):
    content = extract_csv(many_people(own_team))

    in_one, was_halves = load(own_team, content, halves=False, monkeypatch=monkeypatch, caplog=caplog)
    assert in_one.status == PopulationExtract.Status.DONE and not was_halves
    loaded_in_one = people_of(in_one)  # deleted once the next version is current
    in_halves, was_halves = load(own_team, content, halves=True, monkeypatch=monkeypatch, caplog=caplog)

    assert was_halves
    assert in_halves.status == PopulationExtract.Status.DONE and in_halves.is_current
    assert (in_halves.rows_loaded, in_halves.people, in_halves.first_month, in_halves.last_month) == (
        in_one.rows_loaded,
        in_one.people,
        in_one.first_month,
        in_one.last_month,
    )
    assert people_of(in_halves) == loaded_in_one and len(loaded_in_one) == in_one.people > 30


def test_a_file_with_a_person_in_both_halves_is_loaded_on_one_connection_with_nothing_of_the_halves_left(
    own_team, monkeypatch, caplog
):
    rows = many_people(own_team)
    # One person's rows first and last: whatever the middle, that person is in both halves.
    most = max({row[0] for row in rows}, key=lambda nhs_number: sum(row[0] == nhs_number for row in rows))
    split_person = [row for row in rows if row[0] == most]
    rest = [row for row in rows if row[0] != most]
    content = extract_csv(split_person[:1] + rest + split_person[1:])
    expected, _ = load(own_team, extract_csv(rows), halves=False, monkeypatch=monkeypatch, caplog=caplog)
    loaded_in_one = people_of(expected)

    extract, was_halves = load(own_team, content, halves=True, monkeypatch=monkeypatch, caplog=caplog)

    assert not was_halves
    assert extract.status == PopulationExtract.Status.DONE and extract.is_current
    assert people_of(extract) == loaded_in_one


@pytest.mark.parametrize("broken", ["first", "second"])
def test_an_error_in_either_half_refuses_the_file_by_line_and_leaves_no_person_of_it(own_team, monkeypatch, caplog, broken):
    current, _ = load(own_team, extract_csv(many_people(own_team)), halves=False, monkeypatch=monkeypatch, caplog=caplog)
    lines = extract_csv(many_people(own_team)).decode().splitlines()
    line = 3 if broken == "first" else len(lines) - 2
    lines[line - 1] = lines[line - 1].replace(lines[line - 1].split(",")[0], "1234567890", 1)  # not an NHS number

    refused, _ = load(own_team, ("\n".join(lines) + "\n").encode(), halves=True, monkeypatch=monkeypatch, caplog=caplog)

    assert refused.status == PopulationExtract.Status.REFUSED
    assert [error["line"] for error in refused.errors] == [line]
    assert "NHS number 1234567890 is not valid" in refused.errors[0]["message"]
    assert not PopulationPerson.objects.filter(extract=refused).exists()
    current.refresh_from_db()
    assert current.is_current and PopulationPerson.objects.filter(extract=current).count() == current.people > 30


def test_a_load_cut_short_after_the_second_half_committed_leaves_no_person_and_the_old_version_current(own_team, monkeypatch, caplog):
    current, _ = load(own_team, extract_csv(many_people(own_team, 10)), halves=False, monkeypatch=monkeypatch, caplog=caplog)

    committed_before_the_switch = []

    def cut_short(extract, team, loaded) -> None:
        committed_before_the_switch.append(people_committed(extract))
        raise RuntimeError("the machine stopped")

    monkeypatch.setattr(population, "_switch", cut_short)
    failed, _ = load(own_team, extract_csv(many_people(own_team)), halves=True, monkeypatch=monkeypatch, caplog=caplog)

    # The second half's people had committed; the first half's had not.
    assert 0 < committed_before_the_switch[0] < failed.rows_total
    assert failed.status == PopulationExtract.Status.FAILED
    assert not PopulationPerson.objects.filter(extract=failed).exists()
    current.refresh_from_db()
    assert current.is_current and PopulationPerson.objects.filter(extract=current).count() == current.people > 5


def test_people_a_crashed_run_left_are_deleted_before_the_extract_is_loaded_again(own_team, monkeypatch, caplog):
    monkeypatch.setattr(population, "population_import", lambda extract, retry_on=(): extract)  # the upload, not its load
    extract = population_extract_create(content=extract_csv(many_people(own_team)), file_name="a.csv", team=own_team, by=None, background=False)
    monkeypatch.undo()
    practice = own_team.practices.first()
    # What a second half committed before its process died: a person of this version, not current.
    PopulationPerson.objects.create(
        id=extract.pk * population.PERSON_IDS_PER_EXTRACT + int(valid_nhs_number(500)), extract=extract, nhs_number=valid_nhs_number(500),
        practice=practice, birth_year=1930, sex="M", recent_emergency=0, recent_total=0, before_emergency=0, before_total=0,
        recent_by_kind=[0] * 8, contact_slots=[], contact_counts=[],
    )
    monkeypatch.setattr(population, "HALVES_FROM_ROWS", 2)

    with caplog.at_level(logging.INFO, logger="caseload.population"):
        loaded = population.population_import(extract=extract)

    assert loaded.status == PopulationExtract.Status.DONE and loaded.people > 30
    assert any(HALVES in record.getMessage() for record in caplog.records)
    assert PopulationPerson.objects.filter(extract=extract).count() == loaded.people


@pytest.mark.django_db(transaction=False)
def test_inside_a_transaction_the_extract_is_loaded_on_one_connection(own_team, monkeypatch, caplog):
    """A second connection could not see what the transaction has not committed (the upload's row)."""
    extract, was_halves = load(own_team, extract_csv(many_people(own_team)), halves=True, monkeypatch=monkeypatch, caplog=caplog)

    assert extract.status == PopulationExtract.Status.DONE and not was_halves


def test_a_load_in_halves_reports_its_progress_as_both_halves_are_staged(own_team, monkeypatch, caplog):
    """The progress bar: the lines staged so far, the second half's counted in as it goes."""
    import threading

    monkeypatch.setattr(population, "COPY_CHUNK_BYTES", 512)  # many chunks in a small file
    reported = []
    stage = population.population_stage_quickly

    def staging_with_its_reports_seen(upload, on_progress=None):
        if threading.current_thread() is not threading.main_thread():
            return stage(upload, on_progress)
        return stage(upload, lambda rows: (reported.append(rows), on_progress(rows)))

    monkeypatch.setattr(population, "population_stage_quickly", staging_with_its_reports_seen)
    extract, was_halves = load(own_team, extract_csv(many_people(own_team)), halves=True, monkeypatch=monkeypatch, caplog=caplog)

    assert was_halves and extract.status == PopulationExtract.Status.DONE
    assert len(reported) > 3 and reported == sorted(reported) and reported[-1] <= extract.rows_loaded
    assert extract.rows_checked == extract.rows_total == extract.rows_loaded
