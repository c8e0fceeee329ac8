"""The KPI recompute: service use before and after each resident's start, feedback and the
process measures, written as one run and then made current in one step. Readers read the run's
figures as KpiValue rows: a view over the two tables written here, OutcomeSums (service use, in
progress and feedback, one row per unit, cohort and period) and ProcessValue (the process and
decision-closure figures), see docs/adr/0030-kpi-figures-a-view.md.

The heavy work is SQL, in a handful of statements whatever the number of residents:

1. `refresh_windows`: every resident's window (ResidentWindow) from caseload. Only new or
   changed rows are written; it returns the residents whose window changed.
2. Each resident's contacts in a complete window, by kind (ResidentUsage), read through the
   service-use table's covering index (resident_id, date) INCLUDE (kind). An incremental run
   (after an import) recounts only residents with new events or a changed window
   (`recount_usage`). A full run counts everyone (`count_everyone`) with CREATE TABLE AS, which
   PostgreSQL may run in parallel, into a temporary table that carries each window's cell and
   that step 3 reads instead of joining windows to counts; only usage rows whose counts changed
   are written.
3. `write_service_use_values`: ResidentWindow + the counts added up to every team, PCN,
   neighbourhood and place, per cohort month and for all months: the sums the change and its
   interval need, for every kind in one OutcomeSums row, and the feedback scores kept on the
   windows. The view works out each change and its interval (the formulas of kpis/statistics.py)
   as it is read.
4. `write_process_values`: from caseload and meetings, per team and place.
5. `write_closure_values`: whether discussions end in decisions and actions that get done.

No Python loop touches residents: Python passes dates and, for an incremental run, the ids of
the residents to recount.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from int_app.teams.models import PCN, Membership, Neighbourhood, Place, Practice, Team
from int_app.teams.roles import KEY_WORKER_ROLES, Role

from .matching import write_matched
from .models import (
    ALL_KINDS,
    OUTCOME_KINDS,
    Cohort,
    KpiRun,
    MatchedBalance,
    MatchedPair,
    MatchedValue,
    Measure,
    OutcomeSums,
    ProcessValue,
    ResidentUsage,
    ResidentWindow,
)
from .statistics import Z_95

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = tuple(ServiceUseEvent.Kind.values)
RUNS_KEPT = 3
RUN_SETTINGS = (
    "work_mem = '256MB'",
    "jit = off",
    "random_page_cost = 1.1",
    "min_parallel_table_scan_size = '256kB'",
    "min_parallel_index_scan_size = '64kB'",
    # The run's rows are worked out from the tables beside them and written in one transaction:
    # its commit need not wait for the disk. A crash in the instant after it would lose the run
    # whole (the previous one stays current, the next run writes it again), never half of it.
    "synchronous_commit = off",
)
# Any constant: it names "the KPI recompute" among PostgreSQL advisory locks.
RECOMPUTE_LOCK_KEY = 5_1100_2026

T = {
    "event": ServiceUseEvent._meta.db_table,
    "resident": Resident._meta.db_table,
    "window": ResidentWindow._meta.db_table,
    "usage": ResidentUsage._meta.db_table,
    "process": ProcessValue._meta.db_table,
    "outcome": OutcomeSums._meta.db_table,
    "team": Team._meta.db_table,
    "pcn": PCN._meta.db_table,
    "practice": Practice._meta.db_table,
    "neighbourhood": Neighbourhood._meta.db_table,
    "place": Place._meta.db_table,
    "membership": Membership._meta.db_table,
}

VALUE_COLUMNS = (
    "run_id, level, unit_id, unit_label, measure, kind, cohort, period, n, baseline, followup, "
    "baseline_sq, followup_sq, baseline_followup, value, pct_change, ci_low, ci_high, too_few"
)


def settings_key() -> str:
    """An incremental run builds on the previous run's counts only if these are unchanged."""
    return f"window_months={settings.KPI_WINDOW_MONTHS};kinds={','.join(KINDS)}"


# --- the run ------------------------------------------------------------------------------------


