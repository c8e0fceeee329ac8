"""The population extract: every registered person of a team's practices with their monthly
contacts by kind, from the ICB's population health team (docs/adr/0019-population-extract.md).

An upload waits on disk as a service-use upload does (`import_file_store`), then is COPY'd a chunk
at a time into a temporary staging table, and checked in PostgreSQL: Python never holds more than
one chunk of the file, and a file of ten million rows is checked at the speed of the database
rather than of a Python loop. Two ways, one answer:

- quickly, for a file written the way the ICB writes it (seven plain values a line): COPY splits
  the values, and each is looked up among the few values it may take (the months, kinds, years,
  counts and the team's practices, each checked once), a person's NHS number checked once;
- line by line, for any other file: every line staged unparsed and parsed in SQL, with the list of
  its problems. This is the one place that words an error: whenever the quick way meets anything
  it does not expect, the file is checked again this way, which refuses it or loads it.

A file with any error loads nothing. A file with none is written whole as a new version, which
becomes the team's current extract in the same transaction; the old version's rows go after. A
person's contacts are two arrays on their row, written by the same pass over the lines that groups
them into people and makes their case-finding summary
(docs/adr/0029-population-contacts-as-arrays-per-person.md); the quick way's check is done by that
load itself. A large file is loaded that way in two halves at once, each on a connection of its own
(docs/adr/0031-population-load-in-two-halves.md)."""

from __future__ import annotations

import contextlib
import datetime
import io
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg2
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from int_app.celery import enqueue_on_commit
from int_app.teams.dates import EARLIEST_RECORD
from int_app.teams.models import Team, User

from .models import (
    EMERGENCY_KINDS,
    KIND_NUMBERS,
    KINDS_A_MONTH,
    RECENT_MONTHS,
    PopulationExtract,
    PopulationPerson,
    add_months,
    contact_slot,
    contact_slot_sql,
)
from .services import ERRORS_KEPT, CheckedFile, import_failed, import_file_store, import_refused, import_waits_again
from .signals import announce_population_extract_loaded

logger = logging.getLogger(__name__)

POPULATION_COLUMNS = ("nhs_number", "practice_ods", "birth_year", "sex", "month", "kind", "contacts")
# An extract must cover this many months or more: the matched comparison looks 12 months back and
# up to 12 forward.
MONTHS_REQUIRED = 24
# Files longer than this are checked and loaded by a Celery worker, with progress on the page.
BACKGROUND_POPULATION_ROWS = 5_000
# Bytes of lines COPY'd into staging at a time; progress is written after each.
COPY_CHUNK_BYTES = 8 * 1024 * 1024
STAGING = "population_staging"
# The quick way's staging: each line's seven values as COPY split them, as text.
FIELDS = "population_fields"
# The staged lines as typed values (and, line by line, their problems): every later step reads this.
TYPED = "population_typed"
TEMP_TABLES = f"{STAGING}, {FIELDS}, {TYPED}"
# Room for the load's sorts and hashes (a million rows sort in memory), for its transaction only.
LOAD_WORK_MEM = "256MB"
# A file of this many lines or more is loaded in two halves at once, each on a connection of its
# own (docs/adr/0031-population-load-in-two-halves.md); a smaller one on one connection.
HALVES_FROM_ROWS = 200_000
# How far past the middle of the file the second half's start is looked for (the first line of
# another person): a file grouped by person finds it within one person's lines.
HALF_START_LINES = 10_000
# How long the second half waits for a lock before giving up: a row the first half holds means a
# person in both halves (the file is then loaded on one connection, which waits as long as it must).
HALF_LOCK_TIMEOUT = "200ms"
# A person's id in a version is the extract's id times this plus their NHS number (ten digits): a
# contacts row carries it without a look-up. Ids from the people's own sequence (none is taken by a
# load) stay below it; extract ids up to 900 million fit a bigint.
PERSON_IDS_PER_EXTRACT = 10_000_000_000
SEXES = ("M", "F", "U")
# The same, as an SQL list for IN.
SEXES_SQL = "(" + ", ".join(f"'{sex}'" for sex in SEXES) + ")"
CONTACTS_MAX = 10_000


@contextlib.contextmanager
def population_staging() -> Iterable[None]:
    """The file's lines, unparsed, numbered in file order. A TEMP table made outside a transaction
    (progress commits as it goes), dropped after, and by PostgreSQL if the process dies."""
    _create_staging()
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError, TransactionManagementError), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLES}")


def _create_staging() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLES}")
        # The header is line 1, read by Python: the first staged line is line 2.
        cursor.execute(f"CREATE TEMP TABLE {STAGING} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), raw text)")
        cursor.execute(
            # Compared byte by byte (the load's min and max of each person's values): no locale.
            f"CREATE TEMP TABLE {FIELDS} (nhs text COLLATE \"C\", ods text COLLATE \"C\", birth_year text COLLATE \"C\", "
            'sex text COLLATE "C", month text COLLATE "C", kind text COLLATE "C", contacts text COLLATE "C")'
        )


def population_header(upload: BinaryIO, checked: CheckedFile) -> bool:
    """Read and check the first line. False when the file is refused as a whole for it (no header,
    not text); `checked` says why."""
    header_bytes = upload.readline(64 * 1024)
    try:
        header = header_bytes.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        checked.refuse(1, "The file is not plain text (UTF-8 CSV). Save it as CSV and upload it again.")
        return False
    names = tuple(name.strip().strip('"').lower() for name in header.split(","))
    if names != POPULATION_COLUMNS:
        checked.refuse(1, f"The first line must name the columns {','.join(POPULATION_COLUMNS)} (found {header[:200] or 'nothing'}).")
        return False
    return True


