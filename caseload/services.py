"""Workflows that span models: recording a referral (the resident and their first history row)
and importing service use (check every row of a file, then load all of it or none of it)."""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime
import hashlib
import io
import itertools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from psycopg2.errors import UniqueViolation

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
# Bytes of the file COPY'd into the staging table at a time; progress is shown after each block.
IMPORT_CHUNK_BYTES = 8 * 1024 * 1024
SOURCE_MAX = ServiceUseEvent._meta.get_field("source").max_length
SOURCE_ID_MAX = ServiceUseEvent._meta.get_field("source_id").max_length
KIND_VALUES = frozenset(ServiceUseEvent.Kind.values)


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
    "before" months of a first intervention). The import places its rows in the database by
    the same rule (`EPISODES_SQL`); this is the rule in Python, for the rows it looks at closely."""

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

    def __contains__(self, nhs_number: str) -> bool:
        return nhs_number in self.by_nhs_number

    def resident_for(self, nhs_number: str, day: datetime.date) -> int:
        dates, ids = self.by_nhs_number[nhs_number]
        if len(ids) == 1:
            return ids[0]
        index = bisect.bisect_right(dates, day) - 1
        return ids[max(index, 0)]


class RowChecker:
    """Says what is wrong with one row, in the words the errors by line use. The database finds
    which rows have a problem, all at once; only the first few hundred of those are looked at here."""

    def __init__(self, episodes: Episodes, today: datetime.date) -> None:
        self.episodes = episodes
        self.today = today

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

    def date_problem(self, text: str) -> str | None:
        try:
            # ASCII digits only, as the database's calendar of dates has them.
            if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.isascii():
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


def one_line_read(text: str) -> list[str] | str:
    """A single line read as CSV: its values, or what is wrong with it."""
    for _line, row in PhysicalLines(io.StringIO(text + "\n")).rows():
        return row
    return []


class NotText(Exception):
    """The file is not UTF-8 text, or holds a zero byte at `line`."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


NOT_TEXT = "The file is not plain text (UTF-8 CSV). Save it as CSV and upload it again."
ZERO_BYTE = "This line holds a zero byte (NUL), so the file is not plain text. Save it as CSV and upload it again."


def blocks_of_lines(upload: BinaryIO) -> Iterator[bytes]:
    """The file in blocks of whole lines of UTF-8, each line ending in \\n: a \\r\\n, or a lone \\r
    as old Mac files end lines, becomes \\n. A line far too long to be a row is cut short, so
    memory holds one block whatever the file; the check refuses it for its length. Raises NotText."""
    # Bytes enough for LINE_CHARS_MAX characters of four bytes each.
    line_bytes_max = 4 * LINE_CHARS_MAX + 4
    carry, in_a_long_line, line = b"", False, 1
    first = True
    while block := upload.read(IMPORT_CHUNK_BYTES):
        while block.endswith(b"\r") and (more := upload.read(1)):
            block += more  # a \r\n is not split between blocks
        if first:
            block, first = block.removeprefix(b"\xef\xbb\xbf"), False  # a byte order mark
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if in_a_long_line:
            end = block.find(b"\n")
            if end < 0:
                continue
            block, in_a_long_line = block[end:], False
        block = carry + block
        cut = block.rfind(b"\n") + 1
        block, carry = block[:cut], block[cut:]
        if len(carry) > line_bytes_max:
            carry, in_a_long_line = carry[:line_bytes_max].decode("utf-8", "ignore").encode(), True
        if block:
            line = _text_checked(block, line)
            yield block
    if carry:
        _text_checked(carry, line)
        yield carry + b"\n"


