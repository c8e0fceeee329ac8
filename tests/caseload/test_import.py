"""Service use arrives as CSV extracts. Every row is checked first; a file with any error changes
nothing; a valid file loads in one transaction; loading it again adds nothing."""

import datetime
import hashlib

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from caseload.models import ImportJob, ServiceUseEvent
from caseload.services import Episodes, import_job_create
from caseload.signals import service_use_imported
from int_app.teams.roles import Role

from ..conftest import member
from .factories import active, days_ago, referred, stepped_down

HEADER = "nhs_number,date,kind,source,source_id"


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def upload(client, content: bytes, name: str = "extract.csv"):
    response = client.post(reverse("caseload:import_service_use"), {"file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 302, response.text
    return ImportJob.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1]), client.get(response["Location"])


@pytest.fixture
def resident(own_team):
    return active(own_team)


def test_the_coordinator_uploads_an_extract_and_it_is_loaded(client, coordinator, resident):
    client.force_login(coordinator)
    content = csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",
        f"{resident.formatted_nhs_number},{days_ago(20)},primary_care_appointment,EMIS,APPT-9",
    )

    stored_before = set(settings.INT_IMPORT_DIR.iterdir()) if settings.INT_IMPORT_DIR.exists() else set()
    job, page = upload(client, content)

    assert job.status == ImportJob.Status.DONE and (job.rows_total, job.rows_loaded) == (2, 2)
    assert job.uploaded_by == coordinator and job.checksum == hashlib.sha256(content).hexdigest()
    assert job.stored_as == "" and set(settings.INT_IMPORT_DIR.iterdir()) <= stored_before, "the file is not kept once loaded"
    assert "2 new contacts added" in page.text
    assert sorted(resident.service_use.values_list("kind", flat=True)) == ["ae_attendance", "primary_care_appointment"]