@contextmanager
def recompute_lock() -> Iterator[None]:
    """One recompute at a time (nightly beat, imports, the command): the next one waits, then
    counts again. A session lock, so a killed worker's lock goes with its connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [RECOMPUTE_LOCK_KEY])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RECOMPUTE_LOCK_KEY])
        except DatabaseError:
            # The connection died with the run: its lock went with it. Keep the run's own error.
            logger.warning("Could not release the KPI recompute lock; the connection is gone.")


def kpis_recompute(*, full: bool = True, as_of: datetime.date | None = None) -> KpiRun:
    """Compute every KPI into a new run and make it current. Idempotent: the same data gives
    the same rows. On any error the run is marked failed and the previous run stays current."""
    as_of = as_of or timezone.localdate()
    with recompute_lock():
        # Under the lock no other run is alive: a "running" one was killed part-way.
        KpiRun.objects.filter(status=KpiRun.Status.RUNNING).update(
            status=KpiRun.Status.FAILED, finished_at=timezone.now(), error="Stopped before it finished."
        )
        previous = KpiRun.objects.current()
        incremental = (
            not full
            and previous is not None
            and previous.settings_key == settings_key()
            and previous.service_use_watermark > 0
        )
        run = KpiRun.objects.create(
            as_of=as_of,
            window_months=settings.KPI_WINDOW_MONTHS,
            settings_key=settings_key(),
            mode=KpiRun.Mode.INCREMENTAL if incremental else KpiRun.Mode.FULL,
        )
        started = time.monotonic()
        try:
            with transaction.atomic():
                _compute_run(run, previous=previous if incremental else None)
                run.duration = datetime.timedelta(seconds=time.monotonic() - started)
                run.finished_at = timezone.now()
                make_current(run)
        except Exception as error:
            logger.exception("KPI run %s failed", run.pk)
            KpiRun.objects.filter(pk=run.pk).update(
                status=KpiRun.Status.FAILED,
                finished_at=timezone.now(),
                duration=datetime.timedelta(seconds=time.monotonic() - started),
                error=f"{type(error).__name__}: {error}"[:2000],
            )
            run.refresh_from_db()
            raise
    return run


def _compute_run(run: KpiRun, *, previous: KpiRun | None) -> None:
    with connection.cursor() as cursor:
        # Sorts and hashes of a city's residents fit in memory; compiling these one-off
        # statements (JIT) costs more than it saves; and the covering index is read in memory,
        # so a probe per window beats scanning every contact (random_page_cost for SSD/cache).
        # The windows table is narrow, so PostgreSQL's size thresholds would give the count one
        # parallel worker (none at 1x) where each worker probes a share of the windows: the two
        # min_parallel_* settings let it use what max_parallel_workers_per_gather allows.
        cursor.execute("; ".join(f"SET LOCAL {setting}" for setting in RUN_SETTINGS))
        # Events imported after this point are left to the run their import enqueues.
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {T['event']}")  # noqa: S608
        run.service_use_watermark = cursor.fetchone()[0]
        changed = refresh_windows(cursor, as_of=run.as_of, window_months=run.window_months, since=previous)
        if previous is None:
            # Counted (in parallel), kept, and added up from the counts just made.
            run.residents_recounted, service_use_rows = write_service_use_values(cursor, run, recount=True)
        else:
            # Residents with events loaded since the previous run. An import whose transaction
            # committed after that run read its watermark, with lower ids than events it had
            # already seen, is missed here; imports run one at a time, and the nightly full run
            # recounts everyone, so such a miss lasts a night at most.
            cursor.execute(
                f"SELECT DISTINCT resident_id FROM {T['event']} WHERE id > %s AND id <= %s",  # noqa: S608
                [previous.service_use_watermark, run.service_use_watermark],
            )
            touched = {row[0] for row in cursor.fetchall()} | set(changed)
            run.residents_recounted = recount_usage(cursor, resident_ids=sorted(touched))
            _, service_use_rows = write_service_use_values(cursor, run)
        run.rows = service_use_rows + write_process_values(cursor, run) + write_closure_values(cursor, run)
        # The matched comparison reads the windows, the residents' episodes and the population
        # extracts. An incremental run searches again only for residents whose inputs changed
        # (kpis/matching.py); its figures and balance are worked out afresh from the pairs.
        # Its rows are its own tables' (run.rows counts the KpiValue figures).
        write_matched(cursor, run)


def make_current(run: KpiRun) -> None:
    """Inside the run's transaction: readers see the old run until it commits, then the new."""
    KpiRun.objects.filter(is_current=True).exclude(pk=run.pk).update(is_current=False)
    run.status = KpiRun.Status.SUCCEEDED
    run.is_current = True
    run.save(
        update_fields=[
            "status", "is_current", "finished_at", "duration", "rows", "service_use_watermark", "residents_recounted",
            "residents_searched",
        ]
    )


def prune_old_runs(keep: int = RUNS_KEPT) -> int:
    """Older runs are only history: delete them and their values, keeping the newest `keep`
    that succeeded (the current one among them). A task of its own, off the recompute's path."""
    kept = list(KpiRun.objects.filter(status=KpiRun.Status.SUCCEEDED).values_list("pk", flat=True)[:keep])
    if len(kept) < keep:
        return 0
    old_runs = KpiRun.objects.filter(pk__lt=min(kept)).exclude(status=KpiRun.Status.RUNNING)
    with transaction.atomic():
        for model in (ProcessValue, OutcomeSums, MatchedPair, MatchedValue, MatchedBalance):
            model.objects.filter(run__in=old_runs).delete()
        deleted, _ = old_runs.delete()
    return deleted


# --- 1. windows ---------------------------------------------------------------------------------


def refresh_windows(cursor, *, as_of: datetime.date, window_months: int, since: KpiRun | None = None) -> list[int]:
    """Bring residents' windows up to date; return the residents whose window is new or changed
    (a start moved, a team changed, feedback given, or the follow-up completed).

    A full run looks at every resident. An incremental one, `since` the previous run, only at
    residents saved since it started and windows whose follow-up ended since its date: the
    journey's every move sets updated_at. What it cannot see (a practice moved to another PCN)
    the nightly full run puts right."""
    only_changed = (
        ""
        if since is None
        else f"""
            WHERE r.updated_at >= %(since)s
               OR r.id IN (SELECT resident_id FROM {T['window']}
                           WHERE followup_end > %(previous_as_of)s AND followup_end <= %(as_of)s)
        """  # noqa: S608
    )
    cursor.execute(
        f"""
        WITH source AS (
            SELECT r.id AS resident_id,
                   -- The intervention cohort is everyone whose intervention started; the rest
                   -- (referred, accepted and waiting, not accepted) are the comparator, from
                   -- their referral date.
                   CASE WHEN r.intervention_start IS NOT NULL THEN %(intervention)s ELSE %(comparator)s END AS cohort,
                   coalesce(r.intervention_start, r.referral_date) AS start,
                   r.team_id, pr.pcn_id, t.neighbourhood_id, nb.place_id, r.feedback_score
            FROM {T['resident']} r
            JOIN {T['practice']} pr ON pr.id = r.practice_id
            JOIN {T['team']} t ON t.id = r.team_id
            JOIN {T['neighbourhood']} nb ON nb.id = t.neighbourhood_id
            {only_changed}
        ),
        bounded AS (
            SELECT source.*,
                   (start - make_interval(months => %(months)s))::date AS baseline_start,
                   (start + make_interval(months => %(months)s))::date AS followup_end,
                   date_trunc('month', start)::date AS cohort_month
            FROM source
        ),
        changed AS (
            -- Compared in one hash join first, so an ordinary day writes only the few windows
            -- that changed instead of probing the table once per resident.
            SELECT b.*, b.followup_end <= %(as_of)s AS complete
            FROM bounded b
            LEFT JOIN {T['window']} w ON w.resident_id = b.resident_id
            WHERE w.resident_id IS NULL
               OR (w.cohort, w.start, w.followup_end, w.complete, w.team_id, w.pcn_id, w.neighbourhood_id,
                   w.place_id, w.feedback_score)
                  IS DISTINCT FROM
                  (b.cohort, b.start, b.followup_end, b.followup_end <= %(as_of)s, b.team_id, b.pcn_id,
                   b.neighbourhood_id, b.place_id, b.feedback_score)
        )
        INSERT INTO {T['window']} AS w
            (resident_id, cohort, start, baseline_start, followup_end, cohort_month, complete,
             team_id, pcn_id, neighbourhood_id, place_id, feedback_score)
        SELECT resident_id, cohort, start, baseline_start, followup_end, cohort_month, complete,
               team_id, pcn_id, neighbourhood_id, place_id, feedback_score
        FROM changed
        ON CONFLICT (resident_id) DO UPDATE SET
            cohort = EXCLUDED.cohort, start = EXCLUDED.start, baseline_start = EXCLUDED.baseline_start,
            followup_end = EXCLUDED.followup_end, cohort_month = EXCLUDED.cohort_month,
            complete = EXCLUDED.complete, team_id = EXCLUDED.team_id, pcn_id = EXCLUDED.pcn_id,
            neighbourhood_id = EXCLUDED.neighbourhood_id, place_id = EXCLUDED.place_id,
            feedback_score = EXCLUDED.feedback_score
        RETURNING w.resident_id
        """,  # noqa: S608 - table names are ours
        {
            "intervention": Cohort.INTERVENTION,
            "comparator": Cohort.COMPARATOR,
            "months": window_months,
            "as_of": as_of,
            "since": since.started_at if since else None,
            "previous_as_of": since.as_of if since else None,
        },
    )
    changed = [row[0] for row in cursor.fetchall()]
    if since is not None:
        return changed
    # Residents deleted outside the ORM (these tables keep no database foreign key). Their counts
    # go in the full recount, which keeps only the counts of complete windows.
    cursor.execute(
        f"DELETE FROM {T['window']} k WHERE NOT EXISTS (SELECT 1 FROM {T['resident']} r WHERE r.id = k.resident_id)"  # noqa: S608
    )
    return changed


