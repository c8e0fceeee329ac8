"""The matched comparison: for each supported resident with a complete window, up to three people
of the team's population extract who were not supported and were alike at the start, and the
difference-in-differences against them (docs/adr/0021-matched-comparison.md).

All of it is SQL inside the KPI run's transaction, so its rows switch with the run:

1. `population_histories_update`: once per extract version, each person's cumulative monthly
   contacts (all kinds, and the emergency kinds), so any run of months is two array reads
   (PopulationHistory), and the people as cells alike in all that is matched on, at every month
   of S (PopulationCell); docs/adr/0024-matched-comparison-per-extract.md.
2. `match_residents`: each resident's features from their own row in the extract; then, per
   resident, the closest eligible people of their PCN (their place when the PCN has too few):
   the cells no farther than the third-nearest person, and people ever referred one by one
   (MatchedPair). An incremental run searches only for residents whose inputs changed and
   takes the others' from the last search (ResidentMatch; docs/adr/0027-matched-pairs-reused.md).
3. `write_matched_values`: each resident's and each comparison's contacts by kind in the
   resident's calendar months, the resident's difference-in-differences (bias-corrected for what
   matching left of the baseline difference), added up to every level and cohort month
   (MatchedValue); `write_balance`: the balance of the matching per team (MatchedBalance).

Calendar months: the extract counts contacts by month, so a resident's matched windows are whole
months: the baseline is the W months before the month of their start S, the follow-up the month
of S and the W - 1 after it, for the resident (from their own extract row, so both sides are
counted the same way) and for their comparisons alike.
"""

from __future__ import annotations

from caseload.models import (
    EMERGENCY_KINDS,
    KIND_NUMBERS,
    PopulationExtract,
    PopulationPerson,
    Resident,
    contact_kind_sql,
    contact_month_index_sql,
)
from int_app.teams.models import PCN, Neighbourhood, Practice, Team

from .models import (
    ALL_KINDS,
    Cohort,
    KpiRun,
    MatchedBalance,
    MatchedEpisode,
    MatchedPair,
    MatchedValue,
    PopulationCell,
    PopulationHistory,
    PopulationPool,
    ResidentMatch,
    ResidentWindow,
)

# Comparison people per resident, at most.
MATCHES = 3
# Matched on contacts in the 6 months before S; ties broken by the 6 months before those.
MATCH_MONTHS = 6
TREND_MONTHS = 6
AGE_BAND_YEARS = 10
# The bar evaluators use for balance: an absolute standardised mean difference above it fails.
SMD_BAR = 0.1
# Part of every stored match's fingerprint (ResidentMatch.inputs): change it with any change to
# how comparison people are chosen, so that no run reuses a choice made the old way.
MATCHER_VERSION = 1
BALANCE_VARIABLES = {
    "baseline_contacts": "Contacts in the 6 months before the start",
    "baseline_emergency": "Emergency contacts (A&E, emergency admissions, ambulance) in the 6 months before",
    "trend_contacts": "Contacts 7 to 12 months before the start",
    "age": "Age",
    "female": "Share who are female",
}

T = {
    "person": PopulationPerson._meta.db_table,
    "extract": PopulationExtract._meta.db_table,
    "resident": Resident._meta.db_table,
    "window": ResidentWindow._meta.db_table,
    "practice": Practice._meta.db_table,
    "pcn": PCN._meta.db_table,
    "team": Team._meta.db_table,
    "neighbourhood": Neighbourhood._meta.db_table,
    "pair": MatchedPair._meta.db_table,
    "matched": MatchedValue._meta.db_table,
    "balance": MatchedBalance._meta.db_table,
    "history": PopulationHistory._meta.db_table,
    "cell": PopulationCell._meta.db_table,
    "match": ResidentMatch._meta.db_table,
    "pool": PopulationPool._meta.db_table,
    "episode": MatchedEpisode._meta.db_table,
}
MONTH_INDEX = "(extract(year FROM {0})::int * 12 + extract(month FROM {0})::int - 1)"
# A person's contacts as rows c(slot, contacts), from the arrays on their row (person alias {0});
# a slot's month (as MONTH_INDEX counts months) and kind number are caseload's
# contact_month_index_sql and contact_kind_sql.
CONTACTS = "unnest({0}.contact_slots, {0}.contact_counts) AS c (slot, contacts)"


def _month_index(column: str) -> str:
    return MONTH_INDEX.format(column)


def write_matched(cursor, run: KpiRun) -> int:
    """The whole matched comparison for a run; returns the MatchedValue and MatchedBalance rows
    written (none without a current extract)."""
    # Dropped on commit; dropped here too, for a second run in one transaction (tests).
    cursor.execute("DROP TABLE IF EXISTS mx, mr, mspan, mreferred, mepisode, mcellreferred, mcol, mpair, mout, mdid, mchanged, msearch, mcount")
    if not population_histories_update(cursor):
        return 0
    run.residents_searched = match_residents(cursor, run)
    return write_matched_values(cursor, run) + write_balance(cursor, run)


# --- 1. people ------------------------------------------------------------------------------------


def _band(year: str, birth_year: str) -> str:
    """(year − birth year) // 10 rounded down, in integers."""
    return (
        f"CASE WHEN {year} >= {birth_year} THEN ({year} - {birth_year}) / {AGE_BAND_YEARS} "
        f"ELSE -(({birth_year} - {year} + {AGE_BAND_YEARS - 1}) / {AGE_BAND_YEARS}) END"
    )


def _features(history: str, k0: str) -> str:
    """The three matching counts of a person's history at the month of S (array position k0):
    contacts and emergency contacts in the 6 months before, contacts in the 6 before those."""
    return (
        f"{history}.total[{k0}] - {history}.total[{k0} - {MATCH_MONTHS}] AS bt, "
        f"{history}.emergency[{k0}] - {history}.emergency[{k0} - {MATCH_MONTHS}] AS be, "
        f"{history}.total[{k0} - {MATCH_MONTHS}] - {history}.total[{k0} - {MATCH_MONTHS + TREND_MONTHS}] AS tr"
    )


