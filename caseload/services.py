"""Workflows that span models: recording a referral (the resident and their first history row)
and importing service use (check every row of a file, then load all of it or none of it)."""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from int_app.teams.dates import SERVICE_USE_DATE
from int_app.teams.models import Practice, Team, User

from .models import ImportJob, Resident, ResidentEvent, ServiceUseEvent
from .nhs_number import is_valid_nhs_number, normalise_nhs_number
from .signals import announce_service_use_imported

logger = logging.getLogger(__name__)


# --- referral ---------------------------------------------------------------------------------


class AlreadyOpen(Exception):
    """The person already has an open episode (in this team or another)."""

    def __init__(self, existing: Resident) -> None:
        super().__init__(f"{existing.nhs_number} already has an open referral.")
        self.existing = existing


def team_for_practice(practice: Practice) -> Team:
    """A resident belongs to the INT of their registered practice's neighbourhood."""
    team = Team.objects.filter(neighbourhood__pcns__practices=practice).first()
    if team is None:
        raise ValidationError(f"{practice} is not in any INT's neighbourhood yet: ask your system admin.")
    return team


def open_episode_of(nhs_number: str) -> Resident | None:
    return Resident.objects.open().filter(nhs_number=nhs_number).select_related("team").first()


def resident_refer(
    *,
    by: User,
    practice: Practice,
    nhs_number: str,
    given_name: str,
    family_name: str,
    date_of_birth: datetime.date,
    referral_date: datetime.date,
    referral_source: str,
    referral_reason: str,
    referrer: str,
) -> Resident:
    """Record a referral: a new episode for the practice's team, awaiting triage."""
    nhs_number = normalise_nhs_number(nhs_number)
    existing = open_episode_of(nhs_number)
    if existing is not None:
        raise AlreadyOpen(existing)
    team = team_for_practice(practice)
    try:
        with transaction.atomic():
            resident = Resident.objects.create(
                team=team,
                practice=practice,
                nhs_number=nhs_number,
                given_name=given_name.strip(),
                family_name=family_name.strip(),
                date_of_birth=date_of_birth,
                referral_date=referral_date,
                referral_source=referral_source,
                referral_reason=referral_reason.strip(),
                referrer=referrer.strip(),
                referred_by=by,
            )
            ResidentEvent.objects.create(
                resident=resident,
                kind=ResidentEvent.Kind.REFERRED,
                occurred_at=ResidentEvent.moment_on(referral_date, timezone.now()),
                by=by,
                detail=f"{Resident.ReferralSource(referral_source).label}: {referrer.strip()}. {referral_reason.strip()}",
            )
    except IntegrityError:
        # Two people referred the same person at the same moment: the database's unique
        # constraint let only one through.
        existing = open_episode_of(nhs_number)
        if existing is None:
            raise
        raise AlreadyOpen(existing) from None
    return resident


# --- service-use import -------------------------------------------------------------------------

IMPORT_COLUMNS = ("nhs_number", "date", "kind", "source", "source_id")
# Files longer than this are checked and loaded by a Celery worker, with progress on the page.
BACKGROUND_IMPORT_ROWS = 5_000
# An extract with a systematic fault has an error on every line: keep the first few hundred.
ERRORS_KEPT = 200
PROGRESS_EVERY_ROWS = 25_000
SOURCE_MAX = ServiceUseEvent._meta.get_field("source").max_length
SOURCE_ID_MAX = ServiceUseEvent._meta.get_field("source_id").max_length
KIND_VALUES = frozenset(ServiceUseEvent.Kind.values)
# Where the csv module ends a line: Windows, Unix and old Mac line breaks.
LINE_BREAK = re.compile(r"\r\n?|\n")


@dataclass
class CheckedFile:
    rows: int = 0
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)
    # The valid rows as CSV (resident_id, date, kind, source, source_id), ready for COPY.
    staged: io.StringIO = field(default_factory=io.StringIO)

    def refuse(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"line": line, "message": message})