# --- 2. usage -----------------------------------------------------------------------------------


USAGE_COLUMNS = ("baseline_total", "followup_total") + tuple(
    ResidentUsage.column(side, kind) for kind in KINDS for side in ("baseline", "followup")
)


# What a full run's counts carry of each window besides, so the roll-up needs no second join.
WINDOW_CELL = ("cohort", "team_id", "pcn_id", "neighbourhood_id", "place_id", "cohort_month", "feedback_score")


# Both sides of a window are counted in one sum: a contact before the start adds 1, one after it
# adds 2^30, so the sum holds the baseline count in its low 30 bits and the follow-up count above
# them. Exact while a resident has fewer than 2^30 (a billion) contacts of one kind before their
# start; a sum of integers runs in bigint, which leaves the follow-up count 33 bits.
SIDE_SHIFT = 30
BOTH_SIDES = f"CASE WHEN e.date < w.start THEN 1 WHEN e.date >= w.start THEN {1 << SIDE_SHIFT} END"


def _sides(both: str) -> tuple[str, str]:
    """The baseline and follow-up counts out of a sum of BOTH_SIDES (NULL when nothing was summed)."""
    both = f"coalesce({both}, 0)"
    return f"({both} & {(1 << SIDE_SHIFT) - 1})::int", f"({both} >> {SIDE_SHIFT})::int"


def _usage_select(where: str, *, every_window: bool = False) -> str:
    # Each aggregate is tested on every one of the millions of contacts read: a sum per kind that
    # carries both sides (9 aggregates) takes about 30 % less CPU than a count per side and kind
    # (18), each comparing the kind and then the date. (As the table holds them, integer, so that a
    # roll-up reading them here or there adds the same way.)
    sums = [f"sum({BOTH_SIDES})"] + [f"sum({BOTH_SIDES}) FILTER (WHERE e.kind = '{kind}')" for kind in KINDS]
    counts = [count for both in sums for count in _sides(both)]
    counts = [f"{count} AS {column}" for count, column in zip(counts, USAGE_COLUMNS, strict=True)]
    # A resident with no contacts in the window gets no row: the roll-up counts them as zeros.
    # With `every_window` they get a row of zeros, and the row carries the window's cell.
    # The join is an index-only scan of (resident_id, date) INCLUDE (kind) per window.
    cell = "".join(f", w.{column}" for column in WINDOW_CELL) if every_window else ""
    return f"""
        SELECT w.resident_id{cell}, {", ".join(counts)}
        FROM {T['window']} w
        {"LEFT JOIN" if every_window else "JOIN"} {T['event']} e
          ON e.resident_id = w.resident_id AND e.date >= w.baseline_start AND e.date < w.followup_end
        WHERE w.complete {where}
        GROUP BY w.resident_id
    """  # noqa: S608


def recount_usage(cursor, *, resident_ids: list[int] | None) -> int:
    """Count contacts in each complete window, for everyone (None) or for these residents. (A
    full run counts everyone inside write_service_use_values(recount=True) instead.)"""
    columns = f"(resident_id, {', '.join(USAGE_COLUMNS)})"
    if resident_ids is None:
        cursor.execute(f"TRUNCATE {T['usage']}")
        cursor.execute(f"INSERT INTO {T['usage']} {columns} {_usage_select('')}")  # noqa: S608
        cursor.execute(f"SELECT count(*) FROM {T['window']} WHERE complete")  # noqa: S608
        return cursor.fetchone()[0]
    if not resident_ids:
        return 0
    cursor.execute(f"DELETE FROM {T['usage']} WHERE resident_id = ANY(%s)", [resident_ids])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {T['usage']} {columns} {_usage_select('AND w.resident_id = ANY(%s)')}",  # noqa: S608
        [resident_ids],
    )
    return len(resident_ids)


# --- 3. service-use values ----------------------------------------------------------------------


def standard_error_sql(n: str, b: str, bb: str, ff: str, bf: str, ratio: str) -> str:
    """kpis/statistics.ratio_standard_error in SQL: the cluster-robust standard error of F / B."""
    return (
        f"CASE WHEN {n} > 1 AND {b} > 0 THEN sqrt(({n})::float8 / ({n} - 1) * "
        f"greatest(({ff}) - 2 * {ratio} * ({bf}) + {ratio} * {ratio} * ({bb}), 0)) / ({b}) END"
    )