def population_histories_update(cursor) -> bool:
    """Give every current extract its people's histories (PopulationHistory) and cells
    (PopulationCell), once per extract version, and drop those of versions no longer current.
    False when there is no current extract."""
    # Extract rows are kept (the record of uploads): an index probe each, rather than a scan.
    for table in (T["history"], T["cell"], T["pool"]):
        cursor.execute(
            f"DELETE FROM {table} WHERE extract_id IN (SELECT id FROM {T['extract']} WHERE NOT is_current)"  # noqa: S608
        )
    cursor.execute(
        f"SELECT x.id, {_month_index('x.first_month')}, {_month_index('x.last_month')} FROM {T['extract']} x "  # noqa: S608
        f"WHERE x.is_current AND NOT EXISTS (SELECT 1 FROM {T['history']} h WHERE h.extract_id = x.id) "
        f"AND EXISTS (SELECT 1 FROM {T['person']} p WHERE p.extract_id = x.id) ORDER BY x.id"
    )
    missing = cursor.fetchall()
    for extract_id, first, last in missing:
        _build_histories(cursor, extract_id=extract_id, months=last - first + 1, first=first)
        _build_cells(cursor, extract_id=extract_id, months=last - first + 1, first=first)
    # Versions whose cells were built before their pools were (and any built just now).
    cursor.execute(
        f"""
        INSERT INTO {T['pool']} (extract_id, month, people, female, baseline_total, baseline_total_sq, baseline_emergency,
                                 baseline_emergency_sq, earlier_total, earlier_total_sq, birth_years, birth_years_sq)
        SELECT c.extract_id, c.month, sum(c.people), coalesce(sum(c.people) FILTER (WHERE c.sex = 'F'), 0),
               sum(c.people::bigint * c.baseline_total), sum(c.people::bigint * c.baseline_total * c.baseline_total),
               sum(c.people::bigint * c.baseline_emergency), sum(c.people::bigint * c.baseline_emergency * c.baseline_emergency),
               sum(c.people::bigint * c.earlier_total), sum(c.people::bigint * c.earlier_total * c.earlier_total),
               sum(c.birth_years), sum(c.birth_years_sq)
        FROM {T['cell']} c
        WHERE c.extract_id IN (SELECT x.id FROM {T['extract']} x WHERE x.is_current
                               AND NOT EXISTS (SELECT 1 FROM {T['pool']} p WHERE p.extract_id = x.id))
        GROUP BY c.extract_id, c.month
        """  # noqa: S608
    )
    if missing:
        cursor.execute(f"ANALYZE {T['history']}")
        cursor.execute(f"ANALYZE {T['cell']}")
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {T['extract']} WHERE is_current)")  # noqa: S608
    return cursor.fetchone()[0]


def _build_histories(cursor, *, extract_id: int, months: int, first: int) -> None:
    """Each contact row is read once: a person's months are added up (one row a person and month)
    and run into cumulative totals, which `width_bucket` (how many of the person's months with
    contacts come before a month) spreads over every month of the extract, rather than one
    filtered sum a month over every contact."""
    emergency = [KIND_NUMBERS[kind] for kind in EMERGENCY_KINDS]
    spread = ", ".join(f"s.cumulative[width_bucket({k - 1}, s.positions) + 1]" for k in range(1, months + 2))
    spread_emergency = ", ".join(f"s.cumulative_emergency[width_bucket({k - 1}, s.positions) + 1]" for k in range(1, months + 2))
    cursor.execute(
        f"""
        INSERT INTO {T['history']} (person_id, extract_id, nhs_number, practice_id, birth_year, sex, total, emergency)
        WITH by_month AS (
            SELECT p.id AS person_id, {contact_month_index_sql("c.slot")} - %(first)s + 1 AS position, sum(c.contacts)::int AS contacts,
                   coalesce(sum(c.contacts) FILTER (WHERE {contact_kind_sql("c.slot")} = ANY(%(emergency)s)), 0)::int AS emergency
            FROM {T["person"]} p CROSS JOIN LATERAL {CONTACTS.format("p")}
            WHERE p.extract_id = %(extract)s
            GROUP BY p.id, position
        ),
        running AS (
            SELECT person_id, position, sum(contacts) OVER person_months AS contacts, sum(emergency) OVER person_months AS emergency
            FROM by_month
            WINDOW person_months AS (PARTITION BY person_id ORDER BY position)
        ),
        -- cumulative[j + 1]: the person's contacts up to their j-th month with contacts.
        sparse AS (
            SELECT person_id, array_agg(position ORDER BY position) AS positions,
                   '{{0}}'::int[] || array_agg(contacts::int ORDER BY position) AS cumulative,
                   '{{0}}'::int[] || array_agg(emergency::int ORDER BY position) AS cumulative_emergency
            FROM running GROUP BY person_id
        )
        SELECT p.id, p.extract_id, p.nhs_number, p.practice_id, p.birth_year, p.sex,
               CASE WHEN s.person_id IS NULL THEN array_fill(0, ARRAY[%(cells)s]) ELSE ARRAY[{spread}] END,
               CASE WHEN s.person_id IS NULL THEN array_fill(0, ARRAY[%(cells)s]) ELSE ARRAY[{spread_emergency}] END
        FROM {T['person']} p
        LEFT JOIN sparse s ON s.person_id = p.id
        WHERE p.extract_id = %(extract)s
        """,  # noqa: S608 - table names are ours
        {"extract": extract_id, "first": first, "emergency": emergency, "cells": months + 1},
    )


def _build_cells(cursor, *, extract_id: int, months: int, first: int) -> None:
    """The extract's people as cells at every month of S its months reach 12 months back from."""
    cursor.execute(
        f"""
        INSERT INTO {T['cell']} (extract_id, practice_id, sex, month, band, baseline_total, baseline_emergency, earlier_total,
                                 people, birth_years, birth_years_sq, members)
        SELECT %(extract)s, f.practice_id, f.sex, f.month, f.band, f.bt, f.be, f.tr,
               count(*), sum(f.birth_year), sum(f.birth_year::bigint * f.birth_year), array_agg(f.person_id ORDER BY f.nhs_number)
        FROM (
            SELECT h.person_id, h.nhs_number, h.practice_id, h.sex, h.birth_year, %(first)s + k.k0 - 1 AS month,
                   {_band("((%(first)s + k.k0 - 1) / 12)", 'h.birth_year')} AS band, {_features('h', 'k.k0')}
            FROM {T['history']} h CROSS JOIN generate_series(%(reach)s + 1, %(months)s) k(k0)
            WHERE h.extract_id = %(extract)s
        ) f
        GROUP BY f.practice_id, f.sex, f.month, f.band, f.bt, f.be, f.tr
        """,  # noqa: S608
        {"extract": extract_id, "first": first, "months": months, "reach": MATCH_MONTHS + TREND_MONTHS},
    )