class Episodes:
    """The episodes of every resident of the uploader's teams, by NHS number.

    Which episode an event belongs to: the one whose referral date is the latest on or before
    the event's date; an event before every referral belongs to the earliest episode (the
    "before" months of a first intervention)."""

    def __init__(self, teams: Iterable[Team]) -> None:
        self.by_nhs_number: dict[str, tuple[list[datetime.date], list[int]]] = {}
        rows = (
            Resident.objects.filter(team__in=list(teams))
            .order_by("nhs_number", "referral_date", "pk")
            .values_list("nhs_number", "referral_date", "pk")
        )
        for nhs_number, referral_date, pk in rows:
            dates, ids = self.by_nhs_number.setdefault(nhs_number, ([], []))
            dates.append(referral_date)
            ids.append(pk)
        # Most people have one episode: their rows need no date to be placed.
        self.only_episode: dict[str, int] = {
            nhs_number: ids[0] for nhs_number, (_dates, ids) in self.by_nhs_number.items() if len(ids) == 1
        }

    def __contains__(self, nhs_number: str) -> bool:
        return nhs_number in self.by_nhs_number

    def resident_for(self, nhs_number: str, day: datetime.date) -> int:
        dates, ids = self.by_nhs_number[nhs_number]
        if len(ids) == 1:
            return ids[0]
        index = bisect.bisect_right(dates, day) - 1
        return ids[max(index, 0)]


class RowChecker:
    """Checks rows one at a time, remembering what it needs across rows (the first line of each
    source record, the dates already seen). A row from a tidy extract takes the quick path; any
    row that is not (spaces, a formatted NHS number, a second episode, an error) is looked at
    closely, which also says exactly what is wrong."""

    def __init__(self, episodes: Episodes, today: datetime.date) -> None:
        self.episodes = episodes
        self.today = today
        self.first_line: dict[tuple[str, str], int] = {}
        self.good_dates: dict[str, bool] = {}

    def quickly(self, row: list[str], line: int) -> tuple | None:
        """The row to stage, or None when the row needs a closer look."""
        if len(row) != 5:
            return None
        nhs_number, day, kind, source, source_id = row
        resident_id = self.episodes.only_episode.get(nhs_number)
        good_date = self.good_dates.get(day)
        if good_date is None:
            good_date = self.good_dates[day] = self.date_problem(day) is None
        if (
            resident_id is None
            or not good_date
            or kind not in KIND_VALUES
            or not 0 < len(source) <= SOURCE_MAX
            or not 0 < len(source_id) <= SOURCE_ID_MAX
            or source != source.strip()
            or source_id != source_id.strip()
        ):
            return None
        key = (source, source_id)
        if key in self.first_line:
            return None
        self.first_line[key] = line
        return (resident_id, day, kind, source, source_id)

    def closely(self, row: list[str], line: int) -> tuple | list[str]:
        """The row to stage, or the list of its problems."""
        if len(row) != len(IMPORT_COLUMNS):
            return [f"expected {len(IMPORT_COLUMNS)} values separated by commas, found {len(row)}"]
        nhs_raw, day_text, kind, source, source_id = (value.strip() for value in row)
        problems: list[str] = []

        nhs_number = normalise_nhs_number(nhs_raw)
        if nhs_number not in self.episodes:
            if is_valid_nhs_number(nhs_number):
                problems.append(f"unknown NHS number {nhs_raw}: no resident with this number in your teams")
            else:
                problems.append(f"{nhs_raw or 'an empty value'} is not a valid NHS number")

        date_problem = self.date_problem(day_text)
        if date_problem:
            problems.append(date_problem)

        if kind not in KIND_VALUES:
            problems.append(f"unknown kind {kind or '(empty)'}: use one of {', '.join(sorted(KIND_VALUES))}")

        if not source:
            problems.append("the source is missing")
        elif len(source) > SOURCE_MAX:
            problems.append(f"the source is longer than {SOURCE_MAX} characters")
        if not source_id:
            problems.append("the source_id is missing")
        elif len(source_id) > SOURCE_ID_MAX:
            problems.append(f"the source_id is longer than {SOURCE_ID_MAX} characters")
        elif source:
            earlier = self.first_line.setdefault((source, source_id), line)
            if earlier != line:
                problems.append(f"the same source and source_id as line {earlier}")

        if problems:
            return problems
        day = datetime.date.fromisoformat(day_text)
        return (self.episodes.resident_for(nhs_number, day), day_text, kind, source, source_id)

    def date_problem(self, text: str) -> str | None:
        try:
            if len(text) != 10 or text[4] != "-" or text[7] != "-":
                raise ValueError
            day = datetime.date.fromisoformat(text)
        except ValueError:
            return f"bad date {text or '(empty)'}: write dates as YYYY-MM-DD"
        return SERVICE_USE_DATE.problem(day, today=self.today)