def interval_sql(ratio: str, se: str) -> dict[str, str]:
    """kpis/statistics.change_with_interval in SQL: percent change and its 95 % interval, on the
    log scale (the plain scale when there are no follow-up contacts at all)."""

    def bound(sign: str) -> str:
        # exp(ln R ± z·se/R) written as R·exp(±z·se/R): the same number, one logarithm fewer.
        return (
            f"CASE WHEN {se} IS NULL THEN NULL WHEN {ratio} > 0 "
            f"THEN 100 * ({ratio} * exp({sign}{Z_95} * {se} / {ratio}) - 1) "
            f"ELSE 100 * ({ratio} {sign} {Z_95} * {se} - 1) END"
        )

    return {"pct": f"100 * ({ratio} - 1)", "low": bound("-"), "high": bound("+")}


def label_joins(alias: str) -> str:
    """Each unit's name, joined on the rows of `alias` (which have level and unit_id): one hash
    join on (level, unit_id) against every unit's name, rather than a join per level."""
    return f"""
        LEFT JOIN (
            SELECT 'team' AS level, id AS unit_id, name::text AS label FROM {T['team']}
            UNION ALL SELECT 'pcn', id, name || ' (' || ods_code || ')' FROM {T['pcn']}
            UNION ALL SELECT 'neighbourhood', id, name FROM {T['neighbourhood']}
            UNION ALL SELECT 'place', id, name FROM {T['place']}
        ) unit_names ON unit_names.level = {alias}.level AND unit_names.unit_id = {alias}.unit_id
    """  # noqa: S608


LABEL = "unit_names.label"
# Every level a resident's window belongs to: a PCN lies in one neighbourhood (one team) and
# one place, so a cell keyed by PCN adds up to all four levels without double counting.
LEVELS_OF_CELL = """
    CROSS JOIN LATERAL (VALUES ('team', c.team_id), ('pcn', c.pcn_id),
                               ('neighbourhood', c.neighbourhood_id), ('place', c.place_id)) l(level, unit_id)
"""


FEEDBACK_SCORES = range(1, 6)


COUNTS_TABLE = "kpi_run_counts"


def count_everyone(cursor) -> int:
    """A full run's counts, everyone's, into a temporary table (COUNTS_TABLE, gone at commit),
    and the usage table brought in line with them.

    CREATE TABLE AS is the one way to write a query's result that PostgreSQL may run in parallel
    (an INSERT … SELECT never is): the count reads millions of contacts, and on two cores two
    processes read them in about half the time. Only usage rows whose counts changed are
    written: a night with few new contacts rewrites few rows, not every resident's. Returns how
    many complete windows were counted."""
    columns = ", ".join(USAGE_COLUMNS)
    stored = ", ".join(f"u.{column}" for column in USAGE_COLUMNS)
    counted = ", ".join(f"c.{column}" for column in USAGE_COLUMNS)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in USAGE_COLUMNS)
    cursor.execute(f"DROP TABLE IF EXISTS {COUNTS_TABLE}")
    cursor.execute(f"CREATE TEMPORARY TABLE {COUNTS_TABLE} ON COMMIT DROP AS {_usage_select('', every_window=True)}")
    windows_counted = cursor.rowcount  # a row for every complete window
    # The usage table keeps only windows with contacts in them. One pass over the counts and the
    # stored rows (a full join) finds the few that differ: rows to delete (a window no longer
    # complete, no longer there, or without contacts now) and rows to write (new or changed).
    contacts = "c.baseline_total + c.followup_total > 0"
    cursor.execute(
        f"""
        WITH differing AS MATERIALIZED (
            SELECT c.resident_id AS counted_id, u.resident_id AS stored_id, coalesce({contacts}, FALSE) AS has_contacts,
                   {counted}
            FROM {COUNTS_TABLE} c FULL JOIN {T['usage']} u ON u.resident_id = c.resident_id
            WHERE c.resident_id IS NULL OR u.resident_id IS NULL OR NOT ({contacts})
               OR ({stored}) IS DISTINCT FROM ({counted})
        ),
        gone AS (
            DELETE FROM {T['usage']} u
            USING differing d
            WHERE u.resident_id = d.stored_id AND NOT d.has_contacts
        )
        INSERT INTO {T['usage']} (resident_id, {columns})
        SELECT d.counted_id, {", ".join(f"d.{column}" for column in USAGE_COLUMNS)}
        FROM differing d
        WHERE d.has_contacts
        ON CONFLICT (resident_id) DO UPDATE SET {updates}
        """  # noqa: S608
    )
    return windows_counted


