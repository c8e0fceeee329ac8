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
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
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
# Rows checked, then COPY'd into the staging table, at a time; progress is shown after each chunk.
IMPORT_CHUNK_ROWS = 25_000
SOURCE_MAX = ServiceUseEvent._meta.get_field("source").max_length
SOURCE_ID_MAX = ServiceUseEvent._meta.get_field("source_id").max_length
KIND_VALUES = frozenset(ServiceUseEvent.Kind.values)
# The dates whose check is remembered: more than the days since 2000, and a bound on the memory a
# file of a million different garbage dates could take.
DATES_REMEMBERED = 20_000


@dataclass
class CheckedFile:
    rows: int = 0
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)

    def refuse(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            # A message may quote what the file held; PostgreSQL cannot store a NUL in text or JSON,
            # so one quoted from a file is shown as the replacement character instead.
            self.errors.append({"line": line, "message": message.replace("\x00", "\ufffd")})

    def refuse_whole_file(self, line: int, message: str) -> None:
        """A fault of the whole file (it is not text): named alone, whatever the rows before it had."""
        self.error_count, self.errors = 0, []
        self.refuse(line, message)

    def refuse_duplicates(self, duplicates: list[tuple[int, int]], new_lines: int) -> None:
        """Add the rows that repeat an earlier row's source and source_id (line, earlier line),
        the first of them in line order, to the errors already found; `new_lines` of all the
        repeats had no other problem, so count as errors of their own."""
        by_line = {error["line"]: error for error in self.errors}
        for line, earlier in duplicates:
            problem = f"the same source and source_id as line {earlier}"
            if line in by_line:
                by_line[line]["message"] = by_line[line]["message"].removesuffix(".") + f"; {problem}."
            else:
                by_line[line] = {"line": line, "message": f"{problem}."}
        self.errors = sorted(by_line.values(), key=lambda error: error["line"])[:ERRORS_KEPT]
        self.error_count += new_lines


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
    """Checks rows one at a time. A row from a tidy extract takes the quick path; any row that is
    not (spaces, a formatted NHS number, a second episode, an error) is looked at closely, which
    also says exactly what is wrong. Rows that repeat an earlier row's source and source_id are
    found by the database once every row is staged, so memory does not grow with the file."""

    def __init__(self, episodes: Episodes, today: datetime.date) -> None:
        self.episodes = episodes
        self.today = today
        self.good_dates: dict[str, bool] = {}

    def quickly(self, row: list[str]) -> tuple | None:
        """The row to stage, or None when the row needs a closer look."""
        if len(row) != 5:
            return None
        nhs_number, day, kind, source, source_id = row
        resident_id = self.episodes.only_episode.get(nhs_number)
        good_date = self.good_dates.get(day)
        if good_date is None:
            good_date = self.date_problem(day) is None
            if len(self.good_dates) < DATES_REMEMBERED:
                self.good_dates[day] = good_date
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
        return (resident_id, day, kind, source, source_id)

    def closely(self, row: list[str]) -> tuple | list[str]:
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

        if problems:
            return problems
        day = datetime.date.fromisoformat(day_text)
        return (self.episodes.resident_for(nhs_number, day), day_text, kind, source, source_id)

    @staticmethod
    def source_key(row: list[str]) -> tuple[str, str] | None:
        """The source and source_id a faulty row names, when they could name a record: a later
        row naming them again is told which line named them first."""
        if len(row) != len(IMPORT_COLUMNS):
            return None
        source, source_id = row[3].strip(), row[4].strip()
        return (source, source_id) if source and source_id and len(source_id) <= SOURCE_ID_MAX else None

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


class ZeroByte(Exception):
    """A line holds a zero byte: the file is not text, and PostgreSQL can store a zero byte
    neither in a row nor in a message."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class LineTooLong(Exception):
    """A line far longer than any row: it is refused without being read whole."""


# Far longer than a row can be (the csv module refuses a value over 131,072 characters).
LINE_CHARS_MAX = 1024 * 1024


class PhysicalLines:
    """The file's lines for the csv reader, one row's worth at a time, read from a text stream
    so that only one line is in memory.

    A row of an extract is one line. Left to itself the csv reader lets a quoted value run on
    across line breaks, so a quote left open swallows the rows after it into one value. Here
    the reader gets one line per row and asking for another raises ValueRunsOn: the open line is
    refused on its own and the next line is read, and checked, as the next row."""

    def __init__(self, text: TextIO) -> None:
        # The stream is opened with newline="": lines end at \r\n, \n or a lone \r, and keep
        # their ending for the reader.
        self.lines = text
        self.number = 0  # the line last handed to the reader
        self.row_start = 1  # the line the reader's current row began on

    def __iter__(self) -> PhysicalLines:
        return self

    def __next__(self) -> str:
        if self.number >= self.row_start:
            raise ValueRunsOn
        line = self.lines.readline(LINE_CHARS_MAX)
        if not line:
            raise StopIteration
        self.number += 1
        if "\x00" in line:
            raise ZeroByte(self.number)
        if len(line) == LINE_CHARS_MAX and not line.endswith(("\n", "\r")):
            # Read past the rest of the line a piece at a time: a file that is one long line
            # must not be held whole.
            while (rest := self.lines.readline(LINE_CHARS_MAX)) and not rest.endswith(("\n", "\r")):
                pass
            raise LineTooLong
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
            except LineTooLong:
                yield self.number, f"this line is longer than {LINE_CHARS_MAX:,} characters, so it cannot be a row"
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
    upload: BinaryIO,
    *,
    teams: Iterable[Team],
    today: datetime.date,
    on_progress: Callable[[int], None] | None = None,
) -> CheckedFile:
    """Check every row, a chunk at a time, and COPY each chunk into the staging table (which the
    caller has made with `staging_table()`): memory holds one chunk, whatever the file's size.
    Collects the errors by line; rows repeating an earlier row's source are found at the end."""
    checked = CheckedFile()
    # Decoded as it is read; a byte order mark at the start is dropped.
    lines = PhysicalLines(io.TextIOWrapper(upload, encoding="utf-8-sig", newline=""))
    try:
        rows_of = lines.rows()
        _line, header = next(rows_of, (1, []))
        if isinstance(header, str):
            checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)}; {header}.")
            return checked
        if tuple(column.strip().lower() for column in header) != IMPORT_COLUMNS:
            found = ",".join(header) or "nothing"
            checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)} (found {found}).")
            return checked

        checker = RowChecker(Episodes(teams), today)
        chunk: list[tuple] = []
        for line, row in rows_of:
            if not row or not any(row):
                continue  # a blank line
            checked.rows += 1
            if isinstance(row, str):
                # A line that is not CSV is refused as it is; the lines after it are still checked.
                checked.refuse(line, f"{row}.")
                continue
            result = checker.quickly(row) or checker.closely(row)
            if isinstance(result, tuple):
                chunk.append((line, *result))
            else:
                checked.refuse(line, "; ".join(result) + ".")
                key = checker.source_key(row)
                if key is not None:
                    # Staged with no resident, so never loaded: only later rows' repeats of it are looked for.
                    chunk.append((line, None, None, None, *key))
            if len(chunk) >= IMPORT_CHUNK_ROWS:
                staging_copy(chunk)
                chunk = []
                if on_progress is not None:
                    on_progress(checked.rows)
        staging_copy(chunk)
    except UnicodeDecodeError:
        checked.refuse_whole_file(1, "The file is not plain text (UTF-8 CSV). Save it as CSV and upload it again.")
        return checked
    except ZeroByte as zero_byte:
        checked.refuse_whole_file(
            zero_byte.line,
            "This line holds a zero byte (NUL), so the file is not plain text. Save it as CSV and upload it again.",
        )
        return checked
    if checked.rows == 0 and not checked.error_count:
        checked.refuse(2, "The file has no rows under the column names.")
    checked.refuse_duplicates(*staging_duplicates())
    if on_progress is not None:
        on_progress(checked.rows)
    return checked