def _copied_in_chunks(upload: BinaryIO, copy_sql: str, on_progress: Callable[[int], None] | None) -> tuple[int, Exception | None]:
    """COPY every line after the header with `copy_sql`, a chunk of whole lines at a time (each in a
    savepoint): the lines staged, and what stopped COPY, if anything did. A chunk is read as one
    piece and cut after its last line break, never split into lines in Python."""
    staged = 0
    with connection.cursor() as cursor:
        while chunk := upload.read(COPY_CHUNK_BYTES):
            if not chunk.endswith(b"\n"):
                chunk += upload.readline()  # the rest of the chunk's last line
            lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            try:
                with transaction.atomic():
                    cursor.copy_expert(copy_sql, io.BytesIO(chunk), 1 << 20)  # positional: DEBUG's cursor wrapper takes no keywords
            except (DatabaseError, psycopg2.Error) as refused:
                return staged, refused
            staged += lines
            if on_progress is not None:
                on_progress(staged)
    return staged, None


def population_stage(upload: BinaryIO, checked: CheckedFile, on_progress: Callable[[int], None] | None = None) -> bool:
    """COPY every line after the header into staging, unparsed, a chunk at a time. False when the
    file is refused as a whole (a line that is not text); `checked` says why."""
    # One value a line, taken as it is: no delimiter or quote can occur in it, so a broken line is
    # staged like any other and refused by the checks, on its own.
    staged, refused = _copied_in_chunks(
        upload, f"COPY {STAGING} (raw) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', ENCODING 'UTF8')", on_progress
    )
    if refused is not None:
        line = staged + 1 + _copy_line(refused)
        checked.refuse(line, "This line cannot be read: it is not plain UTF-8 text or holds a control character. Save the file as CSV and upload it again.")
        return False
    return True


def _copy_line(error: DatabaseError) -> int:
    """The line of the chunk COPY stopped at (1 is the chunk's first), from its error's context."""
    context = getattr(getattr(error, "diag", None), "context", None) or ""
    marker = context.rfind("line ")
    if marker < 0:
        return 1
    digits = "".join(ch for ch in context[marker + 5 :].split(":")[0].split(",")[0] if ch.isdigit())
    return int(digits) if digits else 1


def _nhs_ok_sql(column: str) -> str:
    """True when `column` holds a valid NHS number: ten digits, the last its check digit."""
    weights = " + ".join(f"substr({column}, {index}, 1)::int * {11 - index}" for index in range(1, 10))
    # CASE, not AND: only a value that passed the pattern is cast. (11 - sum mod 11) mod 11 is the
    # check digit, 10 standing for "no valid number" (it never equals a digit).
    return f"CASE WHEN {column} ~ '^[0-9]{{10}}$' THEN (11 - ({weights}) %% 11) %% 11 = substr({column}, 10, 1)::int ELSE false END"


def _parsed_sql(team_id: int) -> str:
    """Every staged line as typed values and the list of its problems, in one scan."""
    kinds = ", ".join(f"('{kind}', {number})" for kind, number in KIND_NUMBERS.items())
    return f"""
        SELECT line, nhs, practice.id AS practice_id, ods, sex, kind_number,
               CASE WHEN month_ok THEN to_date(month_text || '-01', 'YYYY-MM-DD') END AS month,
               CASE WHEN birth_ok THEN birth_text::smallint END AS birth_year_value,
               CASE WHEN contacts_ok THEN contacts_text::int END AS contacts,
               CASE WHEN n = 7 AND nhs_ok AND practice.id IS NOT NULL AND birth_ok AND sex IN {SEXES_SQL} AND month_ok
                         AND kind_number IS NOT NULL AND contacts_ok THEN '{{}}'::text[] ELSE array_remove(ARRAY[
                 CASE WHEN n <> 7 THEN 'expected 7 values separated by commas, found ' || n END,
                 CASE WHEN n = 7 AND NOT nhs_ok THEN 'NHS number ' || coalesce(nullif(nhs, ''), '(empty)') || ' is not valid (10 digits, the last a check digit)' END,
                 CASE WHEN n = 7 AND practice.id IS NULL THEN 'practice ' || coalesce(nullif(ods, ''), '(empty)') || ' is not one of the team''s practices' END,
                 CASE WHEN n = 7 AND NOT birth_ok THEN 'bad birth_year ' || coalesce(nullif(birth_text, ''), '(empty)') || ': a year from 1900 to this year' END,
                 CASE WHEN n = 7 AND sex NOT IN {SEXES_SQL} THEN 'bad sex ' || coalesce(nullif(sex, ''), '(empty)') || ': use M, F or U' END,
                 CASE WHEN n = 7 AND NOT month_ok THEN 'bad month ' || coalesce(nullif(month_text, ''), '(empty)') || ': write months as YYYY-MM, from {EARLIEST_RECORD:%Y-%m} to this month' END,
                 CASE WHEN n = 7 AND kind_number IS NULL THEN 'unknown kind ' || coalesce(nullif(kind_text, ''), '(empty)') || ': use one of {", ".join(sorted(KIND_NUMBERS))}' END,
                 CASE WHEN n = 7 AND NOT contacts_ok THEN 'bad contacts ' || coalesce(nullif(contacts_text, ''), '(empty)') || ': a whole number from 1 to {CONTACTS_MAX:,}' END
               ], NULL) END AS problems
        FROM (
          SELECT line, n, nhs, ods, birth_text, sex, month_text, kind_text, contacts_text, kind.number AS kind_number,
                 {_nhs_ok_sql("nhs")} AS nhs_ok,
                 CASE WHEN birth_text ~ '^[0-9]{{4}}$' THEN birth_text::int BETWEEN 1900 AND %(this_year)s ELSE false END AS birth_ok,
                 month_text ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])$' AND month_text BETWEEN %(earliest_month)s AND %(this_month)s AS month_ok,
                 CASE WHEN contacts_text ~ '^[0-9]{{1,5}}$' THEN contacts_text::int BETWEEN 1 AND {CONTACTS_MAX} ELSE false END AS contacts_ok
          FROM (
            SELECT line, cardinality(parts) AS n,
                   btrim(parts[1], ' "') AS nhs, upper(btrim(parts[2], ' "')) AS ods, btrim(parts[3], ' "') AS birth_text,
                   upper(btrim(parts[4], ' "')) AS sex, btrim(parts[5], ' "') AS month_text, btrim(parts[6], ' "') AS kind_text,
                   btrim(parts[7], ' "') AS contacts_text
            FROM (SELECT line, string_to_array(rtrim(raw, E'\\r'), ',') AS parts FROM {STAGING} WHERE btrim(coalesce(raw, ''), E' \\r') <> '' OFFSET 0) AS split
            OFFSET 0
          ) AS cleaned
          LEFT JOIN (VALUES {kinds}) AS kind (code, number) ON kind.code = cleaned.kind_text
          OFFSET 0
        ) AS checked
        LEFT JOIN teams_practice AS practice ON practice.ods_code = checked.ods
          AND practice.pcn_id IN (SELECT pcn.id FROM teams_pcn AS pcn JOIN teams_team AS team ON team.neighbourhood_id = pcn.neighbourhood_id WHERE team.id = {int(team_id)})
    """


