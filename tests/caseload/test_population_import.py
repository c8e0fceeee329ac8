"""The ICB's population extract: every registered person of the team's practices with monthly
contacts by kind. Every line is checked; a file with any error loads nothing; a new extract for the
team replaces the current one whole, in one step, and the old one's rows are deleted."""

import hashlib

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from caseload.models import PopulationContacts, PopulationExtract, PopulationPerson
from caseload.population import population_extract_create
from int_app.audit.models import PopulationExtractChange
from int_app.teams.roles import Role
from tests.factories import valid_nhs_number

from ..conftest import member
from .population_builders import HEADER, extract_csv, extract_rows, month

ALICE, BOB = valid_nhs_number(1), valid_nhs_number(2)


def two_people(team, *, alice_ae: int = 3) -> list[tuple]:
    practice = team.practices.order_by("pk").first()
    return extract_rows(
        team,
        {
            ALICE: (practice, 1948, "F", {0: {"ae_attendance": alice_ae}, 2: {"emergency_admission": 1}, 9: {"ae_attendance": 1}}),
            BOB: (practice, 1990, "M", {1: {"primary_care_appointment": 2}}),
        },
    )


def upload(client, team, content: bytes, name: str = "population.csv"):
    response = client.post(reverse("kpis:population"), {"team": team.pk, "file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 302, response.text
    return PopulationExtract.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1]), client.get(response["Location"])


def test_the_coordinator_uploads_an_extract_and_it_becomes_the_teams_current_one(client, coordinator, own_team):
    client.force_login(coordinator)
    content = extract_csv(two_people(own_team))

    extract, page = upload(client, own_team, content)

    assert (extract.status, extract.is_current, extract.people, extract.rows_loaded) == (PopulationExtract.Status.DONE, True, 3, 6)
    assert extract.uploaded_by == coordinator and extract.checksum == hashlib.sha256(content).hexdigest()
    assert (extract.first_month, extract.last_month) == (month(24), month(0))
    assert extract.stored_as == "" and not any(settings.INT_IMPORT_DIR.glob("*.csv")), "the file is not kept once loaded"
    assert "Loaded" in page.text and "current extract (3 people)" in page.text
    alice = PopulationPerson.objects.get(extract=extract, nhs_number=ALICE)
    assert (alice.birth_year, alice.sex, alice.practice_id) == (1948, "F", own_team.practices.order_by("pk").first().pk)
    # The case-finding summary: the last six months against the six before.
    assert (alice.recent_emergency, alice.recent_total, alice.before_emergency, alice.before_total) == (4, 4, 1, 1)
    assert PopulationContacts.objects.filter(person_id=alice.pk).count() == 3
    # One audited event: who loaded which file for which team.
    assert PopulationExtractChange.objects.filter(pgh_obj=extract, checksum=extract.checksum).exists()


def test_an_extract_loads_with_debug_on_as_under_make_run(client, coordinator, own_team, settings):
    """`make run` serves with DEBUG on, where Django sends every query, COPY included, through a
    cursor wrapper of its own that logs it."""
    settings.DEBUG = True
    client.force_login(coordinator)

    extract, page = upload(client, own_team, extract_csv(two_people(own_team)))

    assert extract.status == PopulationExtract.Status.DONE and extract.people == 3, extract.errors


def test_a_new_extract_replaces_the_old_one_whole_and_the_old_rows_are_deleted(client, coordinator, own_team, django_capture_on_commit_callbacks):
    client.force_login(coordinator)
    first, _page = upload(client, own_team, extract_csv(two_people(own_team, alice_ae=3)))

    # The old version's rows are deleted by a task once the load has committed.
    with django_capture_on_commit_callbacks(execute=True):
        second, _page = upload(client, own_team, extract_csv(two_people(own_team, alice_ae=7)))

    first.refresh_from_db()
    assert second.is_current and not first.is_current
    assert PopulationExtract.objects.filter(team=own_team, is_current=True).get() == second
    assert not PopulationPerson.objects.filter(extract=first).exists()
    assert not PopulationContacts.objects.filter(extract_id=first.pk).exists()
    assert PopulationPerson.objects.get(extract=second, nhs_number=ALICE).recent_emergency == 8


