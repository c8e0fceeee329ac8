"""GP practices and PCNs from the NHS Organisation Data Service's files, and practice list sizes
from NHS England's "Patients registered at a GP practice" (ADR 0011).

The files, as published:
- the practices file, `epraccur.csv`: no header, 27 columns a line; we read the code (1), name (2),
  address lines (5-9), postcode (10), open and close dates (11, 12, YYYYMMDD), status (13: A, C, D
  or P), commissioner (15: the sub-ICB location) and prescribing setting (26: 4 is a GP practice);
- the PCN core-partner file, `epcncorepartnerdetails.csv` (the "PCN Core Partner Details" sheet of
  ePCN.xlsx): 11 columns a line, with or without its header row: practice code (1), PCN code (5)
  and name (6), and the practice's start and end in that PCN (9, 10);
- the list sizes, e.g. `gp-reg-pat-prac-all.csv` or `gp-reg-pat-prac-sing-age-all.csv`: a header
  naming ORG_CODE (CODE in older files), NUMBER_OF_PATIENTS and EXTRACT_DATE; a practice's total is
  its row with ORG_TYPE GP, SEX ALL and AGE ALL where the file has those columns.

Every load checks the whole file first and writes nothing if any line is wrong; a re-run of the
same files changes nothing; nothing is ever deleted (a closed practice is marked closed, a practice
that moved PCN keeps its earlier membership as history).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from .models import PCN, PCNMembership, Place, Practice
from .validators import LINE_BREAK

PRACTICE_COLUMNS = 27
PARTNER_COLUMNS = 11
GP_PRACTICE_SETTING = "4"
PRACTICE_CODE = re.compile(r"^[A-Z][0-9]{5}$")
PCN_CODE = re.compile(r"^U[0-9]{5}$")
SUB_ICB_CODE = re.compile(r"^[0-9A-Z]{3,5}$")
STATUSES = {choice.value for choice in Practice.Status}
# A whole file's mistakes are not worth reading past this many: the first ones show what is wrong.
MOST_PROBLEMS_SHOWN = 50
# One import at a time: two would each plan against the same rows.
ADVISORY_LOCK = 7_150_011


class ImportRejected(Exception):
    """A file with any problem loads nothing; `problems` says where, line by line."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.more = 0

    def add(self, where: str, message: str) -> None:
        if len(self.lines) < MOST_PROBLEMS_SHOWN:
            self.lines.append(f"{where}: {message}")
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.lines:
            more = [f"… and {self.more} more problem(s)."] if self.more else []
            raise ImportRejected(self.lines + more)