def months_covered(first: datetime.date, last: datetime.date) -> int:
    """How many calendar months an extract from `first` to `last` covers, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _params(today: datetime.date) -> dict:
    return {"this_year": today.year, "this_month": f"{today:%Y-%m}", "earliest_month": f"{EARLIEST_RECORD:%Y-%m}"}


def population_check(*, team: Team, today: datetime.date, checked: CheckedFile) -> tuple[datetime.date, datetime.date] | None:
    """Check every staged line in the database, and the file as a whole. Fills `checked` with the
    errors by line; returns the extract's first and last month when there are none."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {TYPED} AS {_parsed_sql(team.pk)}", _params(today))  # noqa: S608 - our SQL
        cursor.execute(f"ANALYZE {TYPED}")
        cursor.execute(f"SELECT count(*), count(*) FILTER (WHERE problems <> '{{}}'), min(month), max(month) FROM {TYPED}")  # noqa: S608
        rows, faulty, first, last = cursor.fetchone()
        checked.rows = rows
        if faulty:
            cursor.execute(
                f"SELECT line, array_to_string(problems, '; ') FROM {TYPED} "  # noqa: S608
                "WHERE problems <> '{}' ORDER BY line LIMIT %(kept)s",
                {**_params(today), "kept": ERRORS_KEPT},
            )
            for line, problems in cursor.fetchall():
                checked.refuse(line, f"{problems[0].upper()}{problems[1:]}.")
            checked.error_count = faulty
            return None
        if rows == 0:
            checked.refuse(2, "The file has no rows under the column names.")
            return None
        months = months_covered(first, last)
        if months < MONTHS_REQUIRED:
            checked.refuse(
                0,
                f"The extract covers {months} month{'s' if months != 1 else ''} ({first:%B %Y} to {last:%B %Y}); "
                f"it must cover {MONTHS_REQUIRED} months or more.",
            )
            return None
    return first, last


def population_stage_quickly(upload: BinaryIO, on_progress: Callable[[int], None] | None = None) -> int | None:
    """COPY every line after the header into the quick staging, its values split at each comma, a
    chunk at a time. The number of lines; None when COPY cannot take one (a line with more or fewer
    values, a blank line, not UTF-8...): the file is then checked line by line."""
    # No quote character (\x02 never occurs in a valid line): a quote is kept in the value, which
    # then matches nothing, as a comma splits values whatever surrounds it.
    staged, refused = _copied_in_chunks(
        upload,
        # An empty value stays '' (not NULL): it then matches no value it may take, like any other.
        f"COPY {FIELDS} FROM STDIN WITH (FORMAT csv, DELIMITER ',', QUOTE E'\\x02', ENCODING 'UTF8', "
        "FORCE_NOT_NULL (nhs, ods, birth_year, sex, month, kind, contacts))",
        on_progress,
    )
    return None if refused is not None else staged