def test_an_extract_loads_with_debug_on_as_under_make_run(client, coordinator, resident, settings):
    """`make run` serves with DEBUG on, where Django sends every query, COPY included, through a
    cursor wrapper of its own that logs it."""
    settings.DEBUG = True
    client.force_login(coordinator)

    job, page = upload(client, csv_file(f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1"))

    assert job.status == ImportJob.Status.DONE and job.rows_loaded == 1, job.errors


def test_loading_the_same_file_again_adds_nothing(client, coordinator, resident):
    client.force_login(coordinator)
    content = csv_file(f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1")
    upload(client, content)

    again, page = upload(client, content)

    assert (again.status, again.rows_loaded, again.rows_already_loaded) == (ImportJob.Status.DONE, 0, 1)
    assert "already loaded by an earlier import" in page.text
    assert ServiceUseEvent.objects.count() == 1


def test_a_file_with_any_error_changes_nothing_and_lists_the_errors_by_line(client, coordinator, resident):
    client.force_login(coordinator)
    content = csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",  # line 2: fine
        f"9434765919,{days_ago(40)},ae_attendance,BHAM-ED,ED-2",  # 3: valid but nobody here
        f"{resident.nhs_number},14/03/2025,ae_attendance,BHAM-ED,ED-3",  # 4: bad date
        f"{resident.nhs_number},{days_ago(-3)},ae_attendance,BHAM-ED,ED-4",  # 5: in the future
        f"{resident.nhs_number},{days_ago(40)},hospital_visit,BHAM-ED,ED-5",  # 6: unknown kind
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,,",  # 7: no source or source_id
        f"{resident.nhs_number},{days_ago(41)},ae_attendance,BHAM-ED,ED-1",  # 8: duplicate of line 2
        f"9434765918,{days_ago(40)},ae_attendance,BHAM-ED,ED-8",  # 9: not an NHS number
        f"{resident.nhs_number},{days_ago(40)},ae_attendance",  # 10: too few values
    )

    job, page = upload(client, content)

    assert job.status == ImportJob.Status.REFUSED and ServiceUseEvent.objects.count() == 0
    problems = {error["line"]: error["message"] for error in job.errors}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "unknown NHS number" in problems[3]
    assert "bad date" in problems[4] and "YYYY-MM-DD" in problems[4]
    assert "in the future" in problems[5]
    assert "unknown kind hospital_visit" in problems[6]
    assert "source is missing" in problems[7] and "source_id is missing" in problems[7]
    assert "same source and source_id as line 2" in problems[8]
    assert "not a valid NHS number" in problems[9]
    assert "expected 5 values" in problems[10]
    assert "Nothing was loaded" in page.text and "Problems by line" in page.text


# A file that is not strictly one row per line: each case is the extract's rows, the lines refused
# and what the first of them is told. The other rows are fine, so only the fault stops the load.
MALFORMED = {
    "a quote left open swallows nothing": (
        ['{nhs},{day},ae_attendance,BHAM-ED,"ED-1', "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "a quoted value is not closed on this line"},
    ),
    "a line break inside a value": (
        ['{nhs},{day},ae_attendance,BHAM-ED,"ED', '-1"', "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "a quoted value is not closed on this line", 3: "expected 5 values separated by commas, found 1"},
    ),
    "a quote left open on the last line": (
        ["{nhs},{day},ae_attendance,BHAM-ED,ED-1", '{nhs},{day},"ae_attendance,BHAM-ED,ED-2'],
        {3: "a quoted value is not closed on this line"},
    ),
    "text after a closing quote": (
        ['{nhs},{day},ae_attendance,"BHAM"-ED,ED-1', "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "this line cannot be read as CSV"},
    ),
    "too many values": (
        ["{nhs},{day},ae_attendance,BHAM-ED,ED-1,extra", "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "expected 5 values separated by commas, found 6"},
    ),
    "a date before 2000": (
        ["{nhs},1999-12-31,ae_attendance,BHAM-ED,ED-1", "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "the date must be on or after 1 January 2000"},
    ),
    "a date in the future": (
        ["{nhs},{tomorrow},ae_attendance,BHAM-ED,ED-1", "{nhs},{day},ae_attendance,BHAM-ED,ED-2"],
        {2: "the date cannot be in the future"},
    ),
}


def import_through_the_page(client, coordinator, content: bytes) -> tuple[ImportJob, str]:
    client.force_login(coordinator)
    job, page = upload(client, content)
    return job, page.text


def import_through_the_command(tmp_path, coordinator, content: bytes) -> tuple[ImportJob, str]:
    from io import StringIO

    extract = tmp_path / "extract.csv"
    extract.write_bytes(content)
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("import_service_use", str(extract), "--as", coordinator.email, stderr=err)
    return ImportJob.objects.get(), err.getvalue()


@pytest.mark.parametrize("via", [import_through_the_page, import_through_the_command], ids=["upload page", "command"])
@pytest.mark.parametrize("case", MALFORMED)
def test_a_file_that_is_not_one_row_a_line_is_refused_by_line_and_loads_nothing(client, tmp_path, coordinator, resident, case, via):
    rows, refused = MALFORMED[case]
    values = {"nhs": resident.nhs_number, "day": days_ago(40), "tomorrow": days_ago(-1)}
    content = csv_file(*(row.format(**values) for row in rows))

    job, shown = via(client if via is import_through_the_page else tmp_path, coordinator, content)

    assert job.status == ImportJob.Status.REFUSED
    assert ServiceUseEvent.objects.count() == 0, "nothing is loaded from a file with a fault"
    assert {error["line"]: error["message"] for error in job.errors}.keys() == refused.keys(), job.errors
    for error in job.errors:
        assert refused[error["line"]] in error["message"]
        assert f"{error['message']}" in shown.replace("&#x27;", "'").replace("&quot;", '"')
    if via is import_through_the_command:
        assert all(f"line {line}: " in shown for line in refused)


def test_the_first_day_of_2000_is_a_service_use_date(client, coordinator, resident):
    client.force_login(coordinator)
    job, _ = upload(client, csv_file(f"{resident.nhs_number},2000-01-01,ae_attendance,BHAM-ED,ED-1"))
    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 1)


def test_a_line_too_long_to_read_does_not_stop_the_lines_after_it_being_checked(client, coordinator, resident):
    client.force_login(coordinator)
    job, _ = upload(client, csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,{'X' * 140_000}",
        f"{resident.nhs_number},{days_ago(40)},hospital_visit,BHAM-ED,ED-2",
    ))
    assert [error["line"] for error in job.errors] == [2, 3]
    assert "cannot be read as CSV" in job.errors[0]["message"] and "unknown kind" in job.errors[1]["message"]


def test_a_line_longer_than_any_row_is_refused_without_being_read_whole(client, coordinator, resident, monkeypatch):
    from caseload import services

    monkeypatch.setattr(services, "LINE_CHARS_MAX", 1_000)
    client.force_login(coordinator)
    job, _ = upload(client, csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,{'X' * 5_000}",
        f"{resident.nhs_number},{days_ago(40)},hospital_visit,BHAM-ED,ED-2",
    ))
    assert [error["line"] for error in job.errors] == [2, 3]
    assert "longer than 1,000 characters" in job.errors[0]["message"] and "unknown kind" in job.errors[1]["message"]


def test_a_row_for_another_teams_resident_is_an_unknown_nhs_number(client, coordinator, resident, other_team):
    theirs = active(other_team)
    client.force_login(coordinator)
    content = csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",
        f"{theirs.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-2",
    )

    job, page = upload(client, content)

    assert job.status == ImportJob.Status.REFUSED
    assert job.errors == [{"line": 3, "message": f"unknown NHS number {theirs.nhs_number}: no resident with this number in your teams."}]
    assert theirs.full_name not in page.text
    assert ServiceUseEvent.objects.count() == 0


def test_a_coordinator_of_two_teams_matches_residents_in_both(client, coordinator, resident, other_team):
    from int_app.teams.models import Membership

    theirs = active(other_team)
    Membership.objects.create(user=coordinator, team=other_team, role=Role.COORDINATOR, organisation=coordinator.memberships.first().organisation)
    client.force_login(coordinator)
    job, _ = upload(client, csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",
        f"{theirs.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-2",
    ))
    assert job.status == ImportJob.Status.DONE and job.rows_loaded == 2


def test_the_header_must_name_the_columns(client, coordinator, resident):
    client.force_login(coordinator)
    job, page = upload(client, csv_file(f"{resident.nhs_number},{days_ago(4)},ae_attendance,A,1", header="nhs,when,what,src,id"))
    assert job.status == ImportJob.Status.REFUSED and job.errors[0]["line"] == 1
    assert "must name the columns nhs_number,date,kind,source,source_id" in page.text


def test_a_file_that_is_not_text_is_refused(client, coordinator, resident):
    client.force_login(coordinator)
    job, _ = upload(client, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert job.status == ImportJob.Status.REFUSED and "not plain text" in job.errors[0]["message"]


def test_an_event_belongs_to_the_episode_that_was_open_or_last_referred_before_it(own_team, coordinator):
    first = stepped_down(own_team)
    first.close(on=first.stepped_down_on, by=coordinator)
    second = referred(own_team, nhs_number=first.nhs_number, referred_days_ago=5)
    episodes = Episodes([own_team])
    nhs = first.nhs_number

    assert episodes.resident_for(nhs, days_ago(2)) == second.pk
    assert episodes.resident_for(nhs, second.referral_date) == second.pk
    assert episodes.resident_for(nhs, days_ago(6)) == first.pk
    assert episodes.resident_for(nhs, first.referral_date - datetime.timedelta(days=300)) == first.pk, "before every referral: the earliest"


def test_the_errors_kept_are_capped_but_all_are_counted(coordinator, own_team, resident):
    rows = [f"{resident.nhs_number},not-a-date,ae_attendance,S,{n}" for n in range(250)]
    job = import_job_create(content=csv_file(*rows), file_name="bad.csv", teams=[own_team], by=coordinator)
    assert job.status == ImportJob.Status.REFUSED
    assert (job.error_count, len(job.errors), job.more_errors) == (250, 200, 50)


def test_a_large_file_is_handed_to_a_worker_after_the_upload_commits(coordinator, own_team, resident, django_capture_on_commit_callbacks):
    rows = [f"{resident.nhs_number},{days_ago(n % 700 + 1)},nhs_111_call,NHS111,{n}" for n in range(5_001)]

    content = csv_file(*rows)
    with django_capture_on_commit_callbacks() as callbacks:
        job = import_job_create(content=[content[:4096], content[4096:]], file_name="big.csv", teams=[own_team], by=coordinator)

    # Nothing was checked in the request: the file waits on disk for the worker.
    assert (job.status, job.rows_total, job.rows_checked) == (ImportJob.Status.QUEUED, 5_001, 0)
    assert job.stored_path.read_bytes() == content
    with django_capture_on_commit_callbacks(execute=True) as after_load:
        callbacks[0]()  # the hand-off to the worker, which runs in-process in tests
    # Then the KPI recompute once the load has committed.
    assert len(callbacks) == 1 and len(after_load) == 1
    stored = job.stored_path
    job.refresh_from_db()
    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 5_001)
    assert not stored.exists(), "the file is deleted once loaded"


def test_a_file_many_chunks_long_is_checked_a_chunk_at_a_time_and_loaded_whole(coordinator, own_team, resident, monkeypatch):
    from caseload import services

    monkeypatch.setattr(services, "IMPORT_CHUNK_BYTES", 4_096)
    progress: list[int] = []
    real_check = services.service_use_check
    monkeypatch.setattr(
        services, "service_use_check", lambda upload, **kw: real_check(upload, **kw | {"on_progress": progress.append})
    )
    rows = [f"{resident.nhs_number},{days_ago(n % 700 + 1)},nhs_111_call,NHS111,{n}" for n in range(1_050)]

    job = import_job_create(content=csv_file(*rows), file_name="long.csv", teams=[own_team], by=coordinator, background=False)

    assert (job.status, job.rows_total, job.rows_loaded) == (ImportJob.Status.DONE, 1_050, 1_050)
    # About 45 bytes a row: twelve blocks or so, each staged and shown before the next is read.
    assert len(progress) > 10 and progress == sorted(progress) and progress[-1] == 1_050, "progress is shown after each chunk"


@pytest.mark.parametrize(
    ("late_row", "refused"),
    [
        ("{nhs},{day},hospital_visit,NHS111,LATE", "unknown kind hospital_visit"),
        ("{nhs},{day},nhs_111_call,NHS111,7", "the same source and source_id as line 9"),
    ],
    ids=["a bad kind", "a repeat of a row ten blocks before"],
)
def test_a_fault_in_a_late_chunk_loads_nothing_from_the_chunks_before(coordinator, own_team, resident, monkeypatch, late_row, refused):
    from caseload import services

    monkeypatch.setattr(services, "IMPORT_CHUNK_BYTES", 4_096)
    rows = [f"{resident.nhs_number},{days_ago(n % 700 + 1)},nhs_111_call,NHS111,{n}" for n in range(1_000)]
    rows.append(late_row.format(nhs=resident.nhs_number, day=days_ago(3)))

    job = import_job_create(content=csv_file(*rows), file_name="long.csv", teams=[own_team], by=coordinator, background=False)

    assert job.status == ImportJob.Status.REFUSED and ServiceUseEvent.objects.count() == 0
    assert [error["line"] for error in job.errors] == [1_002] and refused in job.errors[0]["message"]


def test_a_repeat_of_a_faulty_row_is_named_with_its_other_problems(coordinator, own_team, resident):
    job = import_job_create(
        content=csv_file(
            f"{resident.nhs_number},not-a-date,ae_attendance,BHAM-ED,ED-1",
            f"{resident.nhs_number},{days_ago(4)},hospital_visit,BHAM-ED,ED-1",
            f"{resident.nhs_number},{days_ago(4)},ae_attendance,BHAM-ED,ED-1",
        ),
        file_name="x.csv", teams=[own_team], by=coordinator,
    )
    messages = {error["line"]: error["message"] for error in job.errors}
    assert job.error_count == 3 and messages[2].startswith("bad date not-a-date")
    assert messages[3].startswith("unknown kind hospital_visit") and messages[3].endswith("; the same source and source_id as line 2.")
    assert messages[4] == "the same source and source_id as line 2."


def test_a_load_is_announced_to_the_layers_above_only_once_it_commits_with_the_job_and_its_teams(coordinator, own_team, resident, django_capture_on_commit_callbacks):
    heard: list[tuple[ImportJob, list]] = []

    def listener(sender, job, teams, **kwargs) -> None:
        heard.append((job, teams))

    service_use_imported.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job = import_job_create(content=csv_file(f"{resident.nhs_number},{days_ago(3)},ae_attendance,S,1"), file_name="x.csv", teams=[own_team], by=coordinator)
        assert heard == [], "nothing is announced before the load commits"
        for callback in callbacks:
            callback()
    finally:
        service_use_imported.disconnect(listener)
    assert heard == [(job, [own_team])]


def test_a_job_that_already_finished_is_not_run_again(coordinator, own_team, resident):
    from caseload.tasks import import_service_use

    job = import_job_create(content=csv_file(f"{resident.nhs_number},{days_ago(3)},ae_attendance,S,1"), file_name="x.csv", teams=[own_team], by=coordinator)
    ServiceUseEvent.objects.all().delete()
    assert import_service_use(job.pk) == ImportJob.Status.DONE
    assert ServiceUseEvent.objects.count() == 0, "a finished job is left alone"
    assert import_service_use(987654) == "missing"


def test_the_progress_partial_polls_until_the_job_finishes(client, coordinator, own_team):
    running = ImportJob.objects.create(file_name="big.csv", status=ImportJob.Status.CHECKING, rows_total=10_000, rows_checked=2_500, uploaded_by=coordinator)
    running.teams.set([own_team])
    client.force_login(coordinator)
    url = reverse("caseload:import_job", args=[running.pk])

    partial = client.get(url, headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 1s"' in partial and "2500 of about 10000 rows checked" in partial and "<html" not in partial
    ImportJob.objects.filter(pk=running.pk).update(status=ImportJob.Status.DONE, rows_loaded=10_000)
    assert "every 1s" not in client.get(url, headers={"HX-Request": "true"}).text


def test_only_the_coordinator_imports(client, own_team):
    client.force_login(member(own_team, Role.SOCIAL_WORKER))
    assert client.get(reverse("caseload:import_service_use")).status_code == 403


def test_the_command_imports_as_a_coordinator(tmp_path, coordinator, resident, capsys):
    extract = tmp_path / "extract.csv"
    extract.write_bytes(csv_file(f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1"))

    call_command("import_service_use", str(extract), "--as", coordinator.email)
    call_command("import_service_use", str(extract), "--as", coordinator.email)

    out = capsys.readouterr().out
    assert "1 new" in out and "0 new, 1 already loaded" in out
    assert ServiceUseEvent.objects.count() == 1
    assert ImportJob.objects.filter(uploaded_by=coordinator).count() == 2


def test_the_command_for_a_team_reports_the_errors_and_loads_nothing(tmp_path, own_team, resident, capsys):
    extract = tmp_path / "extract.csv"
    extract.write_bytes(csv_file(
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",
        f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1",
    ))
    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("import_service_use", str(extract), "--team", own_team.slug)
    assert "line 3: the same source and source_id as line 2" in capsys.readouterr().err
    assert ServiceUseEvent.objects.count() == 0


def test_the_command_must_be_told_whose_residents_to_match(tmp_path, own_team):
    extract = tmp_path / "extract.csv"
    extract.write_bytes(csv_file())
    with pytest.raises(CommandError):
        call_command("import_service_use", str(extract))
    with pytest.raises(CommandError, match="No team with the slug nowhere"):
        call_command("import_service_use", str(extract), "--team", "nowhere")
    with pytest.raises(CommandError, match="does not coordinate"):
        call_command("import_service_use", str(extract), "--as", member(own_team, Role.GP).email)


@pytest.mark.worker
def test_a_large_upload_is_loaded_by_a_real_worker_with_progress(client, live_worker, own_team):
    import time

    coordinator = member(own_team, Role.COORDINATOR)
    resident = active(own_team)
    client.force_login(coordinator)
    rows = [f"{resident.nhs_number},{days_ago(n % 700 + 1)},community_health_contact,COMMUNITY,{n}" for n in range(6_000)]

    response = client.post(reverse("caseload:import_service_use"), {"file": SimpleUploadedFile("big.csv", csv_file(*rows), "text/csv")})
    job_url = response["Location"]
    job = ImportJob.objects.get(pk=job_url.rstrip("/").rsplit("/", 1)[1])

    deadline = time.monotonic() + 60
    while not ImportJob.objects.get(pk=job.pk).is_finished and time.monotonic() < deadline:
        assert client.get(job_url, headers={"HX-Request": "true"}).status_code == 200
        time.sleep(0.2)
    job.refresh_from_db()
    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 6_000)
    assert "6000 new contacts added" in client.get(job_url).text


def test_each_contact_is_loaded_into_the_episode_open_or_last_referred_before_it(coordinator, own_team):
    first = stepped_down(own_team)
    first.close(on=first.stepped_down_on, by=coordinator)
    second = referred(own_team, nhs_number=first.nhs_number, referred_days_ago=5)
    before_both = first.referral_date - datetime.timedelta(days=300)
    rows = {
        "BEFORE": (before_both, first),
        "FIRST": (days_ago(6), first),
        "SAME-DAY": (second.referral_date, second),
        "SECOND": (days_ago(2), second),
    }

    job = import_job_create(
        content=csv_file(*(f"{first.nhs_number},{day},ae_attendance,ED,{source_id}" for source_id, (day, _) in rows.items())),
        file_name="episodes.csv", teams=[own_team], by=coordinator,
    )

    assert (job.status, job.rows_loaded) == (ImportJob.Status.DONE, 4)
    loaded = dict(ServiceUseEvent.objects.values_list("source_id", "resident_id"))
    assert loaded == {source_id: resident.pk for source_id, (_, resident) in rows.items()}


def test_quoted_padded_and_formatted_values_load_as_the_csv_reader_reads_them(coordinator, own_team, resident):
    dashed = f"{resident.nhs_number[:3]}-{resident.nhs_number[3:6]}-{resident.nhs_number[6:]}"
    job = import_job_create(
        content=csv_file(
            f'"{resident.nhs_number}","{days_ago(9)}","ae_attendance","BHAM,ED","ED-1"',  # quoted, a comma inside a value
            f" {resident.formatted_nhs_number} ,{days_ago(8)}\t,ae_attendance,\u00a0BHAM-ED,ED-2 ",  # padded with blanks
            f"{dashed},{days_ago(7)},ae_attendance,BHAM-ED,ED-3",  # dashes: plain ASCII, normalised in the database
            ",,,,",  # a line of empty values is a blank line
            "",
            f"{resident.nhs_number},{days_ago(6)},ae_attendance,Ysbyty Gwynedd – A&E,ED-4",  # not ASCII
        ),
        file_name="odd.csv", teams=[own_team], by=coordinator,
    )

    assert (job.status, job.rows_total, job.rows_loaded) == (ImportJob.Status.DONE, 4, 4), job.errors
    assert sorted(resident.service_use.values_list("source", "source_id")) == [
        ("BHAM,ED", "ED-1"), ("BHAM-ED", "ED-2"), ("BHAM-ED", "ED-3"), ("Ysbyty Gwynedd – A&E", "ED-4"),
    ]


def test_lines_read_by_python_and_by_the_database_keep_their_numbers_across_blocks(coordinator, own_team, resident, monkeypatch):
    from caseload import services

    monkeypatch.setattr(services, "IMPORT_CHUNK_BYTES", 256)
    nhs, day = resident.nhs_number, days_ago(3)
    rows = [f"{nhs},{day},nhs_111_call,NHS111,{n}" for n in range(40)]
    rows[5] = f'"{nhs}","{day}","nhs_111_call","NHS111","5"'  # read by Python, fine
    rows[11] = f"{nhs},{day},hospital_visit,NHS111,11"  # plain, faulty
    rows[17] = f" {nhs} ,{day},nhs_111_call,NHS111,  "  # read by Python, faulty
    rows[23] = ""  # blank
    rows[29] = f"{nhs},{day},nhs_111_call,NHS111"  # plain, too few values
    rows[35] = f'{nhs},{day},nhs_111_call,"NHS111,35'  # a quote left open

    job = import_job_create(content=csv_file(*rows), file_name="mixed.csv", teams=[own_team], by=coordinator)

    messages = {error["line"]: error["message"] for error in job.errors}
    assert job.status == ImportJob.Status.REFUSED and ServiceUseEvent.objects.count() == 0
    assert sorted(messages) == [13, 19, 31, 37] and job.error_count == 4 and job.rows_total == 39
    assert messages[13].startswith("unknown kind hospital_visit")
    assert messages[19] == "the source_id is missing."
    assert messages[31] == "expected 5 values separated by commas, found 4."
    assert messages[37].startswith("a quoted value is not closed on this line")


def test_a_repeat_in_a_file_with_no_other_fault_is_refused_by_line_and_a_file_loaded_before_adds_nothing(coordinator, own_team, resident):
    rows = [f"{resident.nhs_number},{days_ago(n % 700 + 1)},nhs_111_call,NHS111,{n}" for n in range(300)]
    loaded = import_job_create(content=csv_file(*rows[:200]), file_name="first.csv", teams=[own_team], by=coordinator)

    repeated = import_job_create(content=csv_file(*rows, rows[250]), file_name="repeat.csv", teams=[own_team], by=coordinator)
    repeated_loaded = import_job_create(content=csv_file(*rows[:10], rows[5]), file_name="old.csv", teams=[own_team], by=coordinator)
    again = import_job_create(content=csv_file(*rows), file_name="again.csv", teams=[own_team], by=coordinator)

    assert (loaded.status, loaded.rows_loaded) == (ImportJob.Status.DONE, 200)
    assert repeated.status == ImportJob.Status.REFUSED
    assert repeated.errors == [{"line": 302, "message": "the same source and source_id as line 252."}]
    assert repeated_loaded.errors == [{"line": 12, "message": "the same source and source_id as line 7."}], "whether or not it was loaded before"
    assert (again.status, again.rows_loaded, again.rows_already_loaded) == (ImportJob.Status.DONE, 100, 200)
    assert ServiceUseEvent.objects.count() == 300


def test_a_faulty_row_naming_a_record_loaded_before_is_still_refused(coordinator, own_team, resident, other_team):
    # The load checks and inserts in one pass and leaves out the records loaded before: a faulty
    # row must stop it all the same, not pass as one of those.
    theirs = active(other_team)
    first = import_job_create(
        content=csv_file(f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1"), file_name="first.csv", teams=[own_team], by=coordinator
    )

    again = import_job_create(
        content=csv_file(f"{resident.nhs_number},{days_ago(30)},ae_attendance,BHAM-ED,ED-2", f"{theirs.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1"),
        file_name="again.csv", teams=[own_team], by=coordinator,
    )

    assert (first.status, again.status) == (ImportJob.Status.DONE, ImportJob.Status.REFUSED)
    assert again.errors == [{"line": 3, "message": f"unknown NHS number {theirs.nhs_number}: no resident with this number in your teams."}]
    assert list(ServiceUseEvent.objects.values_list("source_id", flat=True)) == ["ED-1"]


def test_an_import_leaves_the_connections_statistics_target_as_it_found_it(coordinator, own_team, resident):
    # Its temporary tables are analysed on a small sample; service use, analysed after a large
    # load, and everything else the connection does later keep the server's default.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW default_statistics_target")
        before = cursor.fetchone()[0]
        import_job_create(content=csv_file(f"{resident.nhs_number},{days_ago(40)},ae_attendance,BHAM-ED,ED-1"), file_name="one.csv", teams=[own_team], by=coordinator)
        cursor.execute("SHOW default_statistics_target")
        assert cursor.fetchone()[0] == before == "100"