STAGING_TABLE = "service_use_staging"


@contextlib.contextmanager
def staging_table() -> Iterator[None]:
    """A temporary table of this connection's own for the rows being checked, dropped after.

    Made outside any transaction, so that the progress written between chunks is seen by the
    page while the file is checked; PostgreSQL drops it too if the process dies."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING_TABLE} "
            # Byte order, as service use's own columns: repeats are found by a sort on them.
            '(line integer, resident_id bigint, date date, kind text, source text COLLATE "C", source_id text COLLATE "C")'
        )
    try:
        yield
    finally:
        # After a lost connection there is nothing left to drop.
        with contextlib.suppress(DatabaseError, TransactionManagementError), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")


def staging_copy(rows: list[tuple], columns: str = "line, resident_id, date, kind, source, source_id") -> None:
    """COPY one chunk of rows into the staging table."""
    if not rows:
        return
    chunk = io.StringIO()
    csv.writer(chunk, lineterminator="\n").writerows(rows)  # None is written empty: NULL to COPY
    chunk.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {STAGING_TABLE} ({columns}) FROM STDIN WITH (FORMAT csv)", chunk)


def staging_duplicates() -> tuple[list[tuple[int, int]], int]:
    """The first staged rows, in line order, that repeat an earlier row's source and source_id,
    as (line, earlier line), and how many repeats had no other problem."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH repeat AS ("
            " SELECT line, first_line, resident_id FROM ("
            f"  SELECT line, resident_id, min(line) OVER (PARTITION BY source, source_id) AS first_line FROM {STAGING_TABLE}"  # noqa: S608 - our table
            " ) AS keyed WHERE line <> first_line"
            ") "
            "SELECT (SELECT count(*) FROM repeat WHERE resident_id IS NOT NULL), line, first_line "
            "FROM repeat ORDER BY line LIMIT %s",
            [ERRORS_KEPT],
        )
        found = cursor.fetchall()
    return [(line, earlier) for _count, line, earlier in found], found[0][0] if found else 0