def test_a_file_with_any_error_loads_nothing_lists_the_errors_by_line_and_keeps_the_current_extract(client, coordinator, own_team, other_team):
    client.force_login(coordinator)
    current, _page = upload(client, own_team, extract_csv(two_people(own_team)))
    own_ods = own_team.practices.order_by("pk").first().ods_code
    other_ods = other_team.practices.first().ods_code
    good = f"{ALICE},{own_ods},1948,F,{month(0):%Y-%m},ae_attendance,2"
    content = "\n".join(
        [
            HEADER,
            good,  # line 2: fine
            f"9434765918,{own_ods},1948,F,{month(0):%Y-%m},ae_attendance,2",  # 3: not an NHS number
            f"{BOB},{other_ods},1990,M,{month(0):%Y-%m},ae_attendance,1",  # 4: another team's practice
            f"{BOB},{own_ods},1990,X,{month(0):%Y-%m},ae_attendance,1",  # 5: bad sex
            f"{BOB},{own_ods},1990,M,03/2025,ae_attendance,1",  # 6: bad month
            f"{BOB},{own_ods},1990,M,{month(1):%Y-%m},hospital_visit,1",  # 7: unknown kind
            f"{BOB},{own_ods},1990,M,{month(2):%Y-%m},ae_attendance,0",  # 8: no contacts
            f"{BOB},{own_ods},1990,M,{month(2):%Y-%m}",  # 9: too few values
        ]
    ).encode() + b"\n"

    refused, page = upload(client, own_team, content)

    assert refused.status == PopulationExtract.Status.REFUSED and not refused.is_current
    messages = {error["line"]: error["message"] for error in refused.errors}
    assert sorted(messages) == [3, 4, 5, 6, 7, 8, 9]
    assert "NHS number 9434765918 is not valid" in messages[3]
    assert f"Practice {other_ods} is not one of the team's practices" in messages[4]
    assert "Bad sex X: use M, F or U" in messages[5] and "Bad month 03/2025" in messages[6]
    assert "Unknown kind hospital_visit" in messages[7] and "Bad contacts 0" in messages[8]
    assert "Expected 7 values separated by commas, found 5" in messages[9]
    assert "Nothing was loaded" in page.text and "the team's current extract is unchanged" in page.text
    current.refresh_from_db()
    assert current.is_current and PopulationPerson.objects.filter(extract=current).count() == 3
    assert not PopulationPerson.objects.filter(extract=refused).exists()


def test_repeated_rows_and_a_person_described_two_ways_are_refused_by_line(coordinator, own_team):
    ods = own_team.practices.order_by("pk").first().ods_code
    content = "\n".join(
        [
            HEADER,
            f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1",
            f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,1",
            f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,2",  # line 4 repeats line 3
            f"{ALICE},{ods},1949,F,{month(1):%Y-%m},ae_attendance,2",  # line 5: another year of birth
        ]
    ).encode()

    extract = population_extract_create(content=content, file_name="repeats.csv", team=own_team, by=coordinator)

    assert extract.status == PopulationExtract.Status.REFUSED
    assert [(error["line"], error["message"]) for error in extract.errors] == [
        (4, "The same NHS number, month and kind as line 3."),
        (5, f"NHS number {ALICE} has another practice, birth_year or sex than on line 2."),
    ]
    assert not PopulationPerson.objects.exists() and not PopulationContacts.objects.exists()