def _restage() -> None:
    """Empty the staging for the file to be checked again, line by line, from its first line."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TYPED}")
        cursor.execute(f"TRUNCATE {STAGING}, {FIELDS} RESTART IDENTITY")


def _repeats(team: Team, today: datetime.date, checked: CheckedFile) -> None:
    """The file's rows that repeat a person, month and kind, or give a person another practice,
    year of birth or sex than their first row: found only when the load is refused for them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT line, 'the same NHS number, month and kind as line ' || first_line
            FROM (
              SELECT line, min(line) OVER (PARTITION BY nhs, month, kind_number) AS first_line FROM {TYPED} AS p
            ) AS keyed
            WHERE first_line <> line
            ORDER BY line LIMIT %(kept)s
            """,  # noqa: S608
            {**_params(today), "kept": ERRORS_KEPT},
        )
        found = cursor.fetchall()
        cursor.execute(
            f"""
            SELECT p.line, 'NHS number ' || p.nhs || ' has another practice, birth_year or sex than on line ' || first.line
            FROM {TYPED} AS p
            JOIN (SELECT DISTINCT ON (nhs) nhs, line, ods, birth_year_value, sex FROM {TYPED} AS q ORDER BY nhs, line) AS first
              ON first.nhs = p.nhs AND (first.ods, first.birth_year_value, first.sex) IS DISTINCT FROM (p.ods, p.birth_year_value, p.sex)
            ORDER BY p.line LIMIT %(kept)s
            """,  # noqa: S608
            {**_params(today), "kept": ERRORS_KEPT},
        )
        found += cursor.fetchall()
    for line, problem in sorted(found)[:ERRORS_KEPT]:
        checked.refuse(line, f"{problem[0].upper()}{problem[1:]}.")
    checked.error_count = max(checked.error_count, 1)


def _quick_values_sql() -> dict[str, str]:
    """The practices and years a person may have, written as the file writes them (text), each a
    JSON object from that text to the value it stands for, made once and looked up once a person:
    a value with no match is one the quick way does not take."""
    return {
        "practice": """(
          SELECT jsonb_object_agg(practice.ods_code, practice.id) FROM teams_practice AS practice
          JOIN teams_pcn AS pcn ON pcn.id = practice.pcn_id
          JOIN teams_team AS team ON team.neighbourhood_id = pcn.neighbourhood_id WHERE team.id = %(team)s
        )""",
        "year": "(SELECT jsonb_object_agg(n::text, n) FROM generate_series(1900, %(this_year)s) AS n)",
    }


def _person_id_sql(nhs: str) -> str:
    """A person's id in this version: the extract's id, then their NHS number as ten digits (see
    PERSON_IDS_PER_EXTRACT)."""
    return f"%(extract)s::bigint * {PERSON_IDS_PER_EXTRACT} + {nhs}::bigint"


# What a line adds to its person's case-finding summary, by its month and kind: the recent months
# by kind number (1 to 8), or the six months before, emergency or not; nothing for other months.
BEFORE_EMERGENCY, BEFORE_OTHER = 9, 10
# A person's months and kinds as bits, 64 to a word: OR'd together, a person's bits count their
# distinct months and kinds, which must be as many as their lines.
BITS_A_WORD = 64


def _month_kinds_sql(*, first: datetime.date, last: datetime.date) -> str:
    """Every month of the extract with every kind: as the file writes them (text) and as the typed
    staging holds them; the slot it is kept at in a person's contact arrays (contact_slot); what
    it adds to the summary (`part`); and its bit among the extract's months and kinds (`word`,
    `bit`). A short table, hashed once and probed once a line."""
    recent_from = add_months(last, -(RECENT_MONTHS - 1))
    before_from = add_months(recent_from, -RECENT_MONTHS)
    kinds = ", ".join(f"('{kind}', {number})" for kind, number in KIND_NUMBERS.items())
    emergency = ", ".join(str(KIND_NUMBERS[kind]) for kind in EMERGENCY_KINDS)
    slot = contact_slot_sql("m", "kind.number")
    # Its place among the extract's own months and kinds: its slot counted from the first month's first.
    position = f"({slot} - {contact_slot(first, 1)})"
    return f"""
        SELECT to_char(m, 'YYYY-MM') COLLATE "C" AS month_code, kind.code COLLATE "C" AS kind_code, m::date AS month, kind.number AS kind,
               {slot}::smallint AS slot,
               CASE WHEN m >= '{recent_from}' THEN kind.number
                    WHEN m >= '{before_from}' THEN CASE WHEN kind.number IN ({emergency}) THEN {BEFORE_EMERGENCY} ELSE {BEFORE_OTHER} END
               END AS part,
               ({position}) / {BITS_A_WORD} AS word, 1::bigint << mod({position}, {BITS_A_WORD}) AS bit
        FROM generate_series('{first}'::timestamp, '{last}'::timestamp, interval '1 month') AS m CROSS JOIN (VALUES {kinds}) AS kind (code, number)
    """


def _people_sql(*, quick: bool, first: datetime.date, last: datetime.date) -> str:
    """One pass over the staged lines, grouped by person: each person's row of PopulationPerson,
    written in id order (each of its indexes at its end), with their contacts as two arrays and
    their case-finding summary (the extract's last six months against the six before, emergency and
    all, and the last six by kind). Returns the people written, the lines they hold, whether every
    NHS number is one (checked once a person), and whether no person has a month and kind twice.

    A person is grouped by their practice, year and sex too: a person whose lines disagree is two
    rows with one NHS number, which the people's unique constraint refuses. Quickly, from the text
    values: a practice, year or sex the quick way does not take is NULL, which the people's columns
    refuse; a line whose month, kind or count is not written as the file writes them is left out
    (fewer lines than the file has), and a count that is no number stops the statement."""
    if quick:
        source = f"""
            SELECT line.nhs, line.ods, line.birth_year, line.sex, month_kind.slot, month_kind.part, month_kind.word, month_kind.bit, line.contacts
            FROM (SELECT nhs, ods, birth_year, sex, month, kind, contacts::int AS contacts, contacts AS written FROM {FIELDS} OFFSET 0) AS line
            JOIN month_kind ON month_kind.month_code = line.month AND month_kind.kind_code = line.kind
            -- A count kept only when written as the number it is (no sign, space or leading zero).
            WHERE line.contacts::text = line.written AND line.contacts BETWEEN 1 AND {CONTACTS_MAX}
        """
        values = _quick_values_sql()
        described = f"""({values["practice"]} ->> person.ods)::bigint, ({values["year"]} ->> person.birth_year)::smallint,
                        CASE WHEN person.sex IN {SEXES_SQL} THEN person.sex END"""
    else:
        source = f"""
            SELECT line.nhs, line.practice_id AS ods, line.birth_year_value AS birth_year, line.sex, month_kind.slot, month_kind.part,
                   month_kind.word, month_kind.bit, line.contacts
            FROM {TYPED} AS line JOIN month_kind ON month_kind.month = line.month AND month_kind.kind = line.kind_number
        """
        described = "person.ods, person.birth_year, person.sex"
    words = -(-months_covered(first, last) * KINDS_A_MONTH // BITS_A_WORD)
    distinct = " + ".join(f"coalesce(bit_count((bit_or(bit) FILTER (WHERE word = {word}))::bit(64)), 0)" for word in range(words))
    recent = {number: f"coalesce(sum(contacts) FILTER (WHERE part = {number}), 0)" for number in sorted(KIND_NUMBERS.values())}
    by_kind = ", ".join(f"{total}::int" for total in recent.values())
    # The recent sums from the sums by kind: each sum is counted once, however often it is named.
    recent_emergency = " + ".join(recent[KIND_NUMBERS[kind]] for kind in EMERGENCY_KINDS)
    recent_total = " + ".join(recent.values())
    return f"""
        WITH month_kind AS MATERIALIZED ({_month_kinds_sql(first=first, last=last)}),
        person AS MATERIALIZED (
            SELECT {_person_id_sql("nhs")} AS id, nhs, ods, birth_year, sex,
                   array_agg(slot) AS contact_slots, array_agg(contacts::smallint) AS contact_counts,
                   count(*) AS lines, {distinct} AS months_and_kinds,
                   coalesce(sum(contacts) FILTER (WHERE part = {BEFORE_EMERGENCY}), 0) AS before_emergency,
                   coalesce(sum(contacts) FILTER (WHERE part = {BEFORE_OTHER}), 0) AS before_other,
                   ARRAY[{by_kind}] AS recent_by_kind, ({recent_emergency})::int AS recent_emergency, ({recent_total})::int AS recent_total
            FROM ({source}) AS line
            GROUP BY nhs, ods, birth_year, sex
        ),
        written AS (
            INSERT INTO {PopulationPerson._meta.db_table} (id, extract_id, nhs_number, practice_id, birth_year, sex, recent_emergency,
                recent_total, before_emergency, before_total, recent_by_kind, contact_slots, contact_counts)
            SELECT person.id, %(extract)s, person.nhs, {described},
                   recent_emergency, recent_total, before_emergency, before_emergency + before_other, recent_by_kind,
                   contact_slots, contact_counts
            FROM person ORDER BY person.id
        )
        SELECT count(*), coalesce(sum(lines), 0), coalesce(bool_and(coalesce({_nhs_ok_sql("nhs")}, false)), true),
               coalesce(bool_and(lines = months_and_kinds), true)
        FROM person
    """  # noqa: S608


@contextlib.contextmanager
def _hash_joins(cursor) -> Iterable[None]:
    """Inside a transaction: join by hashing, with room to hash and sort, and no JIT. The quick
    way's staging is never ANALYZEd (that would cost a pass of its own), and the planner, guessing
    it small, looped over a million rows for every value of a small table; guessing costs it cannot
    know, it compiled every statement (a third of a second each). Restored after."""
    settings = {"enable_nestloop": "off", "enable_mergejoin": "off", "work_mem": LOAD_WORK_MEM, "maintenance_work_mem": LOAD_WORK_MEM, "jit": "off"}
    cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in settings))
    before = dict(zip(settings, cursor.fetchone(), strict=True))
    for name, value in settings.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    yield
    for name, value in before.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


class RepeatedRows(Exception):
    """The load met a person, month and kind twice, or one person described two ways."""


class InvalidNumber(Exception):
    """The load met an NHS number that is not one (only from a file checked the quick way)."""


@dataclass(frozen=True)
class Loaded:
    """What a load wrote: people, the lines they hold (a month and kind with contacts each), and the
    extract's first and last month."""

    people: int
    rows: int
    first: datetime.date
    last: datetime.date