# --- 2. matching ----------------------------------------------------------------------------------


def episode_ends(e: str) -> str:
    """When the caseload episode `e` (a resident row) ends: a referral not accepted at its triage,
    any other when it closed; NULL while open. Eligibility reads it, and so does the check of
    which episodes changed since the stored matches were made."""
    return f"CASE WHEN {e}.status = 'not_accepted' THEN coalesce({e}.triaged_on, {e}.referral_date) ELSE {e}.closed_on END"


# A person is eligible for a resident if, at the resident's start, they were on no caseload (an
# episode from its referral to its closing; a referral not accepted ends at triage) and had no
# referral from the start of the resident's baseline to the end of their follow-up. Asked only of
# people with an episode anywhere (`mepisode`); everyone else is eligible. A count rather than NOT
# EXISTS, which the planner turns into an anti-join reading every resident for each resident
# matched; and the extract's NHS numbers (collation "C") compared in the residents' collation, so
# that this probes the residents' NHS-number index.
ELIGIBLE = f"""
    0 = (
        SELECT count(*) FROM {T['resident']} e
        WHERE e.nhs_number = c.nhs COLLATE "default"
          AND ((e.referral_date <= r.start AND r.start < coalesce({episode_ends("e")}, 'infinity'::date))
               OR (e.referral_date >= r.window_start AND e.referral_date < r.window_end))
    )
"""  # noqa: S608


def _candidates(within: str) -> str:
    """The closest eligible people of the resident's stratum: same `within` (PCN or place), sex and
    age band at S, an extract that covers the resident's months; nearest baseline use (all
    contacts and emergency contacts, absolute differences added), then nearest earlier use, then
    NHS number, so the choice never depends on the order rows are read in.

    People never referred are read from the cells (PopulationCell), and how many of them have each
    pair of baseline counts from `mcol`: that gives the distance of the third-nearest, and only
    cells no farther are opened, each for its first three members never referred. People ever
    referred (`mepisode`, one row each) are checked one by one, and only where no farther."""
    stratum = f"{{0}}.{within} = r.{within} AND {{0}}.sex = r.sex AND {{0}}.p0 = r.p0 AND {{0}}.band = r.band"
    of_cells = "c.practice_id = ANY(r.practices)" if within == "pcn_id" else "c.extract_id = ANY(r.place_extracts)"
    return f"""
        WITH columns AS (
            SELECT k.be, k.bt, k.distance, k.everyone FROM (
                SELECT g.be, g.bt, g.distance, sum(g.people) OVER () AS everyone,
                       coalesce(sum(g.people) OVER (ORDER BY g.distance RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS closer
                FROM (SELECT m.be, m.bt, abs(m.bt - r.bt) + abs(m.be - r.be) AS distance, sum(m.people) AS people
                      FROM mcol m WHERE {stratum.format('m')} GROUP BY m.be, m.bt) g
            ) k
            WHERE k.closer < {MATCHES}
        ),
        bound AS (
            SELECT CASE WHEN max(everyone) >= {MATCHES} THEN max(distance) ELSE 2147483647 END AS distance FROM columns
        )
        SELECT m.person_id, m.distance, m.trend_distance, m.nhs
        FROM (
            SELECT u.person_id, h.nhs_number AS nhs, k.distance, abs(c.earlier_total - r.tr) AS trend_distance
            FROM columns k
            JOIN {T['cell']} c ON {of_cells} AND c.sex = r.sex AND c.month = r.p0 AND c.band = r.band
                 AND c.baseline_emergency = k.be AND c.baseline_total = k.bt
            JOIN mspan s ON s.extract_id = c.extract_id AND s.p0 = c.month
            -- Its first three never referred are among its first three and those referred.
            LEFT JOIN mcellreferred cr ON cr.extract_id = c.extract_id AND cr.practice_id = c.practice_id AND cr.sex = c.sex
                 AND cr.p0 = c.month AND cr.band = c.band AND cr.be = c.baseline_emergency AND cr.bt = c.baseline_total
                 AND cr.tr = c.earlier_total
            CROSS JOIN LATERAL (
                SELECT x.person_id FROM unnest(c.members[1:{MATCHES} + coalesce(cr.people, 0)]) WITH ORDINALITY x(person_id, position)
                WHERE NOT EXISTS (SELECT 1 FROM mreferred e WHERE e.person_id = x.person_id)
                ORDER BY x.position LIMIT {MATCHES}
            ) u
            JOIN {T['history']} h ON h.person_id = u.person_id
            UNION ALL
            SELECT c.person_id, c.nhs, abs(c.bt - r.bt) + abs(c.be - r.be), abs(c.tr - r.tr)
            FROM mepisode c
            WHERE {stratum.format('c')} AND c.person_id <> r.person_id
              AND abs(c.bt - r.bt) + abs(c.be - r.be) <= coalesce((SELECT distance FROM bound), 2147483647)
              AND {ELIGIBLE}
        ) m
        ORDER BY m.distance, m.trend_distance, m.nhs, m.person_id
        LIMIT {MATCHES}
    """


