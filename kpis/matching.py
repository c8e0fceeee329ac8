"""The matched comparison: for each supported resident with a complete window, up to three people
of the team's population extract who were not supported and were alike at the start, and the
difference-in-differences against them (docs/adr/0021-matched-comparison.md).

All of it is SQL inside the KPI run's transaction, so its rows switch with the run:

1. `matched_people`: every person of the current extracts, with cumulative monthly contacts (all
   kinds, and the emergency kinds) as two arrays over one calendar of months, so any run of months
   is two array reads. One pass over the extracts' contacts.
2. `match_residents`: each resident's features from their own row in the extract; then, per
   resident, the closest eligible people of their PCN (their place when the PCN has too few), by
   one ordered, limited scan of their stratum (MatchedPair).
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

from caseload.models import EMERGENCY_KINDS, KIND_NUMBERS, PopulationContacts, PopulationExtract, PopulationPerson, Resident
from int_app.teams.models import PCN, Neighbourhood, Practice, Team

from .models import ALL_KINDS, Cohort, KpiRun, MatchedBalance, MatchedPair, MatchedValue, ResidentWindow

# Comparison people per resident, at most.
MATCHES = 3
# Matched on contacts in the 6 months before S; ties broken by the 6 months before those.
MATCH_MONTHS = 6
TREND_MONTHS = 6
AGE_BAND_YEARS = 10
# The bar evaluators use for balance: an absolute standardised mean difference above it fails.
SMD_BAR = 0.1
BALANCE_VARIABLES = {
    "baseline_contacts": "Contacts in the 6 months before the start",
    "baseline_emergency": "Emergency contacts (A&E, emergency admissions, ambulance) in the 6 months before",
    "trend_contacts": "Contacts 7 to 12 months before the start",
    "age": "Age",
    "female": "Share who are female",
}

T = {
    "person": PopulationPerson._meta.db_table,
    "contacts": PopulationContacts._meta.db_table,
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
}
MONTH_INDEX = "(extract(year FROM {0})::int * 12 + extract(month FROM {0})::int - 1)"


def _month_index(column: str) -> str:
    return MONTH_INDEX.format(column)


def write_matched(cursor, run: KpiRun) -> int:
    """The whole matched comparison for a run; returns the MatchedValue and MatchedBalance rows
    written (none without a current extract)."""
    if not matched_people(cursor):
        return 0
    match_residents(cursor, run)
    return write_matched_values(cursor, run) + write_balance(cursor, run)


# --- 1. people ------------------------------------------------------------------------------------


def matched_people(cursor) -> bool:
    """`mp`: the current extracts' people with cumulative contacts. False when there is no extract."""
    cursor.execute(
        f"SELECT min({_month_index('first_month')}), max({_month_index('last_month')}) "  # noqa: S608
        f"FROM {T['extract']} WHERE is_current"
    )
    origin, last = cursor.fetchone()
    cursor.execute("DROP TABLE IF EXISTS mp, mr, mpair, mout, mdid, m_origin")
    if origin is None:
        return False
    months = last - origin + 1
    emergency = [KIND_NUMBERS[kind] for kind in EMERGENCY_KINDS]
    # ct[k]: contacts in the months before calendar position k (position 1 is the first month of
    # any current extract); a run of months [a, b) is ct[b] - ct[a]. Each contact row's position
    # and emergency count are worked out once (OFFSET 0 keeps them in their own step), so the
    # sums below only compare integers.
    cumulative_total = ", ".join(f"coalesce(sum(c.contacts) FILTER (WHERE c.pos < {k}), 0)::int" for k in range(1, months + 2))
    cumulative_emergency = ", ".join(f"coalesce(sum(c.emergency) FILTER (WHERE c.pos < {k}), 0)::int" for k in range(1, months + 2))
    month_position = "((extract(year FROM raw.month)::int * 12 + extract(month FROM raw.month)::int - 1) - %(origin)s + 1)"
    cursor.execute(
        f"""
        CREATE TEMP TABLE mp ON COMMIT DROP AS
        WITH counts AS (
            SELECT c.person_id, ARRAY[{cumulative_total}] AS ct, ARRAY[{cumulative_emergency}] AS ce
            FROM (
                SELECT raw.person_id, raw.contacts, {month_position} AS pos,
                       CASE WHEN raw.kind = ANY(%(emergency)s) THEN raw.contacts ELSE 0 END AS emergency
                FROM {T['contacts']} raw
                JOIN {T['extract']} x ON x.id = raw.extract_id AND x.is_current
                OFFSET 0
            ) c
            GROUP BY c.person_id
        ),
        referred AS (SELECT DISTINCT nhs_number FROM {T['resident']})
        SELECT p.id AS person_id, p.nhs_number AS nhs, x.team_id, pr.pcn_id, nb.place_id, p.sex, p.birth_year,
               {_month_index('x.first_month')} - %(origin)s + 1 AS first_p,
               {_month_index('x.last_month')} - %(origin)s + 1 AS last_p,
               referred.nhs_number IS NOT NULL AS has_episode,
               coalesce(counts.ct, array_fill(0, ARRAY[%(cells)s])) AS ct,
               coalesce(counts.ce, array_fill(0, ARRAY[%(cells)s])) AS ce
        FROM {T['person']} p
        JOIN {T['extract']} x ON x.id = p.extract_id AND x.is_current
        JOIN {T['practice']} pr ON pr.id = p.practice_id
        JOIN {T['team']} t ON t.id = x.team_id
        JOIN {T['neighbourhood']} nb ON nb.id = t.neighbourhood_id
        LEFT JOIN counts ON counts.person_id = p.id
        LEFT JOIN referred ON referred.nhs_number = p.nhs_number
        -- Written in the order the matcher reads it, so a resident's stratum is a few adjacent
        -- pages (a TEMP table lives in the session's small local buffers, not shared memory).
        ORDER BY pr.pcn_id, p.sex, p.birth_year
        """,  # noqa: S608 - table names are ours
        {"emergency": emergency, "origin": origin, "cells": months + 1},
    )
    cursor.execute("CREATE INDEX ON mp (pcn_id, sex, birth_year)")
    cursor.execute("CREATE INDEX ON mp (place_id, sex, birth_year)")
    cursor.execute("CREATE INDEX ON mp (team_id, nhs)")
    cursor.execute("ANALYZE mp")
    cursor.execute("CREATE TEMP TABLE m_origin ON COMMIT DROP AS SELECT %s::int AS origin", [origin])
    return True