def file_lines(raw: bytes, label: str, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for each non-blank line of a CSV file, each physical line one record:
    a quote left open, or a value with a line break, is a mistake on its own line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.add(f"{label} line {line}", "is not UTF-8 text; save the file as CSV (comma delimited, UTF-8)")
        return
    if not text.strip():
        problems.add(label, "is empty")
        return
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        if "\x00" in line:
            problems.add(f"{label} line {number}", "contains a NUL character: it is not a text file")
            continue
        try:
            cells = next(csv.reader([line], strict=True))
        except csv.Error as error:
            problems.add(f"{label} line {number}", f"is not a CSV line ({error})")
            continue
        if any(LINE_BREAK.search(cell) for cell in cells):
            problems.add(f"{label} line {number}", "has a line break inside a value")
            continue
        yield number, [cell.strip() for cell in cells]


def ods_date(value: str) -> dt.date | None:
    """The ODS files' dates, YYYYMMDD (an export of the spreadsheet may give 2024-04-01 or
    01/04/2024); empty is None; anything else raises ValueError."""
    if not value:
        return None
    for pattern in ("%Y%m%d", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            day = dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
        if 1900 <= day.year < 2100:
            return day
    raise ValueError(value)


@dataclass(frozen=True)
class PracticeRow:
    line: int
    code: str
    name: str
    address: str
    postcode: str
    opened_on: dt.date | None
    closed_on: dt.date | None
    status: str


@dataclass(frozen=True)
class PartnerRow:
    line: int
    practice_code: str
    pcn_code: str
    pcn_name: str
    started_on: dt.date
    ended_on: dt.date | None


@dataclass
class PracticesFile:
    in_scope: dict[str, PracticeRow]
    every_code: set[str]  # every organisation in the file, GP practice or not, in the area or not


def read_practices(raw: bytes, *, area: set[str], known: set[str], problems: Problems) -> PracticesFile:
    """The GP practices (prescribing setting 4) of the area's sub-ICB locations, and any other GP
    practice we already hold, from an epraccur file."""
    label = "practices file"
    in_scope: dict[str, PracticeRow] = {}
    every_code: set[str] = set()
    for line, cells in file_lines(raw, label, problems):
        where = f"{label} line {line}"
        code = cells[0].upper()
        every_code.add(code)
        if len(cells) != PRACTICE_COLUMNS:
            problems.add(where, f"has {len(cells)} columns; the ODS practices file (epraccur) has {PRACTICE_COLUMNS}")
            continue
        if cells[25] != GP_PRACTICE_SETTING or not (cells[14].upper() in area or code in known):
            continue
        if not PRACTICE_CODE.match(code):
            problems.add(where, f"practice code {cells[0]!r} is not an ODS practice code (a letter and five digits)")
            continue
        if code in in_scope:
            problems.add(where, f"practice {code} is also on line {in_scope[code].line}")
            continue
        name = cells[1]
        address = ", ".join(part for part in cells[4:9] if part)
        postcode = cells[9].upper()
        try:
            opened_on = ods_date(cells[10])
        except ValueError:
            problems.add(where, f"open date {cells[10]!r} is not a date (YYYYMMDD)")
            continue
        try:
            closed_on = ods_date(cells[11])
        except ValueError:
            problems.add(where, f"close date {cells[11]!r} is not a date (YYYYMMDD)")
            continue
        status = cells[12].upper()
        if not name or len(name) > 160:
            problems.add(where, "the practice's name is empty or longer than 160 characters")
        elif len(address) > 250 or len(postcode) > 8:
            problems.add(where, "the address is longer than 250 characters or the postcode longer than 8")
        elif status not in STATUSES:
            problems.add(where, f"status {cells[12]!r} is not an ODS status (A, C, D or P)")
        elif opened_on and closed_on and closed_on < opened_on:
            problems.add(where, "the practice closes before it opens")
        else:
            in_scope[code] = PracticeRow(line, code, name, address, postcode, opened_on, closed_on, status)
    return PracticesFile(in_scope=in_scope, every_code=every_code)


def read_partners(raw: bytes, *, practices: PracticesFile, area: set[str], problems: Problems) -> dict[str, list[PartnerRow]]:
    """Each in-scope practice's PCN memberships from a PCN core-partner file. A practice of the
    area that the practices file lacks is a mistake, unless that file had mistakes of its own
    (its lines say what is wrong); another area's is not ours to judge (the two files are
    published a few days apart)."""
    practices_readable = not problems.lines
    label = "PCN file"
    memberships: dict[str, list[PartnerRow]] = {}
    seen: dict[tuple[str, str, dt.date], int] = {}
    for line, cells in file_lines(raw, label, problems):
        where = f"{label} line {line}"
        if cells and cells[0].lower() == "partner organisation code":
            continue  # the spreadsheet's header row
        if len(cells) != PARTNER_COLUMNS:
            problems.add(where, f"has {len(cells)} columns; the ODS PCN core-partner file has {PARTNER_COLUMNS}")
            continue
        practice_code, pcn_code, pcn_name = cells[0].upper(), cells[4].upper(), cells[5]
        if practice_code not in practices.every_code:
            if practices_readable and cells[2].upper() in area:
                problems.add(where, f"practice {cells[0]!r} is not in the practices file")
            continue
        if practice_code not in practices.in_scope:
            continue  # another area's practice, or not a GP practice
        if not PCN_CODE.match(pcn_code):
            problems.add(where, f"PCN code {cells[4]!r} is not an ODS PCN code (U and five digits)")
            continue
        if not pcn_name or len(pcn_name) > 120:
            problems.add(where, "the PCN's name is empty or longer than 120 characters")
            continue
        try:
            started_on = ods_date(cells[8])
            ended_on = ods_date(cells[9])
        except ValueError as error:
            problems.add(where, f"{str(error)!r} is not a date (YYYYMMDD)")
            continue
        if started_on is None:
            problems.add(where, "the practice's start in the PCN is missing")
            continue
        if ended_on and ended_on < started_on:
            problems.add(where, "the practice leaves the PCN before it joins")
            continue
        key = (practice_code, pcn_code, started_on)
        if key in seen:
            problems.add(where, f"the same membership is also on line {seen[key]}")
            continue
        seen[key] = line
        memberships.setdefault(practice_code, []).append(
            PartnerRow(line, practice_code, pcn_code, pcn_name, started_on, ended_on)
        )
    return memberships


def current_membership(rows: Iterable[PartnerRow], today: dt.date) -> PartnerRow | None:
    """The PCN a practice is in today: of the memberships that have started and not ended, the
    latest to start (ODS may let one end on the day the next begins)."""
    now = [row for row in rows if row.started_on <= today and (row.ended_on is None or row.ended_on >= today)]
    return max(now, key=lambda row: row.started_on, default=None)


@dataclass
class OdsReport:
    dry_run: bool
    area: list[str]
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_loaded: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)
    new_pcns: list[str] = field(default_factory=list)
    renamed_pcns: list[str] = field(default_factory=list)

    SECTIONS = (
        ("new", "new practices"),
        ("changed", "changed"),
        ("closed", "closed"),
        ("moved", "moved PCN"),
        ("unchanged", "unchanged"),
        ("not_loaded", "not loaded (closed, or in no PCN today)"),
        ("not_in_file", "ours but not in the file (left as they are)"),
        ("new_pcns", "new PCNs (assign each to a neighbourhood in the admin)"),
        ("renamed_pcns", "renamed PCNs"),
    )

    @property
    def counts(self) -> dict[str, int]:
        return {key: len(getattr(self, key)) for key, _ in self.SECTIONS}

    def summary(self) -> str:
        """"3 new, 1 changed, 1 closed, 1 moved, 12 unchanged", then any other kind that occurred."""
        counts = self.counts
        always = ["new", "changed", "closed", "moved", "unchanged"]
        parts = [f"{counts[key]} {key}" for key in always]
        parts += [f"{counts[key]} {label}" for key, label in self.SECTIONS if key not in always and counts[key]]
        return ", ".join(parts)

    def sections(self) -> list[tuple[str, list[str]]]:
        """The lines worth reading, by kind; the unchanged are only counted."""
        return [(label, getattr(self, key)) for key, label in self.SECTIONS if key != "unchanged" and getattr(self, key)]


def area_codes(given: Iterable[str] | None = None) -> list[str]:
    """The sub-ICB locations whose practices are ours: those given (the command's --sub-icb), else
    those stored on the places."""
    codes = {code.strip().upper() for code in given or [] if code.strip()}
    if not codes:
        codes = {code for place in Place.objects.all() for code in place.ods_sub_icb_codes}
    return sorted(codes)


def import_ods(
    practices_file: bytes,
    pcn_file: bytes,
    *,
    sub_icb_codes: Iterable[str] | None = None,
    dry_run: bool = False,
) -> OdsReport:
    """Load the area's GP practices and their PCNs, all or nothing. Raises ImportRejected with every
    problem by line; with `dry_run`, says what would change and writes nothing."""
    today = timezone.localdate()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
        area = area_codes(sub_icb_codes)
        problems = Problems()
        if not area:
            problems.add("area", "no sub-ICB location codes: set them on the place in the admin, or give --sub-icb")
        elif bad := [code for code in area if not SUB_ICB_CODE.match(code)]:
            problems.add("area", f"{', '.join(bad)} is not a sub-ICB location code (like 15E)")
        problems.raise_any()

        practices = {p.ods_code: p for p in Practice.objects.select_related("pcn")}
        pcns = {pcn.ods_code: pcn for pcn in PCN.objects.all()}
        in_file = read_practices(practices_file, area=set(area), known=set(practices), problems=problems)
        partners = read_partners(pcn_file, practices=in_file, area=set(area), problems=problems)
        problems.raise_any()

        report = OdsReport(dry_run=dry_run, area=area)
        plan = _plan_pcns(partners, pcns, report, dry_run=dry_run)
        for code, row in sorted(in_file.in_scope.items()):
            _plan_practice(row, practices.get(code), partners.get(code, []), plan, report, today=today, dry_run=dry_run)
        report.not_in_file = [f"{p.ods_code} {p.name}" for code, p in sorted(practices.items()) if code not in in_file.every_code]
        if dry_run:
            transaction.set_rollback(True)
    return report


def _plan_pcns(partners: dict[str, list[PartnerRow]], pcns: dict[str, PCN], report: OdsReport, *, dry_run: bool) -> dict[str, PCN]:
    """Every PCN the memberships name, created (with no neighbourhood) or renamed as the file says:
    each named as in its latest membership."""
    latest: dict[str, PartnerRow] = {}
    for rows in partners.values():
        for row in rows:
            if row.pcn_code not in latest or row.started_on > latest[row.pcn_code].started_on:
                latest[row.pcn_code] = row
    for code, row in sorted(latest.items()):
        pcn = pcns.get(code)
        if pcn is None:
            report.new_pcns.append(f"{code} {row.pcn_name}")
            pcn = PCN(ods_code=code, name=row.pcn_name, neighbourhood=None)
            if not dry_run:
                pcn.save()
            pcns[code] = pcn
        elif pcn.name != row.pcn_name:
            report.renamed_pcns.append(f"{code} {pcn.name} → {row.pcn_name}")
            pcn.name = row.pcn_name
            if not dry_run:
                pcn.save(update_fields=["name"])
    return pcns


PRACTICE_FIELDS = ("name", "address", "postcode", "opened_on", "closed_on", "status")


def _plan_practice(
    row: PracticeRow,
    practice: Practice | None,
    memberships: list[PartnerRow],
    pcns: dict[str, PCN],
    report: OdsReport,
    *,
    today: dt.date,
    dry_run: bool,
) -> None:
    label = f"{row.code} {row.name}"
    current = current_membership(memberships, today)
    if practice is None:
        if row.status == Practice.Status.CLOSED:
            report.not_loaded.append(f"{label}: closed" + (f" on {row.closed_on:%d %b %Y}" if row.closed_on else ""))
            return
        if current is None:
            report.not_loaded.append(f"{label}: in no PCN on {today:%d %b %Y} in the PCN file")
            return
        report.new.append(f"{label}, {pcns[current.pcn_code]}")
        if not dry_run:
            practice = Practice.objects.create(ods_code=row.code, pcn=pcns[current.pcn_code], **{name: getattr(row, name) for name in PRACTICE_FIELDS})
            _save_memberships(practice, memberships, pcns, current=current, moved_from=None)
        return

    changes = [name for name in PRACTICE_FIELDS if getattr(practice, name) != getattr(row, name)]
    moved_from = practice.pcn if current and practice.pcn.ods_code != current.pcn_code else None
    history_changed = _membership_changes(practice, memberships, moved_from=moved_from)
    closed_now = "status" in changes and row.status == Practice.Status.CLOSED
    if closed_now:
        report.closed.append(f"{label}: closed on {row.closed_on:%d %b %Y}" if row.closed_on else label)
        changes = [name for name in changes if name not in {"status", "closed_on"}]
    if moved_from is not None:
        report.moved.append(f"{label}: from {moved_from} to {pcns[current.pcn_code]} on {current.started_on:%d %b %Y}")
    if changes:
        report.changed.append(f"{label}: {', '.join(name.replace('_', ' ') for name in changes)}")
    elif history_changed and not (moved_from or closed_now):
        report.changed.append(f"{label}: its PCN history")
    if not (changes or closed_now or moved_from or history_changed):
        report.unchanged.append(label)
    if dry_run:
        return
    update = [name for name in PRACTICE_FIELDS if getattr(practice, name) != getattr(row, name)]
    for name in update:
        setattr(practice, name, getattr(row, name))
    if moved_from is not None:
        practice.pcn = pcns[current.pcn_code]
        update.append("pcn")
    if update:
        practice.save(update_fields=update)
    if history_changed:
        _save_memberships(practice, memberships, pcns, current=current, moved_from=moved_from)


def _membership_changes(practice: Practice, rows: list[PartnerRow], *, moved_from: PCN | None) -> bool:
    """Whether saving the file's memberships would change the practice's history."""
    held = {(m.pcn.ods_code, m.started_on): m.ended_on for m in practice.pcn_memberships.select_related("pcn")}
    if any(held.get((row.pcn_code, row.started_on), "absent") != row.ended_on for row in rows):
        return True
    return moved_from is not None


def _save_memberships(
    practice: Practice, rows: list[PartnerRow], pcns: dict[str, PCN], *, current: PartnerRow | None, moved_from: PCN | None
) -> None:
    """The file's memberships as the practice's history; a practice that moved closes the
    membership it had (one we knew nothing of, typed in by hand, kept with no start)."""
    for row in rows:
        PCNMembership.objects.update_or_create(
            practice=practice, pcn=pcns[row.pcn_code], started_on=row.started_on, defaults={"ended_on": row.ended_on}
        )
    if moved_from is None or current is None:
        return
    left_on = current.started_on - dt.timedelta(days=1)
    earlier = practice.pcn_memberships.filter(pcn=moved_from, ended_on__isnull=True)
    if not earlier.exists() and not practice.pcn_memberships.filter(pcn=moved_from).exists():
        PCNMembership.objects.create(practice=practice, pcn=moved_from, started_on=None, ended_on=left_on)
        return
    for membership in earlier:
        membership.ended_on = left_on if membership.started_on is None or membership.started_on <= left_on else current.started_on
        membership.save(update_fields=["ended_on"])


# --- List sizes -------------------------------------------------------------------------------


@dataclass
class ListSizeReport:
    dry_run: bool
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    not_ours: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.updated)} practices updated, {self.unchanged} unchanged, "
            f"{self.not_ours} practices in the file that are not ours skipped"
        )