def match_residents(cursor, run: KpiRun) -> int:
    """Each supported resident's comparison people into MatchedPair. An incremental run takes
    them from ResidentMatch where nothing the search reads of the resident changed and searches
    for the rest; a full run searches for everyone. Returns how many residents were searched for."""
    window = run.window_months
    reach = max(window, MATCH_MONTHS + TREND_MONTHS)
    params = {"window": window, "reach": reach, "intervention": Cohort.INTERVENTION}
    # mx: the current extracts, with their first and last months as month numbers.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mx ON COMMIT DROP AS
        SELECT x.id AS extract_id, x.team_id, nb.place_id,
               {_month_index('x.first_month')} AS first_i, {_month_index('x.last_month')} AS last_i
        FROM {T['extract']} x JOIN {T['team']} t ON t.id = x.team_id JOIN {T['neighbourhood']} nb ON nb.id = t.neighbourhood_id
        WHERE x.is_current
        """  # noqa: S608
    )
    cursor.execute("ANALYZE mx")
    # mr: every supported resident with a complete window, with their features where their team's
    # current extract holds them and covers their months (p0 is the month number of the month of
    # S); the rest stay, unmatched, so the share matched counts them. band: their 10-year age band
    # at S (rounded towards zero, which picks the same ten birth years as the cells' rounding
    # down); practices and place_extracts: where their PCN's and their place's people are.
    # inputs: the fingerprint of all the search reads of the resident (ResidentMatch).
    params["key"] = _search_key(cursor, window=window)
    cursor.execute(
        f"""
        CREATE TEMP TABLE mr ON COMMIT DROP AS
        SELECT m.*, CASE WHEN m.person_id IS NOT NULL THEN md5(%(key)s || ROW(
                   m.resident_id, m.team_id, m.pcn_id, m.neighbourhood_id, m.place_id, m.cohort_month, m.start, m.p0,
                   m.person_id, m.sex, m.birth_year, m.band, m.bt, m.be, m.tr)::text) END AS inputs
        FROM (
        SELECT w.resident_id, w.team_id, w.pcn_id, w.neighbourhood_id, w.place_id, w.cohort_month, w.start,
               (w.cohort_month - make_interval(months => %(window)s))::date AS window_start,
               (w.cohort_month + make_interval(months => %(window)s))::date AS window_end,
               pos.p0, p.person_id, p.sex, p.birth_year,
               (extract(year FROM w.start)::int - p.birth_year) / {AGE_BAND_YEARS} AS band,
               p.bt, p.be, p.tr,
               ARRAY(SELECT pr.id FROM {T['practice']} pr WHERE pr.pcn_id = w.pcn_id) AS practices,
               ARRAY(SELECT x.extract_id FROM mx x WHERE x.place_id = w.place_id) AS place_extracts
        FROM {T['window']} w
        JOIN {T['resident']} res ON res.id = w.resident_id
        CROSS JOIN LATERAL (SELECT {_month_index('w.cohort_month')} AS p0) pos
        LEFT JOIN LATERAL (
            SELECT h.person_id, h.sex, h.birth_year, {_features('h', 'pos.p0 - x.first_i + 1')}
            FROM mx x
            JOIN {T['person']} pp ON pp.extract_id = x.extract_id AND pp.nhs_number = res.nhs_number
            JOIN {T['history']} h ON h.person_id = pp.id
            WHERE x.team_id = w.team_id AND x.first_i <= pos.p0 - %(reach)s AND x.last_i >= pos.p0 + %(window)s - 1
            -- Kept apart (not flattened into the join), so the team's extract is picked before
            -- its people are probed, rather than every extract's people for each resident.
            OFFSET 0
        ) p ON TRUE
        WHERE w.cohort = %(intervention)s AND w.complete
        ) m
        """,  # noqa: S608
        params,
    )
    cursor.execute("ANALYZE mr")
    # mspan: each current extract at each month of S it covers (its months reach back and
    # forward far enough), among the months residents started in.
    cursor.execute(
        """
        CREATE TEMP TABLE mspan ON COMMIT DROP AS
        SELECT x.extract_id, x.team_id, x.place_id, s.p0, s.year, s.p0 - x.first_i + 1 AS k0
        FROM mx x
        CROSS JOIN (SELECT DISTINCT p0, p0 / 12 AS year FROM mr WHERE person_id IS NOT NULL) s
        WHERE x.first_i <= s.p0 - %(reach)s AND x.last_i >= s.p0 + %(window)s - 1
        """,
        params,
    )
    cursor.execute("ANALYZE mspan")
    # mreferred: the people of the current extracts ever referred (by NHS number, in any team);
    # mepisode: each of them at each month of S their extract covers.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mreferred ON COMMIT DROP AS
        SELECT pp.id AS person_id FROM mx x JOIN {T['person']} pp ON pp.extract_id = x.extract_id
        WHERE pp.nhs_number IN (SELECT nhs_number FROM {T['resident']})
        """  # noqa: S608
    )
    cursor.execute("CREATE UNIQUE INDEX ON mreferred (person_id)")
    cursor.execute("ANALYZE mreferred")
    cursor.execute(
        f"""
        CREATE TEMP TABLE mepisode ON COMMIT DROP AS
        SELECT s.extract_id, s.team_id, s.place_id, h.practice_id, pr.pcn_id, h.sex, s.p0, {_band('s.year', 'h.birth_year')} AS band,
               h.birth_year, h.person_id, h.nhs_number AS nhs, {_features('h', 's.k0')}
        FROM mreferred e
        JOIN {T['history']} h ON h.person_id = e.person_id
        JOIN mspan s ON s.extract_id = h.extract_id
        JOIN {T['practice']} pr ON pr.id = h.practice_id
        """  # noqa: S608
    )
    searched = _residents_to_search(cursor, reuse=run.mode == KpiRun.Mode.INCREMENTAL)
    if searched:
        _search(cursor)
    _store_matches(cursor)
    # In one order whichever pairs were reused: the balance adds up floats, whose sums depend on
    # the order rows are read in, and a run must store what a full one would, to the last bit.
    cursor.execute("ALTER TABLE mpair RENAME TO mpair_unordered")
    cursor.execute("CREATE TEMP TABLE mpair ON COMMIT DROP AS SELECT * FROM mpair_unordered ORDER BY resident_id, rank")
    cursor.execute("DROP TABLE mpair_unordered")
    # Read by resident below (whether a resident was matched, for each resident).
    cursor.execute("CREATE INDEX ON mpair (resident_id)")
    cursor.execute("ANALYZE mpair")
    cursor.execute(
        f"INSERT INTO {T['pair']} (run_id, resident_id, rank, comparison_id, within_place) "  # noqa: S608
        "SELECT %s, resident_id, rank, person_id, within_place FROM mpair",
        [run.pk],
    )
    return searched


def _search_key(cursor, *, window: int) -> str:
    """What every resident's search reads besides their own row: the current extracts (a new
    version is a new id) and the months they cover, the practices' PCNs, the teams' places, the
    window and the matcher itself."""
    cursor.execute(
        f"""
        SELECT md5(concat_ws('|', %(matcher)s,
            (SELECT string_agg(concat_ws(':', extract_id, team_id, place_id, first_i, last_i), ',' ORDER BY extract_id) FROM mx),
            (SELECT string_agg(concat_ws(':', id, pcn_id), ',' ORDER BY id) FROM {T['practice']})))
        """,  # noqa: S608
        {"matcher": f"v{MATCHER_VERSION};W={window};k={MATCHES};{MATCH_MONTHS};{TREND_MONTHS};{AGE_BAND_YEARS}"},
    )
    return cursor.fetchone()[0]