class NotQuick(Exception):
    """The quick way met a value it does not take, or too few months: the file is checked line by line."""


def population_load(*, extract: PopulationExtract, team: Team, today: datetime.date, expected_rows: int, quick: bool) -> Loaded:
    """Write the staged rows as the extract's people, each with their contacts and case-finding
    summary, in one pass over the lines. Runs inside the caller's transaction, which makes the
    version current. RepeatedRows when a person's lines disagree or a person, month and kind comes
    twice; InvalidNumber when a person's NHS number is not one; NotQuick (quick=True, the file read
    from the quick staging) when a line holds a value the quick way does not take or the months
    are too few.

    One row a person, not one a person, month and kind: a person's contacts are two arrays on their
    row (docs/adr/0029-population-contacts-as-arrays-per-person.md), so the load writes about a
    twelfth of the rows, each with its indexes, and nothing else."""
    with connection.cursor() as cursor, _hash_joins(cursor):
        first, last = _months(cursor, today=today, quick=quick)
        written = _write_people(cursor, params=_load_params(extract, team, today), quick=quick, first=first, last=last)
    return _loaded([written], expected_rows=expected_rows, quick=quick, first=first, last=last)


def _load_params(extract: PopulationExtract, team: Team, today: datetime.date) -> dict:
    return {**_params(today), "extract": extract.pk, "team": team.pk}