def _text_checked(block: bytes, line: int) -> int:
    """The line after the block, which starts at `line`; NotText when it is not UTF-8 or holds a zero byte."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(1, NOT_TEXT) from None
    if (zero := block.find(b"\x00")) >= 0:
        raise NotText(line + block.count(b"\n", 0, zero), ZERO_BYTE)
    return line + block.count(b"\n")


# The import's temporary tables: the file's lines as they are, the few lines Python read as CSV,
# the uploader's episodes by NHS number and date, and every row typed with whether it may load.
STAGING_TABLE = "service_use_staging"
PARSED_TABLE = "service_use_parsed"
EPISODES_TABLE = "service_use_episodes"
TYPED_TABLE = "service_use_typed"


@contextlib.contextmanager
def staging_table() -> Iterator[None]:
    """Temporary tables of this connection's own for the file being checked, dropped after.

    Made outside any transaction, so that the progress written between blocks is seen by the
    page while the file is staged; PostgreSQL drops them too if the process dies."""
    tables = f"{STAGING_TABLE}, {PARSED_TABLE}, {EPISODES_TABLE}, {TYPED_TABLE}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {tables}")
        # The header is line 1, read by Python: the first staged line is line 2.
        cursor.execute(f"CREATE TEMP TABLE {STAGING_TABLE} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), raw text)")
        cursor.execute(f"CREATE TEMP TABLE {PARSED_TABLE} (line bigint, n int, v1 text, v2 text, v3 text, v4 text, v5 text, problem text)")
        # Each statement reads every row once: compiling it (JIT) costs more than it saves, and
        # the joins and the sort for repeats fit in memory rather than spilling to disk.
        cursor.execute("SET jit = off")
        cursor.execute("SET work_mem = '64MB'")
    try:
        yield
    finally:
        # After a lost connection there is nothing left to drop.
        with contextlib.suppress(DatabaseError, TransactionManagementError), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {tables}")
            cursor.execute("RESET jit")
            cursor.execute("RESET work_mem")


# The bytes of a line that needs no more than splitting on commas: printable ASCII but a space or
# a quote. A line with any other (a blank to strip, a quote, a control character, anything not
# ASCII) is read as CSV by Python; the others are split in the database.
PLAIN_BYTES = bytes(byte for byte in range(0x21, 0x7F) if byte != ord('"'))


def is_plain(text: bytes) -> bool:
    return not text.translate(None, PLAIN_BYTES)


def service_use_stage(upload: BinaryIO, checked: CheckedFile, on_progress: Callable[[int], None] | None = None) -> bool:
    """Check the header, then stage every line after it, a block at a time: COPY'd as it is into
    the staging table, or, for the few lines that need reading as CSV (not `is_plain`, or too long),
    read by Python and COPY'd as values. False when the file is refused as a whole (no header, not
    text): `checked` says why."""
    blocks = blocks_of_lines(upload)
    staged, line_max = 0, min(csv.field_size_limit(), LINE_CHARS_MAX)
    try:
        first = next(blocks, b"\n")
        end = first.find(b"\n")
        header = one_line_read(first[:end].decode())
        if isinstance(header, str):
            checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)}; {header}.")
            return False
        if tuple(column.strip().lower() for column in header) != IMPORT_COLUMNS:
            found = ",".join(header) or "nothing"
            checked.refuse(1, f"The first line must name the columns {','.join(IMPORT_COLUMNS)} (found {found}).")
            return False
        with connection.cursor() as cursor:
            for block in itertools.chain([first[end + 1 :]], blocks):
                if not block:
                    continue
                lines = block.split(b"\n")[:-1]
                if not is_plain(block.replace(b"\n", b"")) or max(map(len, lines)) >= line_max:
                    block = _odd_lines_staged(cursor, lines, first_line=staged + 2, line_max=line_max)
                # One value a line, in COPY's text format: a backslash is the only byte left that
                # it reads as more than itself, and it is written as an escape.
                cursor.copy_expert(
                    f"COPY {STAGING_TABLE} (raw) FROM STDIN WITH (FORMAT text, ENCODING 'UTF8')", io.BytesIO(block.replace(b"\\", b"\\\\"))
                )
                staged += len(lines)
                if on_progress is not None:
                    on_progress(staged)
    except NotText as not_text:
        checked.refuse_whole_file(not_text.line, not_text.message)
        return False
    return True


def _odd_lines_staged(cursor: CursorWrapper, lines: list[bytes], *, first_line: int, line_max: int) -> bytes:
    """Read the block's odd lines as CSV and COPY their values, stripped, into the parsed table;
    the block to stage, with each of those lines left empty so that the lines keep their numbers."""
    parsed = io.StringIO()
    out = csv.writer(parsed, lineterminator="\n", quoting=csv.QUOTE_NOTNULL)
    for index, line in enumerate(lines):
        if len(line) < line_max and is_plain(line):
            continue
        lines[index] = b""
        row = one_line_read(line.decode())
        if isinstance(row, str):
            out.writerow((first_line + index, None, None, None, None, None, None, f"{row}."))
        elif any(row):  # a line of empty values is a blank line
            values = [value.strip() for value in row[: len(IMPORT_COLUMNS)]]
            out.writerow((first_line + index, len(row), *values, *[None] * (len(IMPORT_COLUMNS) - len(values)), None))
    parsed.seek(0)
    cursor.copy_expert(f"COPY {PARSED_TABLE} FROM STDIN WITH (FORMAT csv)", parsed)
    return b"\n".join([*lines, b""])


def _typed_sql() -> str:
    """Every row as the values it would load and whether it may: one pass over the staged lines
    (split on commas in the database) and the lines Python read. Each value is checked by a join
    to the few values it may take (dates, episodes), not by a function called for every row."""
    kinds = ", ".join(f"'{kind}'" for kind in sorted(KIND_VALUES))
    split = ", ".join(f"split_part(raw, ',', {n}) AS v{n}" for n in range(1, 6))
    return f"""
        CREATE TEMP TABLE {TYPED_TABLE} AS
        WITH calendar (text, day) AS (
          SELECT to_char(day, 'YYYY-MM-DD') COLLATE "C", day::date FROM generate_series(%(earliest)s::date, %(latest)s::date, '1 day') AS day
        )
        SELECT line, n, problem, nhs, day_text, kind, source, source_id, episode.resident_id, calendar.day,
               problem IS NULL AND n = 5 AND episode.resident_id IS NOT NULL AND kind IN ({kinds})
                 AND char_length(source) BETWEEN 1 AND {SOURCE_MAX} AND char_length(source_id) BETWEEN 1 AND {SOURCE_ID_MAX} AS ok,
               -- A row that could name a record: a later row naming it again is told which line named it first.
               problem IS NULL AND n = 5 AND source <> '' AND char_length(source_id) BETWEEN 1 AND {SOURCE_ID_MAX} AS keyed
        FROM (
          SELECT line, commas + 1 AS n, v1 AS nhs, v2 COLLATE "C" AS day_text, v3 AS kind, v4 COLLATE "C" AS source,
                 v5 COLLATE "C" AS source_id, NULL::text AS problem
          FROM (
            -- Lines of printable ASCII without a blank or a quote (Python took the others): no value needs stripping.
            SELECT line, octet_length(raw) - octet_length(replace(raw, ',', '')) AS commas, {split}, raw FROM {STAGING_TABLE}
            OFFSET 0
          ) AS split
          WHERE octet_length(raw) > commas  -- not a blank line, or one of commas alone
          UNION ALL
          SELECT line, n, v1, v2, v3, v4, v5, problem FROM {PARSED_TABLE}
        ) AS row
        LEFT JOIN calendar ON calendar.text = row.day_text
        LEFT JOIN {EPISODES_TABLE} AS episode
          -- Written 943 476 5919 or 943-476-5919 (normalise_nhs_number): only such a value is translated.
          ON episode.nhs_number = CASE WHEN strpos(row.nhs, '-') > 0 OR strpos(row.nhs, ' ') > 0 THEN translate(row.nhs, ' -', '') ELSE row.nhs END
          AND calendar.day >= episode.valid_from AND calendar.day < episode.valid_to
    """  # noqa: S608 - our tables and constants


# An event belongs to the episode with the latest referral on or before its date; one before
# every referral, to the earliest episode (Episodes.resident_for).
EPISODES_SQL = f"""
    CREATE TEMP TABLE {EPISODES_TABLE} AS
    SELECT nhs_number, id AS resident_id,
           CASE WHEN row_number() OVER episodes = 1 THEN '-infinity'::date ELSE referral_date END AS valid_from,
           coalesce(lead(referral_date) OVER episodes, 'infinity'::date) AS valid_to
    FROM {Resident._meta.db_table}
    WHERE team_id = ANY(%(teams)s)
    WINDOW episodes AS (PARTITION BY nhs_number ORDER BY referral_date, id)