def _residents_to_search(cursor, *, reuse: bool) -> int:
    """msearch: the supported residents in the extract to search for; mpair: the others' stored
    comparison people. With `reuse`, a resident is searched for when their fingerprint changed
    (or they have none stored), or when a caseload episode changed (a referral, a closing, a
    triage) of a person who could be their candidate: one of their sex and age band at S in any
    current extract, and of their PCN (or of their place, when their PCN gave fewer than MATCHES
    last time), whose eligibility or whose being "ever referred" may have changed. The episodes the stored matches saw (MatchedEpisode) are then brought up to date."""
    cursor.execute(
        f"""
        CREATE TEMP TABLE mchanged ON COMMIT DROP AS
        WITH now AS (
            -- When each episode ends, as ELIGIBLE reads it; empty while open.
            SELECT id AS resident_id, nhs_number, referral_date, {episode_ends("r")} AS ends
            FROM {T['resident']} r
        )
        SELECT coalesce(n.resident_id, e.resident_id) AS resident_id, n.resident_id IS NULL AS gone,
               n.nhs_number, n.referral_date, n.ends, e.nhs_number AS nhs_number_before
        FROM now n FULL JOIN {T['episode']} e ON e.resident_id = n.resident_id
        WHERE (n.nhs_number, n.referral_date, n.ends) IS DISTINCT FROM (e.nhs_number, e.referral_date, e.ends)
        """  # noqa: S608
    )
    cursor.execute("ANALYZE mchanged")
    if reuse:
        cursor.execute(
            f"""
            CREATE TEMP TABLE msearch ON COMMIT DROP AS
            WITH changed_people AS MATERIALIZED (
                -- Everyone of the current extracts with one of the changed NHS numbers: worked
                -- out once (inlined, it would be joined again for each resident).
                SELECT DISTINCT pp.sex, pp.birth_year, pr.pcn_id, x.place_id
                FROM (SELECT nhs_number AS nhs FROM mchanged UNION SELECT nhs_number_before FROM mchanged) ch
                JOIN mx x ON TRUE
                JOIN {T['person']} pp ON pp.extract_id = x.extract_id AND pp.nhs_number = ch.nhs COLLATE "C"
                JOIN {T['practice']} pr ON pr.id = pp.practice_id
            )
            SELECT r.resident_id FROM mr r LEFT JOIN {T['match']} m ON m.resident_id = r.resident_id
            WHERE r.person_id IS NOT NULL
              AND (m.inputs IS DISTINCT FROM r.inputs
                   -- The place is searched only when the PCN gave fewer than MATCHES.
                   OR EXISTS (SELECT 1 FROM changed_people c
                              WHERE (c.pcn_id = r.pcn_id
                                     OR (c.place_id = r.place_id AND (m.within_place OR cardinality(m.comparisons) < {MATCHES})))
                                AND c.sex = r.sex AND {_band('(r.p0 / 12)', 'c.birth_year')} = r.band))
            """  # noqa: S608
        )
    else:
        cursor.execute("CREATE TEMP TABLE msearch ON COMMIT DROP AS SELECT resident_id FROM mr WHERE person_id IS NOT NULL")
    searched = cursor.rowcount
    cursor.execute("CREATE UNIQUE INDEX ON msearch (resident_id)")
    cursor.execute("ANALYZE msearch")
    cursor.execute(
        f"""
        CREATE TEMP TABLE mpair ON COMMIT DROP AS
        SELECT m.resident_id, x.rank::int AS rank, x.person_id, m.within_place
        FROM mr r JOIN {T['match']} m ON m.resident_id = r.resident_id
        CROSS JOIN LATERAL unnest(m.comparisons) WITH ORDINALITY x(person_id, rank)
        WHERE r.person_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM msearch s WHERE s.resident_id = r.resident_id)
        """  # noqa: S608
    )
    cursor.execute(f"DELETE FROM {T['episode']} WHERE resident_id IN (SELECT resident_id FROM mchanged WHERE gone)")  # noqa: S608
    cursor.execute(
        f"""
        INSERT INTO {T['episode']} (resident_id, nhs_number, referral_date, ends)
        SELECT resident_id, nhs_number, referral_date, ends FROM mchanged WHERE NOT gone
        ON CONFLICT (resident_id) DO UPDATE SET
            nhs_number = EXCLUDED.nhs_number, referral_date = EXCLUDED.referral_date, ends = EXCLUDED.ends
        """  # noqa: S608
    )
    return searched


def _store_matches(cursor) -> None:
    """The searched residents' comparison people into ResidentMatch, with their fingerprints; and
    the stored matches of residents no longer searched for or reused (their window or their row
    in the extract gone) deleted."""
    cursor.execute(
        f"""
        DELETE FROM {T['match']} m
        WHERE NOT EXISTS (SELECT 1 FROM mr r WHERE r.resident_id = m.resident_id AND r.person_id IS NOT NULL)
        """  # noqa: S608
    )
    cursor.execute(
        f"""
        INSERT INTO {T['match']} (resident_id, inputs, comparisons, within_place, counts)
        SELECT r.resident_id, r.inputs,
               coalesce(array_agg(p.person_id ORDER BY p.rank) FILTER (WHERE p.person_id IS NOT NULL), '{{}}'),
               coalesce(bool_or(p.within_place), FALSE), '{{}}'
        FROM msearch s JOIN mr r ON r.resident_id = s.resident_id
        LEFT JOIN mpair p ON p.resident_id = s.resident_id
        GROUP BY r.resident_id, r.inputs
        ON CONFLICT (resident_id) DO UPDATE SET
            inputs = EXCLUDED.inputs, comparisons = EXCLUDED.comparisons, within_place = EXCLUDED.within_place,
            -- Counted again by write_matched_values, for the comparison people just found.
            counts = EXCLUDED.counts
        """  # noqa: S608
    )