def write_service_use_values(cursor, run: KpiRun, *, recount: bool = False) -> tuple[int, int]:
    """Contacts before and after, residents counted and in progress, and feedback: one pass
    over the windows and their counts, into one OutcomeSums row per unit, cohort and period
    (KpiValue spreads each into its figures). With `recount` (a full run), everyone's contacts
    are counted first (count_everyone), and the roll-up reads those counts rather than the table.
    Returns the windows counted (0 without `recount`) and the figures written (KpiValue rows)."""
    # Sums of whole numbers run in float8: exact up to 2^53 (9 × 10^15), far beyond any count
    # here, and several times faster than the numeric that sum(bigint) would accumulate in.
    # A full run reads its counts, which carry each window's cell (count_everyone), and the
    # windows in progress; an incremental one the windows and the usage table.
    counted = "w" if recount else "u"
    cell_sums = []
    for kind in OUTCOME_KINDS:
        b, f = f"{counted}.{ResidentUsage.column('baseline', kind)}", f"{counted}.{ResidentUsage.column('followup', kind)}"
        cell_sums += [
            f"coalesce(sum({b}), 0) AS b_{kind}",
            f"coalesce(sum({f}), 0) AS f_{kind}",
            f"coalesce(sum({b}::float8 * {b}), 0) AS bb_{kind}",
            f"coalesce(sum({f}::float8 * {f}), 0) AS ff_{kind}",
            f"coalesce(sum({b}::float8 * {f}), 0) AS bf_{kind}",
        ]
    # Feedback is given at step-down, so only supported residents have it.
    cell_sums += [
        f"count(*) FILTER (WHERE w.cohort = '{Cohort.INTERVENTION}' AND w.feedback_score = {score}) AS score_{score}"
        for score in FEEDBACK_SCORES
    ]
    unit_sums = [
        f"sum(c.{prefix}_{kind}::float8)::int8 AS {prefix}_{kind}" for kind in OUTCOME_KINDS for prefix in ("b", "f", "bb", "ff", "bf")
    ]
    unit_sums += [f"sum(c.score_{score}::float8)::int AS score_{score}" for score in FEEDBACK_SCORES]
    arrays = ", ".join(
        f"ARRAY[{', '.join(f'u.{prefix}_{kind}' for kind in OUTCOME_KINDS)}]" for prefix in ("b", "f", "bb", "ff", "bf")
    )
    scores = f"ARRAY[{', '.join(f'u.score_{score}' for score in FEEDBACK_SCORES)}]"
    # The figures KpiValue shows of a row (none about nobody): every kind when anyone's window is
    # complete, in progress, feedback, and each score somebody gave.
    figures = " + ".join(
        [
            f"{len(OUTCOME_KINDS)} * (o.n > 0)::int",
            "(o.in_progress > 0)::int",
            f"(({' + '.join(f'o.feedback_scores[{score}]' for score in FEEDBACK_SCORES)}) > 0)::int",
            *(f"(o.feedback_scores[{score}] > 0)::int" for score in FEEDBACK_SCORES),
        ]
    )
    windows_counted = count_everyone(cursor) if recount else 0
    if recount:
        cell = ", ".join(WINDOW_CELL)
        windows = f"""(
            SELECT {cell}, TRUE AS complete, {", ".join(USAGE_COLUMNS)} FROM {COUNTS_TABLE}
            UNION ALL
            SELECT {cell}, FALSE, {", ".join("NULL::int" for _ in USAGE_COLUMNS)} FROM {T['window']} WHERE NOT complete
        ) w"""  # noqa: S608
    else:
        windows = f"{T['window']} w LEFT JOIN {T['usage']} u ON u.resident_id = w.resident_id AND w.complete"
    cursor.execute(
        f"""
        WITH cells AS (
            -- Stage 1: windows and their counts added up per cohort, PCN and cohort month. The
            -- squares are per resident, so this is the last step that sees residents.
            SELECT w.cohort, w.team_id, w.pcn_id, w.neighbourhood_id, w.place_id, w.cohort_month,
                   count(*) FILTER (WHERE NOT w.complete) AS in_progress,
                   count(*) FILTER (WHERE w.complete) AS n,
                   {', '.join(cell_sums)}
            FROM {windows}
            GROUP BY w.cohort, w.team_id, w.pcn_id, w.neighbourhood_id, w.place_id, w.cohort_month
        ),
        units AS (
            -- Stage 2: the cells added up to every level, per cohort month and for all months
            -- (cohort_month is NULL in the second grouping set), a few thousand rows, named.
            SELECT sums.*, {LABEL} AS unit_label
            FROM (
                SELECT c.cohort, l.level, l.unit_id, c.cohort_month,
                       sum(c.in_progress::float8)::int AS in_progress, sum(c.n::float8)::int AS n,
                       {', '.join(unit_sums)}
                FROM cells c
                {LEVELS_OF_CELL}
                GROUP BY GROUPING SETS ((c.cohort, l.level, l.unit_id, c.cohort_month), (c.cohort, l.level, l.unit_id))
            ) sums
            {label_joins("sums")}
        ),
        written AS (
            -- One row per unit, cohort and period; the change and its interval are worked out
            -- when KpiValue reads it.
            INSERT INTO {T['outcome']} AS o
                (run_id, level, unit_id, unit_label, cohort, period, n, in_progress,
                 baseline, followup, baseline_sq, followup_sq, baseline_followup, feedback_scores, min_residents)
            SELECT %(run)s, u.level, u.unit_id, u.unit_label, u.cohort, u.cohort_month, u.n, u.in_progress,
                   {arrays}, {scores}, %(min_residents)s
            FROM units u
            RETURNING {figures} AS figures
        )
        SELECT coalesce(sum(figures), 0) FROM written
        """,  # noqa: S608
        {"run": run.pk, "min_residents": settings.KPI_MIN_RESIDENTS},
    )
    return windows_counted, cursor.fetchone()[0]