def _write_people(cursor, *, params: dict, quick: bool, first: datetime.date, last: datetime.date) -> tuple[int, int, bool, bool]:
    """The one pass over the staged lines (_people_sql): the people written, the lines they hold,
    whether every NHS number is one, and whether no person has a month and kind twice."""
    try:
        # A person described two ways (two rows with one NHS number), or quickly a practice,
        # year or sex it does not take (NULL), is refused by the people's table.
        with transaction.atomic():
            cursor.execute(_people_sql(quick=quick, first=first, last=last), params)
    except IntegrityError as refused:
        raise (NotQuick if quick else RepeatedRows) from refused
    return cursor.fetchone()


def _loaded(written: list[tuple[int, int, bool, bool]], *, expected_rows: int, quick: bool, first: datetime.date, last: datetime.date) -> Loaded:
    """What one or more passes wrote, once it is checked: every line held, each month and kind
    once a person, every NHS number valid."""
    rows = sum(lines for _, lines, _, _ in written)
    if rows != expected_rows or not all(once_each for *_, once_each in written):
        raise NotQuick if quick else RepeatedRows
    if not all(valid for _, _, valid, _ in written):
        raise InvalidNumber
    return Loaded(people=sum(people for people, *_ in written), rows=rows, first=first, last=last)


def _months(cursor, *, today: datetime.date, quick: bool) -> tuple[datetime.date, datetime.date]:
    """The extract's first and last month, from the staged lines (the summary is counted back from
    the last). Quickly, NotQuick when either is not a month written as the file writes them, or
    they cover fewer than MONTHS_REQUIRED (the line-by-line check words it)."""
    first, last = _month_bounds(cursor, quick=quick)
    return _months_written(first, last, today) if quick else (first, last)


def _month_bounds(cursor, *, quick: bool = True) -> tuple:
    """The least and greatest month staged (as written, quickly)."""
    cursor.execute(f"SELECT min(month), max(month) FROM {FIELDS if quick else TYPED}")  # noqa: S608
    return cursor.fetchone()