def _search(cursor) -> None:
    """The comparison people of the residents in msearch, added to mpair."""
    # Read by stratum for each resident searched for (the balance reads mepisode whole).
    cursor.execute("CREATE INDEX ON mepisode (pcn_id, sex, p0, band)")
    cursor.execute("CREATE INDEX ON mepisode (place_id, sex, p0, band)")
    # mcellreferred: how many of a cell's members were ever referred.
    cursor.execute(
        "CREATE TEMP TABLE mcellreferred ON COMMIT DROP AS SELECT extract_id, practice_id, sex, p0, band, be, bt, tr, "
        "count(*)::int AS people FROM mepisode GROUP BY extract_id, practice_id, sex, p0, band, be, bt, tr"
    )
    cursor.execute("CREATE INDEX ON mcellreferred (extract_id, practice_id, sex, p0, band, be, bt, tr)")
    cursor.execute("ANALYZE mcellreferred")
    # mcol: how many people never referred have each pair of baseline counts, per stratum: the
    # cells' people less those ever referred.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mcol ON COMMIT DROP AS
        SELECT pcn_id, place_id, sex, p0, band, be, bt, sum(people)::int AS people
        FROM (
            SELECT pr.pcn_id, s.place_id, c.sex, c.month AS p0, c.band, c.baseline_emergency AS be, c.baseline_total AS bt, c.people
            FROM mspan s JOIN {T['cell']} c ON c.extract_id = s.extract_id AND c.month = s.p0
            JOIN {T['practice']} pr ON pr.id = c.practice_id
            UNION ALL
            SELECT pcn_id, place_id, sex, p0, band, be, bt, -1 FROM mepisode
        ) k
        GROUP BY pcn_id, place_id, sex, p0, band, be, bt
        HAVING sum(people) > 0
        """  # noqa: S608
    )
    cursor.execute("CREATE INDEX ON mcol (pcn_id, sex, p0, band)")
    cursor.execute("CREATE INDEX ON mcol (place_id, sex, p0, band)")
    cursor.execute("ANALYZE mepisode")
    cursor.execute("ANALYZE mcol")
    cursor.execute(
        f"""
        INSERT INTO mpair (resident_id, rank, person_id, within_place)
        SELECT r.resident_id, (row_number() OVER (PARTITION BY r.resident_id ORDER BY m.distance, m.trend_distance, m.nhs, m.person_id))::int AS rank,
               m.person_id, FALSE AS within_place
        FROM (SELECT mr.* FROM mr JOIN msearch s ON s.resident_id = mr.resident_id ORDER BY pcn_id, sex, p0, band OFFSET 0) r
        CROSS JOIN LATERAL ({_candidates('pcn_id')}) m
        """  # noqa: S608
    )
    # The PCN had too few: the resident's place instead.
    cursor.execute(
        f"""
        WITH short AS (
            SELECT s.resident_id FROM msearch s LEFT JOIN mpair p ON p.resident_id = s.resident_id
            GROUP BY s.resident_id HAVING count(p.person_id) < {MATCHES}
        ), removed AS (
            DELETE FROM mpair WHERE resident_id IN (SELECT resident_id FROM short)
        )
        INSERT INTO mpair
        SELECT r.resident_id, (row_number() OVER (PARTITION BY r.resident_id ORDER BY m.distance, m.trend_distance, m.nhs, m.person_id))::int,
               m.person_id, TRUE
        FROM mr r JOIN short s ON s.resident_id = r.resident_id
        CROSS JOIN LATERAL ({_candidates('place_id')}) m
        """  # noqa: S608
    )


# --- 3. the effect and the balance --------------------------------------------------------------


def _kinds() -> list[tuple[str, int | None]]:
    return [(ALL_KINDS, None), *KIND_NUMBERS.items()]


def write_matched_values(cursor, run: KpiRun) -> int:
    from .compute import LABEL, LEVELS_OF_CELL, label_joins  # compute imports this module

    kinds = _kinds()
    sides = []
    for kind, number in kinds:
        of_kind = "TRUE" if number is None else f"c.kind = {number}"
        sides += [
            f"coalesce(sum(c.contacts) FILTER (WHERE {of_kind} AND c.month < s.cohort_index), 0) AS b_{kind}",
            f"coalesce(sum(c.contacts) FILTER (WHERE {of_kind} AND c.month >= s.cohort_index), 0) AS f_{kind}",
        ]
    columns = [f"{side}_{kind}" for kind, _n in kinds for side in ("b", "f")]
    # mcount: the matched residents whose contacts and comparisons' are counted from the extract:
    # those searched for, and those whose stored match has no counts yet. The others' counts are
    # those stored with their match (ResidentMatch.counts), which nothing they depend on changed.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mcount ON COMMIT DROP AS
        SELECT s.resident_id FROM msearch s
        UNION
        SELECT m.resident_id FROM {T['match']} m JOIN mpair p ON p.resident_id = m.resident_id AND p.rank = 1
        WHERE cardinality(m.counts) = 0
        """  # noqa: S608
    )
    # Each resident's own row (rank 0), and each of their comparisons', counted in the resident's
    # months; in one order, whichever were counted now, as the floats added up below depend on it.
    kept = ", ".join(f"m.counts[x.i][{index}]::bigint AS {column}" for index, column in enumerate(columns, start=1))
    cursor.execute(
        f"""
        CREATE TEMP TABLE mout ON COMMIT DROP AS
        WITH subjects AS (
            SELECT r.resident_id, 0 AS rank, r.person_id, TRUE AS is_resident, r.p0 AS cohort_index,
                   {_month_index("r.window_start")} AS start_index, {_month_index("r.window_end")} AS end_index
            FROM mr r JOIN mcount k ON k.resident_id = r.resident_id
            WHERE r.person_id IS NOT NULL AND EXISTS (SELECT 1 FROM mpair p WHERE p.resident_id = r.resident_id)
            UNION ALL
            SELECT r.resident_id, p.rank, p.person_id, FALSE, r.p0, {_month_index("r.window_start")}, {_month_index("r.window_end")}
            FROM mpair p JOIN mr r ON r.resident_id = p.resident_id JOIN mcount k ON k.resident_id = r.resident_id
        ),
        counted AS (
            SELECT s.resident_id, s.rank, s.is_resident, {", ".join(sides)}
            FROM subjects s
            LEFT JOIN LATERAL (
                SELECT {contact_month_index_sql("c.slot")} AS month, {contact_kind_sql("c.slot")} AS kind, c.contacts
                FROM {T["person"]} p CROSS JOIN LATERAL {CONTACTS.format("p")}
                WHERE p.id = s.person_id
            ) c ON c.month >= s.start_index AND c.month < s.end_index
            GROUP BY s.resident_id, s.rank, s.person_id, s.is_resident, s.cohort_index
        ),
        stored AS (
            SELECT m.resident_id, x.i - 1 AS rank, x.i = 1 AS is_resident, {kept}
            FROM mr r JOIN {T['match']} m ON m.resident_id = r.resident_id
            CROSS JOIN LATERAL generate_subscripts(m.counts, 1) x(i)
            WHERE r.person_id IS NOT NULL AND cardinality(m.counts) > 0
              AND NOT EXISTS (SELECT 1 FROM mcount k WHERE k.resident_id = r.resident_id)
        )
        SELECT * FROM (SELECT * FROM counted UNION ALL SELECT * FROM stored) o
        ORDER BY o.resident_id, o.rank
        """  # noqa: S608
    )
    cursor.execute(
        f"""
        UPDATE {T['match']} m SET counts = o.counts
        FROM (SELECT o.resident_id, array_agg(ARRAY[{", ".join(f"o.{column}::int" for column in columns)}] ORDER BY o.rank) AS counts
              FROM mout o JOIN mcount k ON k.resident_id = o.resident_id GROUP BY o.resident_id) o
        WHERE m.resident_id = o.resident_id
        """  # noqa: S608
    )
    # d = (resident's follow-up − baseline) − the mean over their comparisons of the same, each
    # comparison's change adjusted for what is left of the baseline difference after matching:
    # + beta × (b_resident − b_comparison), beta the slope of change on baseline among all the
    # comparisons (Abadie and Imbens' bias correction). Heavy users regress more; a comparison
    # a little lighter than the resident would otherwise fall a little less, and the effect lean
    # towards "no effect" or worse.
    slopes = ", ".join(
        f"coalesce(regr_slope(o.f_{kind} - o.b_{kind}, o.b_{kind}) FILTER (WHERE NOT o.is_resident), 0) AS s_{kind}"
        for kind, _n in kinds
    )
    own_baseline = ", ".join(
        f"max(o.b_{kind}) FILTER (WHERE o.is_resident) OVER (PARTITION BY o.resident_id) AS rb_{kind}" for kind, _n in kinds
    )
    differences = ", ".join(
        f"(max(o.f_{kind} - o.b_{kind}) FILTER (WHERE o.is_resident) - avg(o.f_{kind} - o.b_{kind} + s.s_{kind} * (o.rb_{kind} - o.b_{kind})) "
        f"FILTER (WHERE NOT o.is_resident))::float8"
        for kind, _n in kinds
    )
    cursor.execute(
        f"""
        CREATE TEMP TABLE mdid ON COMMIT DROP AS
        WITH slopes AS (SELECT {slopes} FROM mout o),
        rows AS (SELECT o.*, {own_baseline} FROM mout o)
        SELECT o.resident_id, count(*) FILTER (WHERE NOT o.is_resident) AS comparisons,
               ARRAY[{", ".join(f"max(o.b_{kind}) FILTER (WHERE o.is_resident)::float8" for kind, _n in kinds)}] AS b,
               ARRAY[{differences}] AS d
        FROM rows o CROSS JOIN slopes s GROUP BY o.resident_id
        """  # noqa: S608
    )
    kind_values = ", ".join(f"('{kind}', {index})" for index, (kind, _n) in enumerate(kinds, start=1))
    cursor.execute(
        f"""
        WITH cells AS (
            SELECT r.team_id, r.pcn_id, r.neighbourhood_id, r.place_id, r.cohort_month, k.kind,
                   count(*) AS eligible, count(d.resident_id) AS n, coalesce(sum(d.comparisons), 0) AS comparisons,
                   coalesce(sum(d.b[k.i]), 0) AS b, coalesce(sum(d.d[k.i]), 0) AS d,
                   coalesce(sum(d.b[k.i] * d.b[k.i]), 0) AS bb, coalesce(sum(d.d[k.i] * d.d[k.i]), 0) AS dd,
                   coalesce(sum(d.b[k.i] * d.d[k.i]), 0) AS bd
            FROM mr r
            CROSS JOIN (VALUES {kind_values}) k(kind, i)
            LEFT JOIN mdid d ON d.resident_id = r.resident_id
            GROUP BY r.team_id, r.pcn_id, r.neighbourhood_id, r.place_id, r.cohort_month, k.kind
        ),
        units AS (
            SELECT l.level, l.unit_id, c.kind, c.cohort_month,
                   sum(c.eligible)::int AS eligible, sum(c.n)::int AS n, sum(c.comparisons)::int AS comparisons,
                   sum(c.b) AS b, sum(c.d) AS d, sum(c.bb) AS bb, sum(c.dd) AS dd, sum(c.bd) AS bd
            FROM cells c
            {LEVELS_OF_CELL}
            GROUP BY GROUPING SETS ((l.level, l.unit_id, c.kind, c.cohort_month), (l.level, l.unit_id, c.kind))
        )
        INSERT INTO {T['matched']} (run_id, level, unit_id, unit_label, kind, period, eligible, n, comparisons,
                                     baseline, difference, baseline_sq, difference_sq, baseline_difference)
        SELECT %(run)s, u.level, u.unit_id, {LABEL}, u.kind, u.cohort_month, u.eligible, u.n, u.comparisons,
               u.b, u.d, u.bb, u.dd, u.bd
        FROM units u
        {label_joins("u")}
        """,  # noqa: S608
        {"run": run.pk},
    )
    return cursor.rowcount