class ValueRunsOn(Exception):
    """The csv reader asked for a second line to finish one row."""


class PhysicalLines:
    """The file's lines for the csv reader, one row's worth at a time.

    A row of an extract is one line. Left to itself the csv reader lets a quoted value run on
    across line breaks, so a quote left open swallows the rows after it into one value. Here
    the reader gets one line per row and asking for another raises ValueRunsOn: the open line is
    refused on its own and the next line is read, and checked, as the next row."""

    def __init__(self, text: str) -> None:
        # newline="": lines end at \r\n, \n or a lone \r, and keep their ending for the reader.
        self.lines = io.StringIO(text, newline="")
        self.number = 0  # the line last handed to the reader
        self.row_start = 1  # the line the reader's current row began on

    def __iter__(self) -> PhysicalLines:
        return self

    def __next__(self) -> str:
        if self.number >= self.row_start:
            raise ValueRunsOn
        line = next(self.lines)
        self.number += 1
        return line

    def rows(self) -> Iterator[tuple[int, list[str] | str]]:
        """(line, values) for each line, or (line, what is wrong) for a line that is not CSV."""
        reader = csv.reader(self, strict=True)
        while True:
            self.row_start = self.number + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except ValueRunsOn:
                yield self.number, (
                    "a quoted value is not closed on this line: a quote is left open, or a value holds a line break "
                    "(each row must be on one line)"
                )
            except csv.Error as unreadable:
                # Text after a closing quote in the same value, say, or a value longer than the csv module allows.
                yield self.number, f"this line cannot be read as CSV ({unreadable})"
            else:
                yield self.number, row


def service_use_check(
    content: bytes,
    *,
    teams: Iterable[Team],
    today: datetime.date,
    on_progress: Callable[[int], None] | None = None,
) -> CheckedFile:
    """Check every row; collect the errors by line and, while there are none, stage the rows."""
    checked = CheckedFile()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        checked.refuse(1, "The file is not plain text (UTF-8 CSV). Save it as CSV and upload it again.")
        return checked
    if "\x00" in text:
        # Not text either, and PostgreSQL can store a zero byte neither in a row nor in a message.
        checked.refuse(
            len(LINE_BREAK.findall(text, 0, text.index("\x00"))) + 1,
            "This line holds a zero byte (NUL), so the file is not plain text. Save it as CSV and upload it again.",
        )
        return checked
    lines = PhysicalLines(text).rows()
    _line, header = next(lines, (1, []))
    if isinstance(header, str):
        checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)}; {header}.")
        return checked
    if tuple(column.strip().lower() for column in header) != IMPORT_COLUMNS:
        found = ",".join(header) or "nothing"
        checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)} (found {found}).")
        return checked

    checker = RowChecker(Episodes(teams), today)
    staged: list[tuple] = []
    rows = 0
    for line, row in lines:
        if not row or not any(row):
            continue  # a blank line
        rows += 1
        if on_progress is not None and rows % PROGRESS_EVERY_ROWS == 0:
            on_progress(rows)
        # A line that is not CSV is refused as it is; the lines after it are still checked.
        result = [row] if isinstance(row, str) else checker.quickly(row, line) or checker.closely(row, line)
        if isinstance(result, list):
            checked.refuse(line, "; ".join(result) + ".")
        elif not checked.error_count:
            staged.append(result)
    checked.rows = rows
    if rows == 0 and not checked.error_count:
        checked.refuse(2, "The file has no rows under the column names.")
    if not checked.error_count:
        csv.writer(checked.staged, lineterminator="\n").writerows(staged)
    if on_progress is not None:
        on_progress(rows)
    return checked