def _months_written(first: str | None, last: str | None, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last month the quick staging's least and greatest month stand for; NotQuick
    when either is not a month written as the file writes them, or they cover too few months."""
    first_month, last_month = _month_written(first, today), _month_written(last, today)
    if first_month is None or last_month is None or months_covered(first_month, last_month) < MONTHS_REQUIRED:
        raise NotQuick
    return first_month, last_month


def _month_written(text: str | None, today: datetime.date) -> datetime.date | None:
    """The month a value written YYYY-MM stands for, from EARLIEST_RECORD to this month; None for
    any other value."""
    if text is None or len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit() and text.isascii()):
        return None
    if not 1 <= int(text[5:]) <= 12:
        return None
    month = datetime.date(int(text[:4]), int(text[5:]), 1)
    return month if EARLIEST_RECORD.replace(day=1) <= month <= today.replace(day=1) else None


def population_import(*, extract: PopulationExtract, retry_on: tuple[type[BaseException], ...] = ()) -> PopulationExtract:
    """Check the extract's file, then load all of it as a new version and make it current in one
    transaction, or load none of it. Idempotent: a finished extract is left alone, and one run
    again after a crash starts afresh (nothing of it was committed)."""
    extracts = PopulationExtract.objects.filter(pk=extract.pk)
    if extract.is_finished:
        return extract
    extracts.update(status=PopulationExtract.Status.CHECKING, started_at=timezone.now(), rows_checked=0)
    team = extract.team
    today = timezone.localdate()
    checked = CheckedFile()
    try:
        with population_staging(), open(extract.stored_path, "rb") as upload:
            if population_header(upload, checked):
                _check_and_load(extract, team, today, upload, checked)
            if checked.error_count:
                import_refused(extracts, checked)
    except retry_on:
        logger.warning("Population extract %s met a passing fault; it will be tried again.", extract.pk, exc_info=True)
        import_waits_again(extracts)
        raise
    except Exception:
        logger.exception("Population extract %s failed", extract.pk)
        import_failed(extracts)
    if extracts.filter(status__in=PopulationExtract.Status.finished_values()).exists() and extract.stored_path is not None:
        extract.stored_path.unlink(missing_ok=True)
    population_forget_old_later(team)
    extract.refresh_from_db()
    return extract


def _check_and_load(extract: PopulationExtract, team: Team, today: datetime.date, upload: BinaryIO, checked: CheckedFile) -> None:
    """Check the file after its header the quick way, in the load itself; when that meets anything
    it does not expect, check it again line by line, which says what is wrong or loads it."""
    extracts = PopulationExtract.objects.filter(pk=extract.pk)

    def on_progress(rows: int) -> None:
        extracts.update(rows_checked=rows)

    def load(*, quick: bool) -> None:
        _loading(extract, checked.rows)
        loaded = _load_and_switch(extract, team, today, expected_rows=checked.rows, quick=quick)
        logger.info("Population extract %s loaded for %s: %s people, %s rows", extract.pk, team.slug, loaded.people, loaded.rows)

    body = upload.tell()
    _forget_unfinished(extract)  # a load in halves cut short by a crash
    if extract.rows_total >= HALVES_FROM_ROWS and not connection.in_atomic_block:
        try:
            if _load_in_halves(extract, team, today, upload, checked, on_progress):
                return
        except (NotQuick, RepeatedRows, InvalidNumber, DataError):
            logger.info("Population extract %s is loaded on one connection", extract.pk)
        upload.seek(body)
        _restage()
    if staged := population_stage_quickly(upload, on_progress):
        checked.rows = staged
        try:
            load(quick=True)
        except (NotQuick, RepeatedRows, InvalidNumber, DataError):
            pass  # the check line by line names the lines
        else:
            return
    logger.info("Population extract %s is checked line by line", extract.pk)
    upload.seek(body)
    _restage()
    extracts.update(status=PopulationExtract.Status.CHECKING, rows_checked=0)
    if population_stage(upload, checked, on_progress=on_progress) and population_check(team=team, today=today, checked=checked):
        try:
            load(quick=False)
        except RepeatedRows:
            _repeats(team, today, checked)


def _loading(extract: PopulationExtract, rows: int) -> None:
    """Every line is staged: the progress bar says the load is under way."""
    PopulationExtract.objects.filter(pk=extract.pk).update(status=PopulationExtract.Status.LOADING, rows_total=rows, rows_checked=rows)


def _load_and_switch(extract: PopulationExtract, team: Team, today: datetime.date, *, expected_rows: int, quick: bool) -> Loaded:
    with transaction.atomic():
        _lock_unfinished(extract, quick=quick)
        loaded = population_load(extract=extract, team=team, today=today, expected_rows=expected_rows, quick=quick)
        _switch(extract, team, loaded)
    return loaded


def _lock_unfinished(extract: PopulationExtract, *, quick: bool) -> None:
    """One load of an extract at a time (a task delivered twice): the second finds it finished."""
    if PopulationExtract.objects.select_for_update().get(pk=extract.pk).is_finished:
        raise NotQuick if quick else RepeatedRows


def _switch(extract: PopulationExtract, team: Team, loaded: Loaded) -> None:
    """The old version stops being current and the new one starts, in the caller's commit."""
    PopulationExtract.objects.filter(team=team, is_current=True).update(is_current=False)
    PopulationExtract.objects.filter(pk=extract.pk).update(
        status=PopulationExtract.Status.DONE,
        is_current=True,
        rows_loaded=loaded.rows,
        people=loaded.people,
        first_month=loaded.first,
        last_month=loaded.last,
        finished_at=timezone.now(),
        stored_as="",
    )
    # The KPIs' matched comparison reads the current extract: it is recomputed after the commit.
    announce_population_extract_loaded(extract, team)


class _FileRange:
    """An open file read from where it stands up to `end`, and no further: the first half."""

    def __init__(self, file: BinaryIO, end: int) -> None:
        self.file, self.end = file, end

    def _left(self, size: int) -> int:
        left = self.end - self.file.tell()
        return left if size < 0 else min(size, left)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(left) if (left := self._left(size)) > 0 else b""

    def readline(self, size: int = -1) -> bytes:
        return self.file.readline(left) if (left := self._left(size)) > 0 else b""


def _second_half_start(upload: BinaryIO, body: int, end: int) -> int | None:
    """Where the second half of the file's lines starts: the first line past the middle with
    another NHS number than the line before, so that a file grouped by person has each person in
    one half. None when there is none within HALF_START_LINES lines."""
    upload.seek(body + (end - body) // 2)
    upload.readline()  # the rest of the line the middle falls in
    previous = None
    for _ in range(HALF_START_LINES):
        start = upload.tell()
        line = upload.readline()
        if not line:
            return None
        nhs_number = line.split(b",", 1)[0]
        if previous is not None and nhs_number != previous:
            return start
        previous = nhs_number
    return None


@dataclass
class _SecondHalf:
    """What the two halves of a load tell each other. The second half stages its lines and says
    its least and greatest month; the first says the extract's first and last month (None: it
    gave up); the second then writes its people and commits, or says what stopped it."""

    path: str
    start: int
    params: dict
    staged: int = 0
    months: tuple | None = None
    months_read: threading.Event = field(default_factory=threading.Event)
    bounds: tuple[datetime.date, datetime.date] | None = None
    bounds_set: threading.Event = field(default_factory=threading.Event)
    written: tuple[int, int, bool, bool] | None = None
    error: BaseException | None = None


def _load_second_half(half: _SecondHalf) -> None:
    """The second half's thread, on a connection of its own (closed at the end): stage, say the
    months, wait for the bounds, write its people and commit. Its people belong to a version that
    is not current yet: nobody reads them until the first half's commit makes it current."""
    try:
        with population_staging(), open(half.path, "rb") as upload:
            upload.seek(half.start)
            staged = population_stage_quickly(upload, on_progress=lambda rows: setattr(half, "staged", rows))
            if staged is None:
                raise NotQuick
            half.staged = staged
            with connection.cursor() as cursor:
                half.months = _month_bounds(cursor)
            half.months_read.set()
            half.bounds_set.wait()
            if half.bounds is None:
                return  # the first half gave up
            first, last = half.bounds
            with transaction.atomic(), connection.cursor() as cursor, _hash_joins(cursor):
                # A person in both halves: waiting for the first half's row would wait for ever
                # (it commits only once this half has finished).
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [HALF_LOCK_TIMEOUT])
                half.written = _write_people(cursor, params=half.params, quick=True, first=first, last=last)
    except BaseException as stopped:  # noqa: BLE001 - said to the first half, which falls back
        half.error = stopped
    finally:
        half.months_read.set()
        connection.close()


def _load_in_halves(
    extract: PopulationExtract, team: Team, today: datetime.date, upload: BinaryIO, checked: CheckedFile, on_progress: Callable[[int], None]
) -> bool:
    """Load a large file the quick way in two halves at once, each staged and grouped into people
    on a connection of its own (docs/adr/0031-population-load-in-two-halves.md); the version
    becomes current in the first half's commit, after the second half's people have committed.
    False when the file has no second half to start; NotQuick, RepeatedRows, InvalidNumber or
    DataError when the quick way cannot load it, with nothing of it left behind."""
    body = upload.tell()
    start = _second_half_start(upload, body, extract.stored_path.stat().st_size)
    upload.seek(body)
    if start is None:
        return False
    half = _SecondHalf(path=str(extract.stored_path), start=start, params=_load_params(extract, team, today))
    second = threading.Thread(target=_load_second_half, args=(half,), name=f"population-{extract.pk}-second-half", daemon=True)
    second.start()
    try:
        staged = population_stage_quickly(_FileRange(upload, start), lambda rows: on_progress(rows + half.staged))
        with connection.cursor() as cursor:
            mine = _month_bounds(cursor) if staged is not None else None
        half.months_read.wait()
        if mine is None or half.months is None or None in (*mine, *half.months):
            raise NotQuick
        half.bounds = first, last = _months_written(min(mine[0], half.months[0]), max(mine[1], half.months[1]), today)
        half.bounds_set.set()
        checked.rows = staged + half.staged
        _loading(extract, checked.rows)
        with transaction.atomic():
            _lock_unfinished(extract, quick=True)
            with connection.cursor() as cursor, _hash_joins(cursor):
                written = _write_people(cursor, params=half.params, quick=True, first=first, last=last)
            second.join()
            if half.written is None:
                raise NotQuick from half.error
            loaded = _loaded([written, half.written], expected_rows=checked.rows, quick=True, first=first, last=last)
            _switch(extract, team, loaded)
    except BaseException:
        half.bounds_set.set()  # the second half stops waiting
        second.join()
        _forget_unfinished(extract)  # the second half's people, if it committed them
        raise
    logger.info("Population extract %s loaded in two halves for %s: %s people, %s rows", extract.pk, team.slug, loaded.people, loaded.rows)
    return True


def _forget_unfinished(extract: PopulationExtract) -> None:
    """Delete the people of an extract that is not current: what a load in halves cut short left
    (the second half commits before the first)."""
    if not PopulationExtract.objects.filter(pk=extract.pk, is_current=True).exists():
        PopulationPerson.objects.filter(extract_id=extract.pk)._raw_delete(connection.alias)


def population_load_unchecked(*, team: Team, rows: Iterable[tuple], file_name: str) -> PopulationExtract:
    """Load rows that need no checking (the demo's, made by code), as a new current version of the
    team's extract: (nhs_number, practice_id, birth_year, sex, month, kind, contacts) with the month
    a date and the kind a code. COPY'd straight into the typed staging the checks would have made."""
    import csv

    today = timezone.localdate()
    extract = PopulationExtract.objects.create(team=team, file_name=file_name, status=PopulationExtract.Status.LOADING)
    staged = io.StringIO()
    writer = csv.writer(staged, lineterminator="\n")
    count = 0
    for count, (nhs_number, practice_id, birth_year, sex, month, kind, contacts) in enumerate(rows, start=2):
        writer.writerow((count, nhs_number, practice_id, sex, KIND_NUMBERS[kind], month, birth_year, contacts))
    staged.seek(0)
    with population_staging(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {TYPED} (line bigint, nhs text, practice_id bigint, sex text, kind_number int, month date, "
            "birth_year_value smallint, contacts int, problems text[] DEFAULT '{}')"
        )
        cursor.copy_expert(
            f"COPY {TYPED} (line, nhs, practice_id, sex, kind_number, month, birth_year_value, contacts) FROM STDIN WITH (FORMAT csv)", staged
        )
        cursor.execute(f"ANALYZE {TYPED}")
        _load_and_switch(extract, team, today, expected_rows=max(count - 1, 0), quick=False)
    population_forget_old_later(team)
    extract.refresh_from_db()
    return extract


def population_forget_old_later(team: Team) -> None:
    """Once the load has committed, delete the old versions on a worker (`forget_old_population`):
    a city's old people take seconds to delete, which a small upload loaded in its request must not
    wait for. Without a worker (tasks run in-process) it runs just after the commit, as before."""
    from .tasks import forget_old_population

    enqueue_on_commit(forget_old_population, team.pk)


def population_forget_old(team: Team) -> int:
    """Delete the people (and so their contacts) of the team's extracts that are no longer current.
    Their PopulationExtract rows stay, as the record of what was uploaded when and by whom."""
    old = list(PopulationExtract.objects.filter(team=team, is_current=False, people__gt=0).values_list("pk", flat=True))
    for pk in old:
        with transaction.atomic():
            PopulationPerson.objects.filter(extract_id=pk)._raw_delete(connection.alias)
            PopulationExtract.objects.filter(pk=pk).update(people=0)
    return len(old)


def population_extract_create(
    *,
    content: bytes | Iterable[bytes],
    file_name: str,
    team: Team,
    by: User | None,
    background: bool | None = None,
) -> PopulationExtract:
    """Keep the uploaded file on disk and load it: now for a small file, on a worker for a large one."""
    stored = import_file_store([content] if isinstance(content, bytes) else content)
    try:
        with transaction.atomic():
            extract = PopulationExtract.objects.create(
                team=team,
                file_name=file_name[:255],
                stored_as=stored.name,
                checksum=stored.checksum,
                uploaded_by=by,
                rows_total=stored.rows,
            )
            in_background = extract.rows_total > BACKGROUND_POPULATION_ROWS if background is None else background
            if in_background:
                from .tasks import import_population

                transaction.on_commit(lambda: import_population.delay(extract.pk))
    except BaseException:
        if (path := PopulationExtract(stored_as=stored.name).stored_path) is not None:
            path.unlink(missing_ok=True)
        raise
    if not in_background:
        population_import(extract=extract)
    extract.refresh_from_db()
    return extract