def figures_view_sql(kinds: tuple[str, ...] = OUTCOME_KINDS) -> str:
    """The view KpiValue reads (made by migration; make it again by migration when the kinds or
    these formulas change): ProcessValue's rows as they are, and each OutcomeSums row spread into
    its figures, one per kind of contact, in progress, feedback and each feedback score, with each
    change and its interval worked out as the recompute used to store them (kpis/statistics.py in
    SQL). A figure about nobody (n = 0) is not there.

    A branch of a UNION ALL per measure, each naming its measure as a constant, so PostgreSQL
    leaves out the branches a reader's filter on the measure rules out (and, by the tables' level
    constraints, on the level); the kinds and the scores are the arrays unnested, so the view
    stays small to plan. An interval is worked out only where a reader asks for it."""
    # Ids unique across both tables: a process row's id doubled, an outcome row's odd.
    stride = len(kinds) + 2 + len(FEEDBACK_SCORES)
    kind_names = "ARRAY[" + ", ".join(f"'{kind}'" for kind in kinds) + "]::text[]"
    zeros = "0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint"
    no_change = "NULL::float8, NULL::float8, NULL::float8"
    feedback_n = "(" + " + ".join(f"o.feedback_scores[{score}]" for score in FEEDBACK_SCORES) + ")"
    feedback_total = " + ".join(f"{score} * o.feedback_scores[{score}]" for score in FEEDBACK_SCORES)
    stats = interval_sql("r.ratio", "s.se")

    def outcome_row(position: str, measure: str, kind: str) -> str:
        return (
            f"(o.id * {stride} + {position}) * 2 + 1, o.run_id, o.level::text, o.unit_id, o.unit_label::text, "
            f"'{measure}'::text, {kind}, o.cohort::text, o.period"
        )

    return f"""
        SELECT p.id * 2 AS id, p.run_id, p.level::text AS level, p.unit_id, p.unit_label::text AS unit_label,
               p.measure::text AS measure, p.kind::text AS kind, p.cohort::text AS cohort, p.period, p.n,
               p.baseline, p.followup, p.baseline_sq, p.followup_sq, p.baseline_followup, p.value, p.pct_change,
               p.ci_low, p.ci_high, p.too_few, p.residents
        FROM {T['process']} p
        UNION ALL
        SELECT {outcome_row("k.position - 1", Measure.SERVICE_USE, "k.kind")}, o.n, k.b, k.f, k.bb, k.ff, k.bf,
               NULL::float8, {stats['pct']}, {stats['low']}, {stats['high']}, o.n < o.min_residents, NULL::int
        FROM {T['outcome']} o
        CROSS JOIN LATERAL unnest({kind_names}, o.baseline, o.followup, o.baseline_sq, o.followup_sq, o.baseline_followup)
            WITH ORDINALITY k(kind, b, f, bb, ff, bf, position)
        -- The ratio where there were contacts before, then its standard error.
        CROSS JOIN LATERAL (SELECT k.f::float8 / nullif(k.b, 0) AS ratio) r
        CROSS JOIN LATERAL (
            SELECT CASE WHEN r.ratio IS NOT NULL THEN {standard_error_sql('o.n', 'k.b', 'k.bb', 'k.ff', 'k.bf', 'r.ratio')} END AS se
        ) s
        WHERE o.n > 0
        UNION ALL
        SELECT {outcome_row(str(len(kinds)), Measure.IN_PROGRESS, f"'{ALL_KINDS}'::text")}, o.in_progress, {zeros},
               NULL::float8, {no_change}, FALSE, NULL::int
        FROM {T['outcome']} o
        WHERE o.in_progress > 0
        UNION ALL
        SELECT {outcome_row(str(len(kinds) + 1), Measure.FEEDBACK, f"'{ALL_KINDS}'::text")}, {feedback_n}, {zeros},
               ({feedback_total})::float8 / {feedback_n}, {no_change}, {feedback_n} < o.min_residents, NULL::int
        FROM {T['outcome']} o
        WHERE {feedback_n} > 0
        UNION ALL
        SELECT {outcome_row(f"{len(kinds) + 1} + k.score", Measure.FEEDBACK_SCORE, "k.score::text")}, k.residents,
               {zeros}, NULL::float8, {no_change}, FALSE, NULL::int
        FROM {T['outcome']} o
        CROSS JOIN LATERAL unnest(o.feedback_scores) WITH ORDINALITY k(residents, score)
        WHERE k.residents > 0
    """  # noqa: S608


# --- 4. process -----------------------------------------------------------------------------------