def service_use_load(staged: TextIO | None = None) -> int:
    """Insert the staged rows into service use in one statement; rows already loaded by an
    earlier import (same source and source_id) are skipped. Returns rows added. Runs inside the
    caller's transaction.

    With `staged`, rows as CSV (resident_id, date, kind, source, source_id) that need no
    checking, they are staged first: the KPI tests and the bench load contacts this way."""
    if staged is not None:
        staged.seek(0)
        with staging_table(), connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {STAGING_TABLE} (resident_id, date, kind, source, source_id) FROM STDIN WITH (FORMAT csv)", staged
            )
            return service_use_load()
    table = ServiceUseEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (resident_id, date, kind, source, source_id) "  # noqa: S608 - our table names
            f"SELECT resident_id, date, kind, source, source_id FROM {STAGING_TABLE} WHERE resident_id IS NOT NULL "
            "ON CONFLICT (source, source_id) DO NOTHING"
        )
        return cursor.rowcount


@dataclass
class StoredUpload:
    name: str  # under INT_IMPORT_DIR
    checksum: str  # SHA-256 of the file as uploaded
    rows: int  # its lines after the header: the progress bar's "about"


def import_file_store(chunks: Iterable[bytes]) -> StoredUpload:
    """Write an upload to INT_IMPORT_DIR a chunk at a time, where the worker will read it."""
    folder = Path(settings.INT_IMPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.csv"
    digest = hashlib.sha256()
    line_breaks, last = 0, b""
    try:
        with open(folder / name, "xb") as stored:
            for chunk in chunks:
                if chunk:
                    stored.write(chunk)
                    digest.update(chunk)
                    line_breaks += chunk.count(b"\n")
                    last = chunk[-1:]
    except BaseException:
        (folder / name).unlink(missing_ok=True)  # a full disk, or an upload cut short: keep no half file
        raise
    return StoredUpload(name=name, checksum=digest.hexdigest(), rows=max(line_breaks - 1 + (0 if last == b"\n" else 1), 0))


def import_file_delete(job: ImportJob) -> None:
    """The file is not kept once its job has finished."""
    if job.stored_path is not None:
        job.stored_path.unlink(missing_ok=True)


def import_job_create(
    *,
    content: bytes | Iterable[bytes],
    file_name: str,
    teams: list[Team],
    by: User | None,
    background: bool | None = None,
) -> ImportJob:
    """Keep the uploaded file (bytes, or chunks such as an upload's `.chunks()`) on disk and load
    it: now for a small file, on a worker for a large one (or as `background` says)."""
    if not teams:
        raise ValidationError("Service use can only be imported into a team you coordinate.")
    stored = import_file_store([content] if isinstance(content, bytes) else content)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                file_name=file_name[:255],
                stored_as=stored.name,
                checksum=stored.checksum,
                uploaded_by=by,
                rows_total=stored.rows,
            )
            job.teams.set(teams)
            in_background = job.rows_total > BACKGROUND_IMPORT_ROWS if background is None else background
            if in_background:
                from .tasks import import_service_use

                transaction.on_commit(lambda: import_service_use.delay(job.pk))
    except BaseException:
        (Path(settings.INT_IMPORT_DIR) / stored.name).unlink(missing_ok=True)
        raise
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
        with staging_table(), open(job.stored_path, "rb") as upload:
            checked = service_use_check(
                upload,
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
                    stored_as="",
                )
            else:
                jobs.update(status=ImportJob.Status.LOADING, rows_total=checked.rows, rows_checked=checked.rows)
                with transaction.atomic():
                    added = service_use_load()
                    # Marked done in the same transaction as the load: a crash leaves it to run again.
                    jobs.update(
                        status=ImportJob.Status.DONE,
                        rows_loaded=added,
                        rows_already_loaded=checked.rows - added,
                        finished_at=timezone.now(),
                        stored_as="",
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
            stored_as="",
        )
    if jobs.filter(status__in=ImportJob.Status.finished_values()).exists():
        import_file_delete(job)
    job.refresh_from_db()
    return job