"""  # noqa: S608 - our tables


# Statistics enough for the plans of one import's passes (how many rows, roughly how many distinct
# values): ANALYZE samples 300 rows for each unit of the target, so 3,000 rows here, not 30,000.
TEMP_STATISTICS_TARGET = 10


def temp_tables_analysed(cursor: CursorWrapper, *tables: str) -> None:
    """ANALYZE the import's temporary tables on a small sample: at 100,000 rows the default
    sample cost about a tenth of the import. Service use itself keeps the server's default."""
    cursor.execute("SET default_statistics_target = %s", [TEMP_STATISTICS_TARGET])
    try:
        cursor.execute(f"ANALYZE {', '.join(tables)}")
    finally:
        cursor.execute("RESET default_statistics_target")


def service_use_check(
    upload: BinaryIO,
    *,
    teams: Iterable[Team],
    today: datetime.date,
    on_progress: Callable[[int], None] | None = None,
) -> CheckedFile:
    """Stage the file (with `staging_table()` made by the caller), then check every row in the
    database at once: memory holds one block of the file, whatever its size. Collects the errors
    by line. Rows that repeat an earlier row's source are looked for here when the file has other
    errors; in a file with none, the load finds them (RepeatedRows)."""
    checked = CheckedFile()
    if not service_use_stage(upload, checked, on_progress):
        return checked
    teams = list(teams)
    earliest, latest = SERVICE_USE_DATE.limits(today)
    with connection.cursor() as cursor:
        cursor.execute(EPISODES_SQL, {"teams": [team.pk for team in teams]})
        # Their sizes, for the plan of the pass below; and its joins are to a few thousand dates and
        # episodes, which a hash join does in one pass where a merge join sorts the file on disk.
        temp_tables_analysed(cursor, STAGING_TABLE, EPISODES_TABLE)
        cursor.execute("SET enable_mergejoin = off")
        try:
            cursor.execute(_typed_sql(), {"earliest": earliest, "latest": latest})
        finally:
            cursor.execute("RESET enable_mergejoin")
        temp_tables_analysed(cursor, TYPED_TABLE)
        cursor.execute(f"SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM {TYPED_TABLE}")  # noqa: S608 - our table
        checked.rows, faulty = cursor.fetchone()
        if not faulty:
            if checked.rows == 0:
                checked.refuse(2, "The file has no rows under the column names.")
            if on_progress is not None:
                on_progress(checked.rows)
            return checked
        cursor.execute(
            f"SELECT line, n, problem, nhs, day_text, kind, source, source_id FROM {TYPED_TABLE} "  # noqa: S608 - our table
            "WHERE NOT ok ORDER BY line LIMIT %s",
            [ERRORS_KEPT],
        )
        first_faults = cursor.fetchall()
    checker = RowChecker(Episodes(teams), today)
    for line, n, problem, *values in first_faults:
        if problem is not None:
            checked.refuse(line, problem)
            continue
        found = checker.closely(values if n == len(IMPORT_COLUMNS) else [""] * n)
        # The database and the closer look apply the same rules; were they ever to differ, the row
        # is still refused rather than loaded unexplained.
        checked.refuse(line, "; ".join(found) + "." if isinstance(found, list) else "this row could not be checked.")
    checked.error_count = faulty
    checked.refuse_duplicates(*staging_duplicates())
    if on_progress is not None:
        on_progress(checked.rows)
    return checked