def write_balance(cursor, run: KpiRun) -> int:
    """Per team and variable: residents against every eligible-looking person of the extract at
    the residents' start months (before), and against their comparisons, each weighted 1/k (after),
    both divided by the standard deviation pooled before matching.
    "Before" leaves out anyone with an episode at any time, a simplification documented on the
    methods page."""
    features = (
        "(VALUES ('baseline_contacts', {0}.bt::float8), ('baseline_emergency', {0}.be::float8), "
        "('trend_contacts', {0}.tr::float8), ('age', (extract(year FROM r.start)::int - {0}.birth_year)::float8), "
        "('female', CASE WHEN {0}.sex = 'F' THEN 1.0 ELSE 0.0 END)) v(variable, value)"
    )
    cursor.execute(
        f"""
        WITH weighted AS (
            -- Residents found in the extract: group 't_all' (before) and, when matched, 't' (after).
            SELECT r.team_id, 't_all' AS grp, v.variable, 1.0::float8 AS w, v.value
            FROM mr r CROSS JOIN LATERAL {features.format('r')}
            WHERE r.person_id IS NOT NULL
            UNION ALL
            SELECT r.team_id, 't', v.variable, 1.0, v.value
            FROM mr r CROSS JOIN LATERAL {features.format('r')}
            WHERE r.person_id IS NOT NULL AND EXISTS (SELECT 1 FROM mpair p WHERE p.resident_id = r.resident_id)
            UNION ALL
            -- Comparisons, each resident's weighing 1 in all.
            SELECT r.team_id, 'c', v.variable, 1.0 / count(*) OVER (PARTITION BY r.resident_id, v.variable), v.value
            FROM mpair p JOIN mr r ON r.resident_id = p.resident_id
            JOIN {T['history']} h ON h.person_id = p.person_id
            JOIN mx ON mx.extract_id = h.extract_id
            CROSS JOIN LATERAL (SELECT h.birth_year, h.sex, {_features('h', 'r.p0 - mx.first_i + 1')}) x
            CROSS JOIN LATERAL {features.format('x')}
        ),
        pool_sums AS (
            -- Everyone of the team's extract never on a caseload, at each start month of the
            -- team's residents, weighted by the residents starting then: added up from the
            -- extract's cells (their ages from the cells' birth-year sums), less the people ever
            -- referred.
            -- Added up per team and month (each version's PopulationPool, a row a month, less the
            -- people ever referred), then taken at the residents' year: the age sums expand to
            -- whole-number sums, so this is exactly what adding up the cells gives.
            SELECT r.team_id, r.w, c.people::float8 AS n,
                   c.s_bt::float8 AS s_bt, c.q_bt::float8 AS q_bt, c.s_be::float8 AS s_be, c.q_be::float8 AS q_be,
                   c.s_tr::float8 AS s_tr, c.q_tr::float8 AS q_tr,
                   (c.people * r.year - c.birth_years)::float8 AS s_age,
                   (c.people * r.year * r.year - 2 * r.year * c.birth_years + c.birth_years_sq)::float8 AS q_age,
                   c.female::float8 AS s_female, c.female::float8 AS q_female
            FROM (SELECT team_id, p0, extract(year FROM cohort_month)::int AS year, count(*)::float8 AS w FROM mr
                  WHERE person_id IS NOT NULL GROUP BY team_id, p0, cohort_month) r
            JOIN (
                SELECT c.team_id, c.p0, sum(c.people) AS people, sum(c.s_bt) AS s_bt, sum(c.q_bt) AS q_bt,
                       sum(c.s_be) AS s_be, sum(c.q_be) AS q_be, sum(c.s_tr) AS s_tr, sum(c.q_tr) AS q_tr,
                       sum(c.birth_years) AS birth_years, sum(c.birth_years_sq) AS birth_years_sq, sum(c.female) AS female
                FROM (
                    SELECT s.team_id, p.month AS p0, p.people, p.baseline_total AS s_bt, p.baseline_total_sq AS q_bt,
                           p.baseline_emergency AS s_be, p.baseline_emergency_sq AS q_be, p.earlier_total AS s_tr,
                           p.earlier_total_sq AS q_tr, p.birth_years, p.birth_years_sq, p.female
                    FROM mspan s JOIN {T['pool']} p ON p.extract_id = s.extract_id AND p.month = s.p0
                    UNION ALL
                    SELECT team_id, p0, -1, -bt, -bt::bigint * bt, -be, -be::bigint * be, -tr, -tr::bigint * tr,
                           -birth_year, -birth_year::bigint * birth_year, CASE WHEN sex = 'F' THEN -1 ELSE 0 END
                    FROM mepisode
                ) c
                GROUP BY c.team_id, c.p0
            ) c ON c.team_id = r.team_id AND c.p0 = r.p0
        ),
        pool AS (
            SELECT p.team_id, p.w, v.variable, p.n, v.sx, v.sxx
            FROM pool_sums p
            CROSS JOIN LATERAL (VALUES ('baseline_contacts', p.s_bt, p.q_bt), ('baseline_emergency', p.s_be, p.q_be),
                                       ('trend_contacts', p.s_tr, p.q_tr), ('age', p.s_age, p.q_age),
                                       ('female', p.s_female, p.q_female)) v(variable, sx, sxx)
        ),
        sums AS (
            SELECT team_id, variable, grp, sum(w) AS sw, sum(w * value) AS swx, sum(w * value * value) AS swxx
            FROM weighted GROUP BY team_id, variable, grp
            UNION ALL
            SELECT team_id, variable, 'c_all', sum(w * n), sum(w * sx), sum(w * sxx) FROM pool GROUP BY team_id, variable
        ),
        moments AS (
            SELECT team_id, variable, grp, swx / nullif(sw, 0) AS mean, swxx / nullif(sw, 0) AS mean_sq FROM sums
        ),
        sides AS (
            SELECT team_id, variable,
                   max(mean) FILTER (WHERE grp = 't_all') AS mt_all, max(mean_sq - mean * mean) FILTER (WHERE grp = 't_all') AS vt_all,
                   max(mean) FILTER (WHERE grp = 'c_all') AS mc_all, max(mean_sq - mean * mean) FILTER (WHERE grp = 'c_all') AS vc_all,
                   max(mean) FILTER (WHERE grp = 't') AS mt, max(mean_sq - mean * mean) FILTER (WHERE grp = 't') AS vt,
                   max(mean) FILTER (WHERE grp = 'c') AS mc, max(mean_sq - mean * mean) FILTER (WHERE grp = 'c') AS vc
            FROM moments GROUP BY team_id, variable
        ),
        counts AS (
            SELECT team_id, count(*) AS eligible,
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM mpair p WHERE p.resident_id = mr.resident_id)) AS matched
            FROM mr GROUP BY team_id
        )
        INSERT INTO {T['balance']} (run_id, team_id, variable, smd_before, smd_after, eligible, matched)
        SELECT %(run)s, k.team_id, s.variable,
               CASE WHEN sd.pooled > 1e-9 THEN (s.mt_all - s.mc_all) / sd.pooled
                    WHEN abs(s.mt_all - s.mc_all) < 1e-9 THEN 0 ELSE sign(s.mt_all - s.mc_all) * 'Infinity'::float8 END,
               CASE WHEN sd.pooled > 1e-9 THEN (s.mt - s.mc) / sd.pooled
                    WHEN abs(s.mt - s.mc) < 1e-9 THEN 0 ELSE sign(s.mt - s.mc) * 'Infinity'::float8 END,
               k.eligible, k.matched
        FROM counts k LEFT JOIN sides s ON s.team_id = k.team_id
        -- One yardstick before and after: the standard deviation pooled from the residents and
        -- everyone they could be compared with, before matching (so a perfectly alike set of
        -- comparisons cannot divide by zero).
        CROSS JOIN LATERAL (SELECT sqrt(greatest((s.vt_all + s.vc_all) / 2, 0)) AS pooled) sd
        WHERE s.variable IS NOT NULL
        """,  # noqa: S608
        {"run": run.pk},
    )
    return cursor.rowcount