# --- 2. matching ----------------------------------------------------------------------------------

# A person is eligible for a resident if, at the resident's start, they were on no caseload (an
# episode from its referral to its closing; a referral not accepted ends at triage) and had no
# referral from the start of the resident's baseline to the end of their follow-up. Only people
# with an episode anywhere are looked up (CASE keeps the order).
ELIGIBLE = f"""
    CASE WHEN NOT c.has_episode THEN TRUE ELSE NOT EXISTS (
        SELECT 1 FROM {T['resident']} e
        WHERE e.nhs_number = c.nhs
          AND ((e.referral_date <= r.start
                AND r.start < CASE WHEN e.status = 'not_accepted' THEN coalesce(e.triaged_on, e.referral_date)
                                   ELSE coalesce(e.closed_on, 'infinity'::date) END)
               OR (e.referral_date >= r.window_start AND e.referral_date < r.window_end))
    ) END
"""  # noqa: S608


def _candidates(within: str) -> str:
    """The closest eligible people of the resident's stratum: same `within` (PCN or place), sex and
    age band at S, an extract that covers the resident's months; nearest baseline use (all
    contacts and emergency contacts, absolute differences added), then nearest earlier use, then
    NHS number, so the choice never depends on the order rows are read in."""
    return f"""
        SELECT c.person_id,
               abs((c.ct[r.p0] - c.ct[r.p0 - {MATCH_MONTHS}]) - r.bt) + abs((c.ce[r.p0] - c.ce[r.p0 - {MATCH_MONTHS}]) - r.be) AS distance,
               abs((c.ct[r.p0 - {MATCH_MONTHS}] - c.ct[r.p0 - {MATCH_MONTHS + TREND_MONTHS}]) - r.tr) AS trend_distance,
               c.nhs
        FROM mp c
        WHERE c.{within} = r.{within} AND c.sex = r.sex AND c.birth_year BETWEEN r.born_from AND r.born_to
          AND c.first_p <= r.p_from AND c.last_p >= r.p_to AND c.person_id <> r.person_id
          AND {ELIGIBLE}
        ORDER BY distance, trend_distance, c.nhs
        LIMIT {MATCHES}
    """