def list_size_date(value: str) -> dt.date:
    """EXTRACT_DATE as NHS England has published it: 01JUL2026, 2026-07-01, 01/07/2026 or 20260701."""
    for pattern in ("%d%b%Y", "%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"):
        try:
            day = dt.datetime.strptime(value.title() if pattern == "%d%b%Y" else value, pattern).date()
        except ValueError:
            continue
        if 2000 <= day.year < 2100:
            return day
    raise ValueError(value)


def import_list_sizes(raw: bytes, *, dry_run: bool = False) -> ListSizeReport:
    """Each practice's registered patients and the date they were counted, all or nothing."""
    label = "list-size file"
    problems = Problems()
    lines = file_lines(raw, label, problems)
    header_line = next(lines, None)
    totals: dict[str, tuple[int, dt.date, int]] = {}
    if header_line is not None:
        _, header = header_line
        names = [name.upper() for name in header]
        code_column = next((names.index(name) for name in ("ORG_CODE", "CODE", "PRACTICE_CODE") if name in names), None)
        missing = [name for name in ("NUMBER_OF_PATIENTS", "EXTRACT_DATE") if name not in names]
        if code_column is None or missing:
            problems.add(
                f"{label} line 1",
                "the header must name ORG_CODE, NUMBER_OF_PATIENTS and EXTRACT_DATE (NHS England's "
                "\"Patients registered at a GP practice\" CSV)",
            )
        else:
            filters = {names.index(name): wanted for name, wanted in (("ORG_TYPE", "GP"), ("TYPE", "GP"), ("SEX", "ALL"), ("AGE", "ALL")) if name in names}
            count_column, date_column = names.index("NUMBER_OF_PATIENTS"), names.index("EXTRACT_DATE")
            for line, cells in lines:
                where = f"{label} line {line}"
                if len(cells) != len(names):
                    problems.add(where, f"has {len(cells)} columns; the header has {len(names)}")
                    continue
                if any(cells[column].upper() != wanted for column, wanted in filters.items()):
                    continue
                code = cells[code_column].upper()
                if not PRACTICE_CODE.match(code):
                    problems.add(where, f"practice code {cells[code_column]!r} is not an ODS practice code")
                    continue
                if not cells[count_column].isdigit() or int(cells[count_column]) > 2_000_000:
                    problems.add(where, f"number of patients {cells[count_column]!r} is not a whole number")
                    continue
                try:
                    counted_on = list_size_date(cells[date_column])
                except ValueError:
                    problems.add(where, f"extract date {cells[date_column]!r} is not a date (like 01JUL2026)")
                    continue
                if code in totals:
                    problems.add(where, f"practice {code} is also on line {totals[code][2]}")
                    continue
                totals[code] = (int(cells[count_column]), counted_on, line)
            if not totals and not problems.lines:
                problems.add(label, "has no practice totals (rows with ORG_TYPE GP, SEX ALL and AGE ALL)")
    problems.raise_any()

    report = ListSizeReport(dry_run=dry_run)
    with transaction.atomic():
        practices = {p.ods_code: p for p in Practice.objects.select_for_update().filter(ods_code__in=totals)}
        report.not_ours = len(totals) - len(practices)
        for code, practice in sorted(practices.items()):
            size, counted_on, _ = totals[code]
            if (practice.list_size, practice.list_size_on) == (size, counted_on):
                report.unchanged += 1
                continue
            report.updated.append(f"{code} {practice.name}: {practice.list_size or 'none'} → {size:,} on {counted_on:%d %b %Y}")
            if not dry_run:
                practice.list_size, practice.list_size_on = size, counted_on
                practice.save(update_fields=["list_size", "list_size_on"])
    return report