def staging_duplicates() -> tuple[list[tuple[int, int]], int]:
    """The first staged rows, in line order, that repeat an earlier row's source and source_id,
    as (line, earlier line), and how many repeats had no other problem."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH repeat AS ("
            " SELECT line, first_line, ok FROM ("
            f"  SELECT line, ok, min(line) OVER (PARTITION BY source, source_id) AS first_line FROM {TYPED_TABLE} WHERE keyed"  # noqa: S608 - our table
            " ) AS keyed WHERE line <> first_line"
            ") "
            "SELECT (SELECT count(*) FROM repeat WHERE ok), line, first_line "
            "FROM repeat ORDER BY line LIMIT %s",
            [ERRORS_KEPT],
        )
        found = cursor.fetchall()
    return [(line, earlier) for _count, line, earlier in found], found[0][0] if found else 0


# A load adding this many rows brings the table's statistics up to date itself.
ANALYZE_AFTER_ROWS = 100_000


class RepeatedRows(Exception):
    """The file names one record (source and source_id) on two rows: nothing of it is loaded."""


def service_use_load(staged: TextIO | None = None) -> int:
    """Insert the checked rows into service use in one statement; rows already loaded by an
    earlier import (same source and source_id) are skipped. Returns rows added. Runs inside the
    caller's transaction. Raises RepeatedRows when the file names a record twice.

    With `staged`, rows as CSV (resident_id, date, kind, source, source_id) that need no
    checking, they are staged first: the KPI tests and the bench load contacts this way."""
    if staged is not None:
        staged.seek(0)
        with staging_table(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE {TYPED_TABLE} (line bigint, resident_id bigint, day date, kind text, "
                'source text COLLATE "C", source_id text COLLATE "C", ok boolean DEFAULT true, keyed boolean DEFAULT true)'
            )
            cursor.copy_expert(f"COPY {TYPED_TABLE} (resident_id, day, kind, source, source_id) FROM STDIN WITH (FORMAT csv)", staged)
            temp_tables_analysed(cursor, TYPED_TABLE)
            return service_use_load()
    table = ServiceUseEvent._meta.db_table
    insert = (
        f"INSERT INTO {table} (resident_id, date, kind, source, source_id) "  # noqa: S608 - our table names
        f"SELECT resident_id, day, kind, source, source_id FROM {TYPED_TABLE} AS typed WHERE ok"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TYPED_TABLE} WHERE ok")  # noqa: S608 - our table
        checked_rows = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        # A table thought smaller than the file (new, or never analysed) would be planned as a scan
        # of it for every row inserted, and the scan grows with the rows inserted: a hash join instead.
        nested_loops = cursor.fetchone()[0] >= checked_rows
        try:
            # A plain insert of the records not loaded before: cheaper than ON CONFLICT, and a
            # record named twice in the file breaks the unique index instead of passing unseen.
            with transaction.atomic():
                if not nested_loops:
                    cursor.execute("SET LOCAL enable_nestloop = off")
                cursor.execute(
                    f"{insert} AND NOT EXISTS (SELECT FROM {table} AS loaded "
                    "WHERE loaded.source = typed.source AND loaded.source_id = typed.source_id)"
                )
                added = cursor.rowcount
                if not nested_loops:
                    cursor.execute("RESET enable_nestloop")
                if checked_rows > added and staging_duplicates()[0]:
                    # Rows loaded before were left out of the insert, so a repeat among them
                    # passed the unique index unseen: looked for here, and only then.
                    raise RepeatedRows
                if added >= ANALYZE_AFTER_ROWS:
                    # The next import's look for records already loaded is planned on the table's
                    # size: without this it would be planned on the size before this load until
                    # autovacuum comes round, and a hash join over a million rows becomes sorts on disk.
                    cursor.execute(f"ANALYZE {table}")
                return added
        except IntegrityError as refused:
            if not isinstance(refused.__cause__, UniqueViolation):
                raise
        if staging_duplicates()[0]:
            raise RepeatedRows
        # Another import loaded some of the same records since they were looked for.
        cursor.execute(f"{insert} ON CONFLICT (source, source_id) DO NOTHING")
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


def import_refused(rows, checked: CheckedFile) -> None:
    """The import (its row in `rows`, an ImportJob or PopulationExtract queryset) ends refused for
    the faults `checked` found; its file is no longer kept."""
    rows.update(
        status=rows.model.Status.REFUSED,
        rows_total=checked.rows,
        error_count=checked.error_count,
        errors=checked.errors,
        finished_at=timezone.now(),
        stored_as="",
    )


def import_waits_again(rows) -> None:
    """A passing fault: the import waits to be tried again from the start."""
    with contextlib.suppress(DatabaseError):
        rows.update(status=rows.model.Status.QUEUED, rows_checked=0)


def import_failed(rows) -> None:
    rows.update(
        status=rows.model.Status.FAILED,
        finished_at=timezone.now(),
        errors=[{"line": 0, "message": "The import stopped unexpectedly; nothing was loaded. Try again or ask your system admin."}],
        error_count=1,
        stored_as="",
    )


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
            if not checked.error_count:
                jobs.update(status=ImportJob.Status.LOADING, rows_total=checked.rows, rows_checked=checked.rows)
                try:
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
                except RepeatedRows:
                    checked.refuse_duplicates(*staging_duplicates())
            if checked.error_count:
                import_refused(jobs, checked)
    except retry_on:
        logger.warning("Service-use import %s met a passing fault; it will be tried again.", job.pk, exc_info=True)
        import_waits_again(jobs)
        raise
    except Exception:
        logger.exception("Service-use import %s failed", job.pk)
        import_failed(jobs)
    if jobs.filter(status__in=ImportJob.Status.finished_values()).exists():
        import_file_delete(job)
    job.refresh_from_db()
    return job