def match_residents(cursor, run: KpiRun) -> None:
    window = run.window_months
    reach = max(window, MATCH_MONTHS + TREND_MONTHS)
    # mr: every supported resident with a complete window, with their features where their team's
    # current extract holds them and covers their months (p0 is the calendar position of the month
    # of S); the rest stay, unmatched, so the share matched counts them.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mr ON COMMIT DROP AS
        SELECT w.resident_id, w.team_id, w.pcn_id, w.neighbourhood_id, w.place_id, w.cohort_month, w.start,
               (w.cohort_month - make_interval(months => %(window)s))::date AS window_start,
               (w.cohort_month + make_interval(months => %(window)s))::date AS window_end,
               p.person_id, p.sex, p.birth_year,
               extract(year FROM w.start)::int - p.birth_year AS age,
               extract(year FROM w.start)::int - ((extract(year FROM w.start)::int - p.birth_year) / {AGE_BAND_YEARS}) * {AGE_BAND_YEARS} - {AGE_BAND_YEARS - 1} AS born_from,
               extract(year FROM w.start)::int - ((extract(year FROM w.start)::int - p.birth_year) / {AGE_BAND_YEARS}) * {AGE_BAND_YEARS} AS born_to,
               pos.p0, pos.p0 - %(reach)s AS p_from, pos.p0 + %(window)s - 1 AS p_to,
               p.ct[pos.p0] - p.ct[pos.p0 - {MATCH_MONTHS}] AS bt,
               p.ce[pos.p0] - p.ce[pos.p0 - {MATCH_MONTHS}] AS be,
               p.ct[pos.p0 - {MATCH_MONTHS}] - p.ct[pos.p0 - {MATCH_MONTHS + TREND_MONTHS}] AS tr
        FROM {T['window']} w
        JOIN {T['resident']} res ON res.id = w.resident_id
        CROSS JOIN m_origin o
        CROSS JOIN LATERAL (SELECT {_month_index('w.cohort_month')} - o.origin + 1 AS p0) pos
        LEFT JOIN mp p ON p.team_id = w.team_id AND p.nhs = res.nhs_number
             AND p.first_p <= pos.p0 - %(reach)s AND p.last_p >= pos.p0 + %(window)s - 1
        WHERE w.cohort = %(intervention)s AND w.complete
        """,  # noqa: S608
        {"window": window, "reach": reach, "intervention": Cohort.INTERVENTION},
    )
    cursor.execute("ANALYZE mr")
    cursor.execute(
        f"""
        CREATE TEMP TABLE mpair ON COMMIT DROP AS
        SELECT r.resident_id, (row_number() OVER (PARTITION BY r.resident_id ORDER BY m.distance, m.trend_distance, m.nhs))::int AS rank,
               m.person_id, FALSE AS within_place
        FROM (SELECT * FROM mr WHERE person_id IS NOT NULL ORDER BY pcn_id, sex, birth_year OFFSET 0) r
        CROSS JOIN LATERAL ({_candidates('pcn_id')}) m
        """  # noqa: S608
    )
    # The PCN had too few: the resident's place instead.
    cursor.execute(
        f"""
        WITH short AS (
            SELECT r.resident_id FROM mr r LEFT JOIN mpair p ON p.resident_id = r.resident_id
            WHERE r.person_id IS NOT NULL GROUP BY r.resident_id HAVING count(p.person_id) < {MATCHES}
        ), removed AS (
            DELETE FROM mpair WHERE resident_id IN (SELECT resident_id FROM short)
        )
        INSERT INTO mpair
        SELECT r.resident_id, (row_number() OVER (PARTITION BY r.resident_id ORDER BY m.distance, m.trend_distance, m.nhs))::int,
               m.person_id, TRUE
        FROM mr r JOIN short s ON s.resident_id = r.resident_id
        CROSS JOIN LATERAL ({_candidates('place_id')}) m
        """  # noqa: S608
    )
    cursor.execute(
        f"INSERT INTO {T['pair']} (run_id, resident_id, rank, comparison_id, within_place) "  # noqa: S608
        "SELECT %s, resident_id, rank, person_id, within_place FROM mpair",
        [run.pk],
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
            f"coalesce(sum(c.contacts) FILTER (WHERE {of_kind} AND c.month < s.cohort_month), 0) AS b_{kind}",
            f"coalesce(sum(c.contacts) FILTER (WHERE {of_kind} AND c.month >= s.cohort_month), 0) AS f_{kind}",
        ]
    # Each resident's own row, and each of their comparisons', counted in the resident's months.
    cursor.execute(
        f"""
        CREATE TEMP TABLE mout ON COMMIT DROP AS
        WITH subjects AS (
            SELECT r.resident_id, r.person_id, TRUE AS is_resident, r.cohort_month, r.window_start, r.window_end
            FROM mr r WHERE r.person_id IS NOT NULL AND EXISTS (SELECT 1 FROM mpair p WHERE p.resident_id = r.resident_id)
            UNION ALL
            SELECT r.resident_id, p.person_id, FALSE, r.cohort_month, r.window_start, r.window_end
            FROM mpair p JOIN mr r ON r.resident_id = p.resident_id
        )
        SELECT s.resident_id, s.is_resident, {", ".join(sides)}
        FROM subjects s
        LEFT JOIN {T['contacts']} c ON c.person_id = s.person_id AND c.month >= s.window_start AND c.month < s.window_end
        GROUP BY s.resident_id, s.person_id, s.is_resident, s.cohort_month
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
        "(VALUES ('baseline_contacts', (x.ct[r.p0] - x.ct[r.p0 - {m}])::float8), "
        "('baseline_emergency', (x.ce[r.p0] - x.ce[r.p0 - {m}])::float8), "
        "('trend_contacts', (x.ct[r.p0 - {m}] - x.ct[r.p0 - {mt}])::float8), "
        "('age', (extract(year FROM r.start)::int - x.birth_year)::float8), "
        "('female', CASE WHEN x.sex = 'F' THEN 1.0 ELSE 0.0 END)) v(variable, value)"
    ).format(m=MATCH_MONTHS, mt=MATCH_MONTHS + TREND_MONTHS)
    cursor.execute(
        f"""
        WITH weighted AS (
            -- Residents found in the extract: group 't_all' (before) and, when matched, 't' (after).
            SELECT r.team_id, 't_all' AS grp, v.variable, 1.0::float8 AS w, v.value
            FROM mr r JOIN mp x ON x.person_id = r.person_id CROSS JOIN LATERAL {features}
            UNION ALL
            SELECT r.team_id, 't', v.variable, 1.0, v.value
            FROM mr r JOIN mp x ON x.person_id = r.person_id CROSS JOIN LATERAL {features}
            WHERE EXISTS (SELECT 1 FROM mpair p WHERE p.resident_id = r.resident_id)
            UNION ALL
            -- Comparisons, each resident's weighing 1 in all.
            SELECT r.team_id, 'c', v.variable, 1.0 / count(*) OVER (PARTITION BY r.resident_id, v.variable), v.value
            FROM mpair p JOIN mr r ON r.resident_id = p.resident_id JOIN mp x ON x.person_id = p.person_id
            CROSS JOIN LATERAL {features}
        ),
        pool_sums AS (
            -- Everyone of the team's extract never on a caseload, at each start month of the
            -- team's residents, weighted by the residents starting then: sums per month first,
            -- one row a person and month (no row per variable).
            SELECT r.team_id, r.w, count(*)::float8 AS n,
                   sum(f.bt) AS s_bt, sum(f.bt * f.bt) AS q_bt, sum(f.be) AS s_be, sum(f.be * f.be) AS q_be,
                   sum(f.tr) AS s_tr, sum(f.tr * f.tr) AS q_tr, sum(f.age) AS s_age, sum(f.age * f.age) AS q_age,
                   sum(f.female) AS s_female, sum(f.female) AS q_female
            FROM (SELECT team_id, p0, extract(year FROM cohort_month)::int AS year, count(*)::float8 AS w FROM mr
                  WHERE person_id IS NOT NULL GROUP BY team_id, p0, cohort_month) r
            JOIN mp x ON x.team_id = r.team_id AND NOT x.has_episode
            CROSS JOIN LATERAL (SELECT (x.ct[r.p0] - x.ct[r.p0 - {MATCH_MONTHS}])::float8 AS bt,
                                       (x.ce[r.p0] - x.ce[r.p0 - {MATCH_MONTHS}])::float8 AS be,
                                       (x.ct[r.p0 - {MATCH_MONTHS}] - x.ct[r.p0 - {MATCH_MONTHS + TREND_MONTHS}])::float8 AS tr,
                                       (r.year - x.birth_year)::float8 AS age,
                                       CASE WHEN x.sex = 'F' THEN 1.0 ELSE 0.0 END::float8 AS female) f
            GROUP BY r.team_id, r.p0, r.w
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