def write_process_values(cursor, run: KpiRun) -> int:
    """How each team works, over the KPI_PROCESS_WEEKS before the run's date (and, for
    caseload and overdue actions, on that date). By team and by place: meetings belong to a team."""
    from meetings.models import Action, AgendaItem, Attendance, Meeting

    weeks = settings.KPI_PROCESS_WEEKS
    tables = {
        "meeting": Meeting._meta.db_table,
        "item": AgendaItem._meta.db_table,
        "attendance": Attendance._meta.db_table,
        "action": Action._meta.db_table,
    }
    cursor.execute(
        f"""
        WITH teams AS (
            SELECT t.id AS team_id, nb.place_id
            FROM {T['team']} t JOIN {T['neighbourhood']} nb ON nb.id = t.neighbourhood_id
        ),
        referrals AS (
            SELECT team_id, count(*) AS referrals
            FROM {T['resident']}
            WHERE referral_date >= %(since)s AND referral_date < %(as_of)s
            GROUP BY team_id
        ),
        first_discussion AS (
            -- Each resident's first discussion, whichever meeting it was in.
            SELECT i.resident_id, min((m.starts_at AT TIME ZONE %(tz)s)::date) AS day
            FROM {tables['item']} i JOIN {tables['meeting']} m ON m.id = i.meeting_id
            WHERE i.outcome = %(discussed)s
            GROUP BY i.resident_id
        ),
        waits AS (
            SELECT r.team_id, fd.day - r.referral_date AS days
            FROM first_discussion fd JOIN {T['resident']} r ON r.id = fd.resident_id
            WHERE fd.day >= %(since)s AND fd.day < %(as_of)s
        ),
        caseloads AS (
            SELECT team_id, count(*) AS active FROM {T['resident']} WHERE status = %(active)s GROUP BY team_id
        ),
        key_workers AS (
            SELECT team_id, count(*) AS key_workers FROM {T['membership']} WHERE role = ANY(%(key_worker_roles)s) GROUP BY team_id
        ),
        actions AS (
            SELECT r.team_id,
                   count(*) FILTER (WHERE a.due_date >= %(since)s AND a.due_date < %(as_of)s
                                    AND a.status <> %(cancelled)s) AS due,
                   count(*) FILTER (WHERE a.due_date >= %(since)s AND a.due_date < %(as_of)s
                                    AND a.status = %(done)s
                                    AND (a.completed_at AT TIME ZONE %(tz)s)::date <= a.due_date) AS on_time,
                   count(*) FILTER (WHERE a.status = ANY(%(open_statuses)s) AND a.due_date < %(as_of)s) AS overdue
            FROM {tables['action']} a JOIN {T['resident']} r ON r.id = a.resident_id
            GROUP BY r.team_id
        ),
        held_meetings AS (
            SELECT m.team_id,
                   EXISTS (SELECT 1 FROM {tables['attendance']} at
                           WHERE at.meeting_id = m.id AND at.role = %(gp)s AND at.status = ANY(%(attended)s)) AS with_gp,
                   (SELECT count(*) FROM {tables['item']} i
                    WHERE i.meeting_id = m.id AND i.outcome = %(discussed)s) AS discussed
            FROM {tables['meeting']} m
            WHERE m.status = %(held)s AND (m.starts_at AT TIME ZONE %(tz)s)::date >= %(since)s
              AND (m.starts_at AT TIME ZONE %(tz)s)::date < %(as_of)s
        ),
        meetings_held AS (
            SELECT team_id, count(*) AS held, count(*) FILTER (WHERE with_gp) AS with_gp, sum(discussed) AS discussed
            FROM held_meetings
            GROUP BY team_id
        ),
        by_team AS (
            SELECT t.team_id, t.place_id,
                   coalesce(rf.referrals, 0) AS referrals, coalesce(c.active, 0) AS active,
                   coalesce(k.key_workers, 0) AS key_workers, coalesce(a.due, 0) AS due,
                   coalesce(a.on_time, 0) AS on_time, coalesce(a.overdue, 0) AS overdue,
                   coalesce(mh.held, 0) AS held, coalesce(mh.with_gp, 0) AS with_gp,
                   coalesce(mh.discussed, 0) AS discussed
            FROM teams t
            LEFT JOIN referrals rf ON rf.team_id = t.team_id
            LEFT JOIN caseloads c ON c.team_id = t.team_id
            LEFT JOIN key_workers k ON k.team_id = t.team_id
            LEFT JOIN actions a ON a.team_id = t.team_id
            LEFT JOIN meetings_held mh ON mh.team_id = t.team_id
        ),
        totals AS (
            SELECT CASE WHEN grouping(team_id) = 0 THEN 'team' ELSE 'place' END AS level,
                   coalesce(team_id, place_id) AS unit_id,
                   sum(referrals) AS referrals, sum(active) AS active, sum(key_workers) AS key_workers,
                   sum(due) AS due, sum(on_time) AS on_time, sum(overdue) AS overdue,
                   sum(held) AS held, sum(with_gp) AS with_gp, sum(discussed) AS discussed
            FROM by_team
            GROUP BY GROUPING SETS ((team_id), (place_id))
        ),
        medians AS (
            SELECT CASE WHEN grouping(t.team_id) = 0 THEN 'team' ELSE 'place' END AS level,
                   coalesce(t.team_id, t.place_id) AS unit_id,
                   count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.days) AS median
            FROM waits w JOIN teams t ON t.team_id = w.team_id
            GROUP BY GROUPING SETS ((t.team_id), (t.place_id))
        ),
        figures AS (
            SELECT s.level, s.unit_id, f.measure, f.n, f.value
            FROM totals s
            CROSS JOIN LATERAL (VALUES
                (%(m_referrals)s, s.referrals, s.referrals::float8 / %(weeks)s),
                (%(m_caseload)s, s.key_workers, s.active::float8 / nullif(s.key_workers, 0)),
                (%(m_on_time)s, s.due, 100 * s.on_time::float8 / nullif(s.due, 0)),
                (%(m_overdue)s, s.overdue, s.overdue::float8),
                (%(m_gp)s, s.held, 100 * s.with_gp::float8 / nullif(s.held, 0)),
                (%(m_cases)s, s.held, s.discussed::float8 / nullif(s.held, 0))
            ) f(measure, n, value)
            UNION ALL
            SELECT level, unit_id, %(m_days)s, n, median FROM medians
        )
        INSERT INTO {T['process']} ({VALUE_COLUMNS})
        SELECT %(run)s, u.level, u.unit_id, {LABEL}, u.measure, %(all)s, '', NULL,
               u.n, 0, 0, 0, 0, 0, u.value, NULL, NULL, NULL, FALSE
        FROM figures u
        {label_joins("u")}
        """,  # noqa: S608
        {
            "run": run.pk,
            "all": ALL_KINDS,
            "since": run.as_of - datetime.timedelta(weeks=weeks),
            "as_of": run.as_of,
            "weeks": weeks,
            "tz": settings.TIME_ZONE,
            "discussed": AgendaItem.Outcome.DISCUSSED,
            "active": Resident.Status.ACTIVE,
            "key_worker_roles": sorted(KEY_WORKER_ROLES),
            "cancelled": Action.Status.CANCELLED,
            "done": Action.Status.DONE,
            "open_statuses": Action.Status.open_values(),
            "held": Meeting.Status.HELD,
            "gp": Role.GP,
            # A deputy sent by the GP covers the clinical sign-off the meeting needs.
            "attended": [Attendance.Status.PRESENT, Attendance.Status.DEPUTY],
            "m_referrals": Measure.REFERRALS_PER_WEEK,
            "m_caseload": Measure.CASELOAD_PER_KEY_WORKER,
            "m_on_time": Measure.ACTIONS_ON_TIME,
            "m_overdue": Measure.OVERDUE_ACTIONS,
            "m_gp": Measure.GP_ATTENDANCE,
            "m_cases": Measure.CASES_PER_MEETING,
            "m_days": Measure.DAYS_TO_FIRST_DISCUSSION,
        },
    )
    return cursor.rowcount


# --- 5. decision closure --------------------------------------------------------------------------