def service_use_load(staged: io.StringIO) -> int:
    """COPY the checked rows into a staging table and insert them in one statement; rows already
    loaded by an earlier import (same source and source_id) are skipped. Returns rows added.
    Runs inside the caller's transaction."""
    table = ServiceUseEvent._meta.db_table
    staged.seek(0)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE service_use_staging "
            "(resident_id bigint, date date, kind varchar(30), source varchar(60), source_id varchar(100)) "
            "ON COMMIT DROP"
        )
        cursor.copy_expert("COPY service_use_staging FROM STDIN WITH (FORMAT csv)", staged)
        cursor.execute(
            f"INSERT INTO {table} (resident_id, date, kind, source, source_id) "  # noqa: S608 - our table name
            "SELECT resident_id, date, kind, source, source_id FROM service_use_staging "
            "ON CONFLICT (source, source_id) DO NOTHING"
        )
        added = cursor.rowcount
        cursor.execute("DROP TABLE service_use_staging")
    return added


def import_job_create(
    *, content: bytes, file_name: str, teams: list[Team], by: User | None, background: bool | None = None
) -> ImportJob:
    """Keep the uploaded file and load it: now for a small file, on a worker for a large one
    (or as `background` says)."""
    if not teams:
        raise ValidationError("Service use can only be imported into a team you coordinate.")
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=file_name[:255],
            content=content,
            checksum=hashlib.sha256(content).hexdigest(),
            uploaded_by=by,
            rows_total=max(content.count(b"\n") - 1 + (0 if content.endswith(b"\n") else 1), 0),
        )
        job.teams.set(teams)
        in_background = job.rows_total > BACKGROUND_IMPORT_ROWS if background is None else background
        if in_background:
            from .tasks import import_service_use

            transaction.on_commit(lambda: import_service_use.delay(job.pk))
    if not in_background:
        service_use_import(job=job)
    job.refresh_from_db()
    return job


def service_use_import(*, job: ImportJob, retry_on: tuple[type[BaseException], ...] = ()) -> ImportJob:
    """Check every row of the job's file, then load all of it in one transaction or none of it.

    Idempotent: a finished job is left alone, and a job run again after a crash adds nothing
    twice because each event is unique on its source and source id. An error in `retry_on` (the
    worker's transient faults) leaves the job waiting and is raised for the task to retry."""
    jobs = ImportJob.objects.filter(pk=job.pk)
    if job.is_finished:
        return job
    jobs.update(status=ImportJob.Status.CHECKING, started_at=timezone.now(), rows_checked=0)
    try:
        checked = service_use_check(
            bytes(job.content),
            teams=job.teams.all(),
            today=timezone.localdate(),
            on_progress=lambda rows: jobs.update(rows_checked=rows),
        )
        if checked.error_count:
            jobs.update(
                status=ImportJob.Status.REFUSED,
                rows_total=checked.rows,
                error_count=checked.error_count,
                errors=checked.errors,
                finished_at=timezone.now(),
                content=b"",
            )
        else:
            jobs.update(status=ImportJob.Status.LOADING, rows_total=checked.rows, rows_checked=checked.rows)
            with transaction.atomic():
                added = service_use_load(checked.staged)
                # Marked done in the same transaction as the load: a crash leaves it to run again.
                jobs.update(
                    status=ImportJob.Status.DONE,
                    rows_loaded=added,
                    rows_already_loaded=checked.rows - added,
                    finished_at=timezone.now(),
                    content=b"",
                )
                if added:
                    # New contacts change what the layers above compute (the KPIs): say so once
                    # this load has committed.
                    announce_service_use_imported(job)
    except retry_on:
        logger.warning("Service-use import %s met a passing fault; it will be tried again.", job.pk, exc_info=True)
        with contextlib.suppress(DatabaseError):
            jobs.update(status=ImportJob.Status.QUEUED, rows_checked=0)
        raise
    except Exception:
        logger.exception("Service-use import %s failed", job.pk)
        jobs.update(
            status=ImportJob.Status.FAILED,
            finished_at=timezone.now(),
            errors=[{"line": 0, "message": "The import stopped unexpectedly; nothing was loaded. Try again or ask your system admin."}],
            error_count=1,
        )
    job.refresh_from_db()
    return job