def test_a_repeated_row_alone_or_an_invalid_nhs_number_alone_is_refused_by_line(coordinator, own_team):
    """Lines whose every value is one the file may hold, so that only the load (the primary key) or
    the check of each person's number finds the fault: still refused by line, nothing loaded."""
    ods = own_team.practices.order_by("pk").first().ods_code
    spans = [f"{ALICE},{ods},1948,F,{month(24):%Y-%m},ae_attendance,1", f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,1"]
    repeated = "\n".join([HEADER, *spans, f"{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,2"]).encode()
    # 9434765918 is ten digits with the wrong check digit.
    invalid = "\n".join([HEADER, *spans, f"9434765918,{ods},1990,M,{month(3):%Y-%m},nhs_111_call,1"]).encode()
    empty = "\n".join([HEADER, *spans, f",{ods},1990,M,{month(3):%Y-%m},nhs_111_call,1"]).encode()

    extracts = [
        population_extract_create(content=content, file_name="x.csv", team=own_team, by=coordinator) for content in (repeated, invalid, empty)
    ]

    assert [extract.status for extract in extracts] == [PopulationExtract.Status.REFUSED] * 3
    assert [(error["line"], error["message"]) for error in extracts[0].errors] == [(4, "The same NHS number, month and kind as line 3.")]
    assert [error["line"] for error in extracts[1].errors] == [4] and "NHS number 9434765918 is not valid" in extracts[1].errors[0]["message"]
    assert [error["line"] for error in extracts[2].errors] == [4] and "NHS number (empty) is not valid" in extracts[2].errors[0]["message"]
    assert not PopulationPerson.objects.exists() and not PopulationContacts.objects.exists()


def test_a_file_written_another_way_loads_as_the_same_extract_as_a_plain_one(coordinator, own_team, caplog):
    """The quick check takes a file of plain values; one with quotes, lower case, Windows line
    ends or a blank line is checked line by line instead, and loads the same people and contacts."""
    plain = extract_csv(two_people(own_team))
    lines = plain.decode().splitlines()
    written_otherwise = "\r\n".join(
        [lines[0], *(",".join(f'"{value}"' for value in line.split(",")).replace('"F"', '"f"') for line in lines[1:]), "", ""]
    ).encode()

    def loaded(content: bytes) -> tuple[list[tuple], list[tuple], bool]:
        caplog.clear()
        with caplog.at_level("INFO", logger="caseload.population"):
            extract = population_extract_create(content=content, file_name="p.csv", team=own_team, by=coordinator)
        assert extract.status == PopulationExtract.Status.DONE, extract.errors
        people = PopulationPerson.objects.filter(extract=extract)
        by_person = dict(people.values_list("pk", "nhs_number"))
        contacts = PopulationContacts.objects.filter(extract_id=extract.pk).values_list("person_id", "month", "kind", "contacts")
        return (
            sorted(people.values_list("nhs_number", "practice_id", "birth_year", "sex", "recent_emergency", "recent_total",
                                      "before_emergency", "before_total", "recent_by_kind")),
            sorted((by_person[person], *rest) for person, *rest in contacts),
            "checked line by line" in caplog.text,
        )

    plain_people, plain_contacts, plain_line_by_line = loaded(plain)
    other_people, other_contacts, other_line_by_line = loaded(written_otherwise)

    assert (plain_line_by_line, other_line_by_line) == (False, True)
    assert other_people == plain_people and other_contacts == plain_contacts and len(plain_contacts) == 6


def test_an_extract_shorter_than_24_months_or_without_the_columns_or_not_text_is_refused(coordinator, own_team):
    ods = own_team.practices.order_by("pk").first().ods_code
    short = f"{HEADER}\n{ALICE},{ods},1948,F,{month(0):%Y-%m},ae_attendance,1\n".encode()
    wrong_header = f"nhs,practice\n{ALICE},{ods}\n".encode()
    not_text = HEADER.encode() + b"\n\xff\xfe,1\n"

    refusals = [
        population_extract_create(content=content, file_name="x.csv", team=own_team, by=coordinator).errors[0]["message"]
        for content in (short, wrong_header, not_text)
    ]

    assert "covers 1 month" in refusals[0] and "must cover 24 months or more" in refusals[0]
    assert refusals[1].startswith("The first line must name the columns nhs_number,practice_ods")
    assert "not plain UTF-8 text" in refusals[2]
    assert not PopulationExtract.objects.filter(is_current=True).exists()


def test_a_header_holding_a_nul_byte_is_refused_with_its_text_shown_not_a_server_error(client, coordinator, own_team):
    client.force_login(coordinator)

    extract, page = upload(client, own_team, HEADER.replace("sex", "s\x00x").encode() + b"\n")

    assert extract.status == PopulationExtract.Status.REFUSED and not extract.is_current
    assert "The first line must name the columns" in page.text and "s\ufffdx" in page.text


def test_a_coordinator_cannot_load_an_extract_for_a_team_they_do_not_coordinate(client, coordinator, own_team, other_team):
    client.force_login(coordinator)
    response = client.post(
        reverse("kpis:population"),
        {"team": other_team.pk, "file": SimpleUploadedFile("p.csv", extract_csv(two_people(own_team)), "text/csv")},
    )

    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not PopulationExtract.objects.exists()
    client.force_login(member(own_team, Role.GP))
    assert client.get(reverse("kpis:population")).status_code == 403


def test_the_command_loads_an_extract_for_a_team_and_reports_what_it_refused(tmp_path, own_team):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(extract_csv(two_people(own_team)))
    bad.write_bytes(f"{HEADER}\n9434765918,X00000,1948,F,2026-01,ae_attendance,1\n".encode())

    call_command("import_population", str(good), "--team", own_team.slug)

    assert PopulationExtract.objects.get(is_current=True).people == 3
    with pytest.raises(CommandError, match="Nothing was loaded from bad.csv"):
        call_command("import_population", str(bad), "--team", own_team.slug)
    with pytest.raises(CommandError, match="No team with the slug nowhere"):
        call_command("import_population", str(good), "--team", "nowhere")
    assert PopulationExtract.objects.filter(is_current=True).count() == 1


def test_a_large_extract_is_handed_to_a_worker_after_the_upload_commits(coordinator, own_team, django_capture_on_commit_callbacks):
    practice = own_team.practices.first()
    rows = extract_rows(own_team, {valid_nhs_number(10 + 3 * n): (practice, 1950, "F", {b: {"ae_attendance": 1} for b in range(9)}) for n in range(700)})
    with django_capture_on_commit_callbacks() as callbacks:
        extract = population_extract_create(content=extract_csv(rows), file_name="big.csv", team=own_team, by=coordinator)

    assert extract.status == PopulationExtract.Status.QUEUED and extract.stored_as, "nothing checked in the request"
    callbacks[0]()  # the hand-off to the worker, which runs in-process in tests
    extract.refresh_from_db()
    assert (extract.status, extract.is_current, extract.rows_loaded) == (PopulationExtract.Status.DONE, True, len(rows))


@pytest.mark.worker
def test_a_large_upload_is_loaded_by_a_real_worker_with_progress(client, live_worker, own_team):
    import time

    client.force_login(member(own_team, Role.COORDINATOR))
    practice = own_team.practices.first()
    rows = extract_rows(
        own_team, {valid_nhs_number(5_000 + n * 3): (practice, 1940 + n % 60, "M", {b: {"nhs_111_call": 1} for b in range(10)}) for n in range(600)}
    )
    response = client.post(reverse("kpis:population"), {"team": own_team.pk, "file": SimpleUploadedFile("big.csv", extract_csv(rows), "text/csv")})
    extract_url = response["Location"]
    extract = PopulationExtract.objects.get(pk=extract_url.rstrip("/").rsplit("/", 1)[1])

    deadline = time.monotonic() + 60
    while not PopulationExtract.objects.get(pk=extract.pk).is_finished and time.monotonic() < deadline:
        assert client.get(extract_url, headers={"HX-Request": "true"}).status_code == 200
        time.sleep(0.2)
    extract.refresh_from_db()
    assert (extract.status, extract.is_current) == (PopulationExtract.Status.DONE, True)
    assert f"{extract.people} people" in client.get(extract_url).text