def write_closure_values(cursor, run: KpiRun) -> int:
    """Whether discussions end in something done, over the KPI_PROCESS_WEEKS before the run's date,
    by team and by place (docs/adr/0017-decision-closure.md):

    - discussions ending with a decision or action: of the residents discussed at meetings held
      in those weeks, the share whose discussion recorded at least one decision or action;
    - decisions whose actions were all done by their due date: of the decisions whose last action
      (cancelled ones left out) fell due in those weeks, the share whose every action was done on
      or before its own due date. A decision's actions are those recorded on the same agenda item;
      a decision with none is not counted;
    - days from decision to its last action done: the median, for decisions whose actions were all
      done, the last of them in those weeks;
    - items carried forward more than twice: agenda items in meetings of those weeks that came
      back a third time after not being reached (their chain of `carried_from` is three long),
      each chain counted once, at the meeting where it first went past twice.

    Each row keeps how many residents it is about in `residents`, for the small-numbers rule."""
    from meetings.models import Action, AgendaItem, Decision, Meeting

    tables = {
        "meeting": Meeting._meta.db_table,
        "item": AgendaItem._meta.db_table,
        "decision": Decision._meta.db_table,
        "action": Action._meta.db_table,
    }
    local = "AT TIME ZONE %(tz)s)::date"
    in_window = "BETWEEN %(since)s AND %(last_day)s"
    levels = "CASE WHEN grouping(t.team_id) = 0 THEN 'team' ELSE 'place' END AS level, coalesce(t.team_id, t.place_id) AS unit_id"
    cursor.execute(
        f"""
        WITH teams AS (
            SELECT t.id AS team_id, nb.place_id
            FROM {T['team']} t JOIN {T['neighbourhood']} nb ON nb.id = t.neighbourhood_id
        ),
        units AS (
            SELECT DISTINCT 'team' AS level, team_id AS unit_id FROM teams
            UNION SELECT DISTINCT 'place', place_id FROM teams
        ),
        discussions AS (
            SELECT m.team_id, i.resident_id,
                   EXISTS (SELECT 1 FROM {tables['decision']} d WHERE d.agenda_item_id = i.id)
                   OR EXISTS (SELECT 1 FROM {tables['action']} a WHERE a.agenda_item_id = i.id) AS closed
            FROM {tables['item']} i JOIN {tables['meeting']} m ON m.id = i.meeting_id
            WHERE i.outcome = %(discussed)s AND m.status = %(held)s AND (m.starts_at {local} {in_window}
        ),
        discussion_figures AS (
            SELECT {levels}, count(*) AS n, count(*) FILTER (WHERE d.closed) AS closed,
                   count(DISTINCT d.resident_id) AS residents
            FROM discussions d JOIN teams t ON t.team_id = d.team_id
            GROUP BY GROUPING SETS ((t.team_id), (t.place_id))
        ),
        decisions AS (
            -- Each decision with its agenda item's actions, cancelled ones left out.
            SELECT d.id, m.team_id, i.resident_id, (d.recorded_at {local} AS decided,
                   max(a.due_date) AS last_due,
                   bool_and(a.status = %(done)s AND (a.completed_at {local} <= a.due_date) AS all_on_time,
                   bool_and(a.status = %(done)s) AS all_done,
                   max((a.completed_at {local}) AS last_done
            FROM {tables['decision']} d
            JOIN {tables['item']} i ON i.id = d.agenda_item_id
            JOIN {tables['meeting']} m ON m.id = i.meeting_id
            JOIN {tables['action']} a ON a.agenda_item_id = i.id AND a.status <> %(cancelled)s
            GROUP BY d.id, m.team_id, i.resident_id
        ),
        on_time_figures AS (
            SELECT {levels}, count(*) AS n, count(*) FILTER (WHERE d.all_on_time) AS on_time,
                   count(DISTINCT d.resident_id) AS residents
            FROM decisions d JOIN teams t ON t.team_id = d.team_id
            WHERE d.last_due {in_window}
            GROUP BY GROUPING SETS ((t.team_id), (t.place_id))
        ),
        days_figures AS (
            SELECT {levels}, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(d.last_done - d.decided, 0)) AS median,
                   count(DISTINCT d.resident_id) AS residents
            FROM decisions d JOIN teams t ON t.team_id = d.team_id
            WHERE d.all_done AND d.last_done {in_window}
            GROUP BY GROUPING SETS ((t.team_id), (t.place_id))
        ),
        carried AS (
            -- The fourth appearance: this item came from one not reached, which came from one not
            -- reached, which came from one not reached that came from none.
            SELECT m.team_id, i.resident_id
            FROM {tables['item']} i
            JOIN {tables['meeting']} m ON m.id = i.meeting_id
            JOIN {tables['item']} i1 ON i1.id = i.carried_from_id
            JOIN {tables['item']} i2 ON i2.id = i1.carried_from_id
            JOIN {tables['item']} i3 ON i3.id = i2.carried_from_id AND i3.carried_from_id IS NULL
            WHERE (m.starts_at {local} {in_window}
        ),
        carried_figures AS (
            SELECT {levels}, count(*) AS n, count(DISTINCT c.resident_id) AS residents
            FROM carried c JOIN teams t ON t.team_id = c.team_id
            GROUP BY GROUPING SETS ((t.team_id), (t.place_id))
        ),
        figures AS (
            SELECT u.level, u.unit_id, f.measure, f.n, f.value, f.residents
            FROM units u
            LEFT JOIN discussion_figures df ON (df.level, df.unit_id) = (u.level, u.unit_id)
            LEFT JOIN on_time_figures ot ON (ot.level, ot.unit_id) = (u.level, u.unit_id)
            LEFT JOIN days_figures dy ON (dy.level, dy.unit_id) = (u.level, u.unit_id)
            LEFT JOIN carried_figures cf ON (cf.level, cf.unit_id) = (u.level, u.unit_id)
            CROSS JOIN LATERAL (VALUES
                (%(m_closed)s, coalesce(df.n, 0), 100 * df.closed::float8 / nullif(df.n, 0), coalesce(df.residents, 0)),
                (%(m_on_time)s, coalesce(ot.n, 0), 100 * ot.on_time::float8 / nullif(ot.n, 0), coalesce(ot.residents, 0)),
                (%(m_days)s, coalesce(dy.n, 0), dy.median, coalesce(dy.residents, 0)),
                (%(m_carried)s, coalesce(cf.n, 0), coalesce(cf.n, 0)::float8, coalesce(cf.residents, 0))
            ) f(measure, n, value, residents)
        )
        INSERT INTO {T['process']} ({VALUE_COLUMNS}, residents)
        SELECT %(run)s, u.level, u.unit_id, {LABEL}, u.measure, %(all)s, '', NULL,
               u.n, 0, 0, 0, 0, 0, u.value, NULL, NULL, NULL, u.residents < %(min_residents)s, u.residents
        FROM figures u
        {label_joins("u")}
        """,  # noqa: S608
        {
            "run": run.pk,
            "all": ALL_KINDS,
            "since": run.as_of - datetime.timedelta(weeks=settings.KPI_PROCESS_WEEKS),
            "last_day": run.as_of - datetime.timedelta(days=1),
            "tz": settings.TIME_ZONE,
            "discussed": AgendaItem.Outcome.DISCUSSED,
            "held": Meeting.Status.HELD,
            "done": Action.Status.DONE,
            "cancelled": Action.Status.CANCELLED,
            "min_residents": settings.KPI_MIN_RESIDENTS,
            "m_closed": Measure.DISCUSSIONS_CLOSED,
            "m_on_time": Measure.DECISIONS_DONE_ON_TIME,
            "m_days": Measure.DAYS_TO_LAST_ACTION,
            "m_carried": Measure.CARRIED_FORWARD,
        },
    )
    return cursor.rowcount
