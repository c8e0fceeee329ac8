"""What the KPI dashboard and its CSV export show, read from the current run's stored figures.

Nothing here reads caseload or service use: every number comes from KpiValue rows of the current
KpiRun, added up where the filters span several rows (months, teams) with kpis/statistics.py.
A constant number of queries whatever the number of residents or units.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.db.models import F, Q, QuerySet, Sum

from caseload.models import ServiceUseEvent

from .matching import BALANCE_VARIABLES, SMD_BAR
from .models import ALL_KINDS, Cohort, KpiRun, KpiUnits, KpiValue, Level, MatchedBalance, MatchedValue, Measure
from .statistics import (
    Change,
    ChangeSums,
    Difference,
    MatchedEffect,
    MatchedSums,
    Prevented,
    Projection,
    change_with_interval,
    difference_between,
    matched_effect,
    matched_prevented_per_resident_per_year,
    prevented_per_resident_per_year,
    project,
)

HEADLINE_KINDS = (
    ServiceUseEvent.Kind.PRIMARY_CARE_APPOINTMENT,
    ServiceUseEvent.Kind.AE_ATTENDANCE,
    ServiceUseEvent.Kind.EMERGENCY_ADMISSION,
)
KIND_LABELS: dict[str, str] = {ALL_KINDS: "All contacts", **dict(ServiceUseEvent.Kind.choices)}
PROCESS_MEASURES = (
    Measure.REFERRALS_PER_WEEK,
    Measure.DAYS_TO_FIRST_DISCUSSION,
    Measure.CASELOAD_PER_KEY_WORKER,
    Measure.ACTIONS_ON_TIME,
    Measure.OVERDUE_ACTIONS,
    Measure.GP_ATTENDANCE,
    Measure.CASES_PER_MEETING,
)
# Decision closure (kpis/compute.write_closure_values): shown beside the process measures.
CLOSURE_MEASURES = (
    Measure.DISCUSSIONS_CLOSED,
    Measure.DECISIONS_DONE_ON_TIME,
    Measure.DAYS_TO_LAST_ACTION,
    Measure.CARRIED_FORWARD,
)
COUNT_MEASURES = frozenset({Measure.OVERDUE_ACTIONS, Measure.CARRIED_FORWARD})
LEVEL_ORDER = (Level.PLACE, Level.NEIGHBOURHOOD, Level.TEAM, Level.PCN)
SUMS = {
    # Named apart from the fields, which the weighted sum below still reads row by row.
    "sum_n": Sum("n"),
    "sum_baseline": Sum("baseline"),
    "sum_followup": Sum("followup"),
    "sum_baseline_sq": Sum("baseline_sq"),
    "sum_followup_sq": Sum("followup_sq"),
    "sum_baseline_followup": Sum("baseline_followup"),
    # Means (feedback) add up as value × n.
    "weighted": Sum(F("value") * F("n")),
}


# --- what is being looked at --------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The filters, resolved: the unit(s) the headline is about and the units within them."""

    level: str
    unit_ids: frozenset[int]
    label: str
    within: KpiUnits
    # Process measures belong to teams (and places): the teams that hold this scope.
    process_units: KpiUnits
    start_from: datetime.date | None = None
    start_to: datetime.date | None = None

    @property
    def has_period(self) -> bool:
        return bool(self.start_from or self.start_to)


def scope_for(
    units: KpiUnits,
    *,
    neighbourhood_id: int | None = None,
    team_id: int | None = None,
    pcn_id: int | None = None,
    start_from: datetime.date | None = None,
    start_to: datetime.date | None = None,
) -> Scope:
    """The most specific choice wins (a PCN over its team, a team over a neighbourhood). The
    ids come from a form whose choices are the person's units; any other id is ignored."""
    period = {"start_from": start_from, "start_to": start_to}
    if pcn_id in units.pcn_ids:
        neighbourhood = units.neighbourhood_of_pcn[pcn_id]
        teams = frozenset(team for team, nb in units.neighbourhood_of_team.items() if nb == neighbourhood)
        within = KpiUnits(pcn_ids=frozenset({pcn_id}), labels=units.labels)
        return Scope(Level.PCN, within.pcn_ids, units.label(Level.PCN, pcn_id), within, KpiUnits(team_ids=teams), **period)
    if team_id in units.team_ids:
        within = units.within_team(team_id)
        return Scope(Level.TEAM, within.team_ids, units.label(Level.TEAM, team_id), within, within, **period)
    if neighbourhood_id in units.neighbourhood_ids:
        within = units.within_team(units.team_of_neighbourhood(neighbourhood_id))
        label = units.label(Level.NEIGHBOURHOOD, neighbourhood_id)
        return Scope(Level.NEIGHBOURHOOD, within.neighbourhood_ids, label, within, within, **period)
    # Everything they see: a place they see whole has one row for it; otherwise the teams' rows
    # add up to it (each resident belongs to one team).
    if units.whole_places:
        label = ", ".join(sorted(units.label(Level.PLACE, place) for place in units.place_ids))
        return Scope(Level.PLACE, units.place_ids, label, units, units, **period)
    label = "All your teams" if len(units.team_ids) > 1 else units.label(Level.TEAM, next(iter(units.team_ids)))
    return Scope(Level.TEAM, units.team_ids, label, units, units, **period)


def figures_of(run: KpiRun, units: KpiUnits) -> QuerySet[KpiValue]:
    return KpiValue.objects.of_run(run).of_units(units)


def _in_period(values: QuerySet[KpiValue], scope: Scope) -> QuerySet[KpiValue]:
    """All-months rows, or the cohort-month rows of the chosen months."""
    if not scope.has_period:
        return values.filter(period__isnull=True)
    values = values.filter(period__isnull=False)
    if scope.start_from:
        values = values.filter(period__gte=scope.start_from)
    if scope.start_to:
        values = values.filter(period__lte=scope.start_to)
    return values


def _sums(row: dict) -> ChangeSums:
    return ChangeSums(
        n=row["sum_n"] or 0,
        baseline=row["sum_baseline"] or 0,
        followup=row["sum_followup"] or 0,
        baseline_sq=row["sum_baseline_sq"] or 0,
        followup_sq=row["sum_followup_sq"] or 0,
        baseline_followup=row["sum_baseline_followup"] or 0,
    )


# --- small numbers --------------------------------------------------------------------------------


def may_disclose(residents: int) -> bool:
    """The one rule for small numbers: a figure about fewer than KPI_MIN_RESIDENTS residents is
    not shown at all (no count, percentage or interval), since with a handful of residents, or
    one, it tells what happened to a person. Every presenter below asks this."""
    return residents >= settings.KPI_MIN_RESIDENTS


def withheld_text() -> str:
    """What a withheld figure shows instead, everywhere: tiles, tables, charts' tables and the CSV."""
    return f"fewer than {settings.KPI_MIN_RESIDENTS} residents"


@dataclass(frozen=True)
class Residents:
    """A count of residents as it may be shown: below the minimum it keeps no number."""

    count: int | None

    @classmethod
    def of(cls, count: int) -> Residents:
        return cls(count if may_disclose(count) else None)

    @property
    def disclosable(self) -> bool:
        return self.count is not None

    def __str__(self) -> str:
        return f"{self.count:,} residents" if self.count is not None else withheld_text()


class Shown:
    """One of a figure's numbers, or None where the figure is withheld (about too few residents):
    `Shown("ci_low")` on a figure reads `figure.numbers.ci_low`, a dotted path going further."""

    def __init__(self, path: str) -> None:
        self.path = path.split(".")

    def __get__(self, figure, owner=None):
        if figure is None:
            return self
        value = figure.numbers
        for name in self.path:
            if value is None:
                return None
            value = getattr(value, name)
        return value


@dataclass(frozen=True)
class Figure:
    """A cohort's before-and-after change as the dashboard and the export may show it. A figure
    about too few residents keeps none of its numbers, so no template, chart or CSV row can show
    them; they show `withheld_text()`."""

    change: Change | None

    n = Shown("n")
    baseline = Shown("baseline")
    followup = Shown("followup")
    pct_change = Shown("pct_change")
    ci_low = Shown("ci_low")
    ci_high = Shown("ci_high")

    @classmethod
    def of(cls, sums: ChangeSums | None) -> Figure:
        sums = sums or ChangeSums()
        if not may_disclose(sums.n):
            return cls(None)
        return cls(change_with_interval(sums, min_residents=settings.KPI_MIN_RESIDENTS))

    @property
    def numbers(self) -> Change | None:
        return self.change

    @property
    def disclosable(self) -> bool:
        return self.change is not None

    @property
    def residents(self) -> Residents:
        return Residents(self.n)


def _change(sums: ChangeSums | None) -> Figure:
    return Figure.of(sums)


@dataclass(frozen=True)
class MatchedFigure:
    """The matched effect as it may be shown: from fewer than KPI_MIN_RESIDENTS matched residents,
    no numbers at all (like Figure)."""

    effect: MatchedEffect | None

    pct = Shown("pct")
    ci_low = Shown("ci_low")
    ci_high = Shown("ci_high")
    comparisons = Shown("sums.comparisons")
    share_matched = Shown("share_matched")

    @classmethod
    def of(cls, sums: MatchedSums) -> MatchedFigure:
        if not may_disclose(sums.n):
            return cls(None)
        return cls(matched_effect(sums))

    @property
    def numbers(self) -> MatchedEffect | None:
        return self.effect

    @property
    def disclosable(self) -> bool:
        return self.effect is not None

    @property
    def residents(self) -> Residents:
        return Residents(None if self.effect is None else self.effect.n)


MATCHED_SUMS = {
    "sum_eligible": Sum("eligible"),
    "sum_n": Sum("n"),
    "sum_comparisons": Sum("comparisons"),
    "sum_baseline": Sum("baseline"),
    "sum_difference": Sum("difference"),
    "sum_baseline_sq": Sum("baseline_sq"),
    "sum_difference_sq": Sum("difference_sq"),
    "sum_baseline_difference": Sum("baseline_difference"),
}


def _matched_sums(row: dict) -> MatchedSums:
    return MatchedSums(*(row[key] or 0 for key in MATCHED_SUMS))


def matched_values(run: KpiRun, scope: Scope) -> QuerySet[MatchedValue]:
    """The run's matched rows for the scope's units and period (as _in_period does for KpiValue)."""
    values = MatchedValue.objects.filter(run=run).filter(
        Q(level=Level.TEAM, unit_id__in=scope.within.team_ids)
        | Q(level=Level.NEIGHBOURHOOD, unit_id__in=scope.within.neighbourhood_ids)
        | Q(level=Level.PCN, unit_id__in=scope.within.pcn_ids)
        | Q(level=Level.PLACE, unit_id__in=scope.within.place_ids)
    )
    if not scope.has_period:
        return values.filter(period__isnull=True)
    values = values.filter(period__isnull=False)
    if scope.start_from:
        values = values.filter(period__gte=scope.start_from)
    if scope.start_to:
        values = values.filter(period__lte=scope.start_to)
    return values


@dataclass(frozen=True)
class BalanceRow:
    team: str
    variable: str
    smd_before: float | None
    smd_after: float | None
    eligible: int
    matched: int

    @property
    def label(self) -> str:
        return BALANCE_VARIABLES.get(self.variable, self.variable)

    @property
    def fails(self) -> bool:
        return self.smd_after is not None and abs(self.smd_after) > SMD_BAR

    @staticmethod
    def _text(smd: float | None) -> str:
        """Infinite where nobody differs within either group but the groups differ."""
        if smd is None:
            return "–"
        if math.isinf(smd):
            return "no overlap"
        return f"{smd:+.2f}".replace("-", "\u2212")

    @property
    def before_text(self) -> str:
        return self._text(self.smd_before)

    @property
    def after_text(self) -> str:
        return self._text(self.smd_after)

    @property
    def share_matched(self) -> float | None:
        return 100 * self.matched / self.eligible if self.eligible else None

    @property
    def disclosable(self) -> bool:
        return may_disclose(self.eligible)


def balance_rows(run: KpiRun, team_ids) -> list[BalanceRow]:
    order = {variable: index for index, variable in enumerate(BALANCE_VARIABLES)}
    rows = [
        BalanceRow(team_name, variable, before, after, eligible, matched)
        for team_name, variable, before, after, eligible, matched in MatchedBalance.objects.filter(run=run, team_id__in=team_ids)
        .values_list("team__name", "variable", "smd_before", "smd_after", "eligible", "matched")
    ]
    return sorted(rows, key=lambda row: (row.team, order.get(row.variable, 99)))


# --- the page's parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One kind of contact: the supported residents' change beside the comparator's."""

    kind: str
    intervention: Figure
    comparator: Figure
    # The change beyond similar people's; None where the run has no matched comparison for it.
    matched: MatchedFigure | None = None

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def plural_label(self) -> str:
        return self.label if self.kind == ALL_KINDS else f"{self.label}s"

    @property
    def difference_disclosable(self) -> bool:
        """The difference tells as much as its two cohorts: it is shown only when both are."""
        return self.intervention.disclosable and self.comparator.disclosable

    @property
    def difference(self) -> Difference | None:
        if not self.difference_disclosable:
            return None
        return difference_between(self.intervention.change, self.comparator.change)


@dataclass(frozen=True)
class ScoreCount:
    score: int
    residents: int
    percent: float


@dataclass(frozen=True)
class Feedback:
    """The step-down scores; from too few residents, no mean, count or distribution at all."""

    mean: float | None
    residents: Residents
    distribution: list[ScoreCount]

    @classmethod
    def of(cls, *, total: float | None, residents: int, scores: dict[int, int]) -> Feedback:
        if not may_disclose(residents):
            return cls(None, Residents(None), [])
        return cls(
            mean=total / residents if total is not None else None,
            residents=Residents(residents),
            distribution=[
                ScoreCount(score, scores.get(score, 0), 100 * scores.get(score, 0) / residents) for score in range(5, 0, -1)
            ],
        )

    @property
    def disclosable(self) -> bool:
        return self.residents.disclosable


@dataclass
class Headline:
    outcomes: dict[str, Outcome]
    feedback: Feedback
    residents_supported: Residents
    residents_compared: Residents
    in_progress: Residents
    # Both come from the matched effect (contacts prevented beyond what similar people not
    # supported did): none when it is withheld or cannot be judged.
    prevented: Prevented | None
    projection: Projection | None
    # Before/after only: the supported residents' contacts before less after, a year.
    prevented_before_after: Prevented | None = None
    # The run compared the scope's residents with people of a population extract.
    matched_available: bool = False
    # Teams in the scope whose matching misses the balance bar on some variable.
    unbalanced_teams: list[str] = field(default_factory=list)

    @property
    def tiles(self) -> list[Outcome]:
        return [self.outcomes[kind] for kind in HEADLINE_KINDS]

    @property
    def by_kind(self) -> list[UnitOutcome]:
        """One row per kind, shaped like the level tables' rows so one table template serves both."""
        return [
            UnitOutcome("kind", 0, outcome.plural_label, outcome)
            for outcome in (self.outcomes[ALL_KINDS], *(self.outcomes[kind] for kind in ServiceUseEvent.Kind.values))
        ]

    @property
    def supported_complete(self) -> Residents:
        return self.outcomes[ALL_KINDS].intervention.residents

    @property
    def matched_residents(self) -> Residents:
        matched = self.outcomes[ALL_KINDS].matched
        return matched.residents if matched else Residents(None)

    @property
    def prevented_per_year(self) -> float | None:
        return None if self.prevented is None else self.prevented.per_resident * self.matched_residents.count

    @property
    def prevented_per_year_low(self) -> float | None:
        if self.prevented is None or self.prevented.ci_low is None:
            return None
        return self.prevented.ci_low * self.matched_residents.count

    @property
    def prevented_per_year_high(self) -> float | None:
        if self.prevented is None or self.prevented.ci_high is None:
            return None
        return self.prevented.ci_high * self.matched_residents.count

    @property
    def before_after_per_year(self) -> float | None:
        if self.prevented_before_after is None:
            return None
        return self.prevented_before_after.per_resident * self.supported_complete.count


def headline_for(run: KpiRun, scope: Scope, *, projected_residents: int) -> Headline:
    rows = (
        _in_period(figures_of(run, scope.within), scope)
        .filter(level=scope.level, unit_id__in=scope.unit_ids)
        .filter(measure__in=[Measure.SERVICE_USE, Measure.IN_PROGRESS, Measure.FEEDBACK, Measure.FEEDBACK_SCORE])
        .values("measure", "kind", "cohort")
        .annotate(**SUMS)
        .order_by()
    )
    by_key = {(row["measure"], row["kind"], row["cohort"]): row for row in rows}

    def sums(kind: str, cohort: str) -> ChangeSums | None:
        row = by_key.get((Measure.SERVICE_USE, kind, cohort))
        return _sums(row) if row else None

    matched_rows = {
        row["kind"]: _matched_sums(row)
        for row in matched_values(run, scope).filter(level=scope.level, unit_id__in=scope.unit_ids)
        .values("kind").annotate(**MATCHED_SUMS).order_by()
    }
    outcomes = {
        kind: Outcome(
            kind,
            _change(sums(kind, Cohort.INTERVENTION)),
            _change(sums(kind, Cohort.COMPARATOR)),
            MatchedFigure.of(matched_rows[kind]) if kind in matched_rows else None,
        )
        for kind in (ALL_KINDS, *ServiceUseEvent.Kind.values)
    }
    def complete(cohort):
        return (sums(ALL_KINDS, cohort) or ChangeSums()).n
    def count(measure, cohort):
        return (by_key.get((measure, ALL_KINDS, cohort)) or {}).get("sum_n") or 0
    feedback_row = by_key.get((Measure.FEEDBACK, ALL_KINDS, Cohort.INTERVENTION)) or {}
    scores = {int(kind): row["sum_n"] for (measure, kind, _cohort), row in by_key.items() if measure == Measure.FEEDBACK_SCORE}
    feedback = Feedback.of(total=feedback_row.get("weighted"), residents=feedback_row.get("sum_n") or 0, scores=scores)
    supported = sums(ALL_KINDS, Cohort.INTERVENTION)
    before_after = (
        prevented_per_resident_per_year(supported, window_months=run.window_months)
        if outcomes[ALL_KINDS].intervention.disclosable
        else None
    )
    matched_all = outcomes[ALL_KINDS].matched
    prevented = (
        matched_prevented_per_resident_per_year(matched_rows[ALL_KINDS], window_months=run.window_months)
        if matched_all and matched_all.disclosable
        else None
    )
    projection = (
        project(
            prevented,
            residents=projected_residents,
            city_contacts=settings.KPI_CITY_CONTACTS_PER_YEAR,
            ambition_percent=settings.KPI_AMBITION_PERCENT,
        )
        if prevented
        else None
    )
    unbalanced = sorted({row.team for row in balance_rows(run, scope.process_units.team_ids) if row.fails and row.disclosable})
    return Headline(
        outcomes=outcomes,
        feedback=feedback,
        # Everyone with a window: counted (follow-up complete) or still in progress.
        residents_supported=Residents.of(complete(Cohort.INTERVENTION) + count(Measure.IN_PROGRESS, Cohort.INTERVENTION)),
        residents_compared=Residents.of(complete(Cohort.COMPARATOR) + count(Measure.IN_PROGRESS, Cohort.COMPARATOR)),
        in_progress=Residents.of(count(Measure.IN_PROGRESS, Cohort.INTERVENTION)),
        prevented=prevented,
        projection=projection,
        prevented_before_after=before_after,
        matched_available=bool(matched_rows),
        unbalanced_teams=unbalanced,
    )


@dataclass(frozen=True)
class TrendMonth:
    month: datetime.date
    all_contacts: Outcome
    by_kind: list[Outcome]


@dataclass
class Trend:
    months: list[TrendMonth]

    def chart_data(self) -> dict:
        """What static/js/kpis_dashboard.mjs draws (through json_script); the tables beside the
        charts show the same numbers. A month whose figure is withheld (too few residents) is a gap:
        the chart gets no number for it."""

        def point(figure: Figure) -> float | None:
            return None if figure.pct_change is None else round(figure.pct_change, 1)

        return {
            "months": [f"{month.month:%b %Y}" for month in self.months],
            "cohorts": [
                {"key": Cohort.INTERVENTION.value, "label": Cohort.INTERVENTION.label,
                 "values": [point(m.all_contacts.intervention) for m in self.months]},
                {"key": Cohort.COMPARATOR.value, "label": Cohort.COMPARATOR.label,
                 "values": [point(m.all_contacts.comparator) for m in self.months]},
            ],
            "kinds": [
                {"key": kind.value, "label": kind.label, "values": [point(m.by_kind[index].intervention) for m in self.months]}
                for index, kind in enumerate(HEADLINE_KINDS)
            ],
        }


def trend_for(run: KpiRun, scope: Scope) -> Trend:
    values = figures_of(run, scope.within).filter(
        level=scope.level, unit_id__in=scope.unit_ids, measure=Measure.SERVICE_USE,
        kind__in=[ALL_KINDS, *HEADLINE_KINDS], period__isnull=False,
    )
    if scope.start_from:
        values = values.filter(period__gte=scope.start_from)
    if scope.start_to:
        values = values.filter(period__lte=scope.start_to)
    cells: dict[tuple[datetime.date, str, str], ChangeSums] = {
        (row["period"], row["kind"], row["cohort"]): _sums(row)
        for row in values.values("period", "kind", "cohort").annotate(**SUMS).order_by()
    }
    months = sorted({period for period, _kind, _cohort in cells})

    def outcome(month: datetime.date, kind: str) -> Outcome:
        return Outcome(
            kind, _change(cells.get((month, kind, Cohort.INTERVENTION))), _change(cells.get((month, kind, Cohort.COMPARATOR)))
        )

    return Trend([TrendMonth(month, outcome(month, ALL_KINDS), [outcome(month, kind) for kind in HEADLINE_KINDS]) for month in months])


@dataclass(frozen=True)
class UnitOutcome:
    level: str
    unit_id: int
    unit: str
    outcome: Outcome


@dataclass
class LevelTable:
    level: str
    rows: list[UnitOutcome]

    @property
    def label(self) -> str:
        return Level(self.level).label


def unit_outcomes(run: KpiRun, scope: Scope, *, kinds: list[str]) -> list[UnitOutcome]:
    """Every unit within the scope, at every level, for these kinds: the tables and the export."""
    rows = (
        _in_period(figures_of(run, scope.within), scope)
        .filter(measure=Measure.SERVICE_USE, kind__in=kinds)
        .values("level", "unit_id", "unit_label", "kind", "cohort")
        .annotate(**SUMS)
        .order_by()
    )
    cells: dict[tuple[str, int, str], dict[str, ChangeSums]] = defaultdict(dict)
    labels: dict[tuple[str, int], str] = {}
    for row in rows:
        cells[(row["level"], row["unit_id"], row["kind"])][row["cohort"]] = _sums(row)
        labels[(row["level"], row["unit_id"])] = row["unit_label"]
    matched = {
        (row["level"], row["unit_id"], row["kind"]): _matched_sums(row)
        for row in matched_values(run, scope).filter(kind__in=kinds)
        .values("level", "unit_id", "kind").annotate(**MATCHED_SUMS).order_by()
    }
    kind_order = {kind: index for index, kind in enumerate(kinds)}
    level_order = {level: index for index, level in enumerate(LEVEL_ORDER)}
    keys = sorted(cells, key=lambda key: (level_order[key[0]], labels[key[:2]], kind_order[key[2]]))
    return [
        UnitOutcome(
            level,
            unit_id,
            labels[(level, unit_id)],
            Outcome(
                kind,
                _change(cells[(level, unit_id, kind)].get(Cohort.INTERVENTION)),
                _change(cells[(level, unit_id, kind)].get(Cohort.COMPARATOR)),
                MatchedFigure.of(matched[(level, unit_id, kind)]) if (level, unit_id, kind) in matched else None,
            ),
        )
        for level, unit_id, kind in keys
    ]


def level_tables(run: KpiRun, scope: Scope, *, kind: str) -> list[LevelTable]:
    by_level: dict[str, list[UnitOutcome]] = defaultdict(list)
    for row in unit_outcomes(run, scope, kinds=[kind]):
        by_level[row.level].append(row)
    return [LevelTable(level, by_level[level]) for level in LEVEL_ORDER if by_level.get(level)]


def residents_behind(measure: str, value: float | None, n: int, residents: int | None = None) -> int | None:
    """How many residents a process figure is about, or None for one about actions or meetings.
    Referrals and waits count residents (n); caseload per key worker is active residents over
    key workers (n), so value × n residents; the decision-closure figures count discussions,
    decisions or items, and the run stored how many residents those were about."""
    if measure in CLOSURE_MEASURES:
        return residents or 0
    if measure in (Measure.REFERRALS_PER_WEEK, Measure.DAYS_TO_FIRST_DISCUSSION):
        return n
    if measure == Measure.CASELOAD_PER_KEY_WORKER:
        return round((value or 0) * n)
    return None


@dataclass(frozen=True)
class ProcessCell:
    """One process figure as it may be shown: withheld, like the outcomes, when it is about
    fewer than KPI_MIN_RESIDENTS residents."""

    value: float | None
    n: int | None
    is_count: bool
    disclosable: bool = True

    @classmethod
    def of(cls, measure: str, value: float | None, n: int, residents: int | None = None) -> ProcessCell:
        is_count = measure in COUNT_MEASURES
        about = residents_behind(measure, value, n, residents)
        # A count (items carried forward) is a figure even when it is nought or empty.
        if (value is not None or is_count) and about is not None and not may_disclose(about):
            return cls(None, None, is_count, disclosable=False)
        return cls(value, n, is_count)


@dataclass
class ProcessRow:
    level: str
    unit: str
    figures: dict[str, tuple[float | None, int, int | None]] = field(default_factory=dict)

    def cells(self) -> list[ProcessCell]:
        """In column order."""
        return self._cells(PROCESS_MEASURES)

    def closure_cells(self) -> list[ProcessCell]:
        return self._cells(CLOSURE_MEASURES)

    def _cells(self, measures: tuple[str, ...]) -> list[ProcessCell]:
        return [ProcessCell.of(measure, *self.figures.get(measure, (None, 0, None))) for measure in measures]


def process_rows(run: KpiRun, scope: Scope) -> list[ProcessRow]:
    """The process and decision-closure figures of the scope's teams (and places), in one query."""
    values = figures_of(run, scope.process_units).filter(measure__in=PROCESS_MEASURES + CLOSURE_MEASURES, period__isnull=True)
    rows: dict[tuple[str, int], ProcessRow] = {}
    for level, unit_id, unit_label, measure, value, n, residents in values.values_list(
        "level", "unit_id", "unit_label", "measure", "value", "n", "residents"
    ):
        row = rows.setdefault((level, unit_id), ProcessRow(level, unit_label))
        row.figures[measure] = (value, n, residents)
    return sorted(rows.values(), key=lambda row: (LEVEL_ORDER.index(row.level), row.unit))


def process_headers() -> list[str]:
    return [Measure(measure).label for measure in PROCESS_MEASURES]


def closure_headers() -> list[str]:
    return [Measure(measure).label for measure in CLOSURE_MEASURES]


# --- the export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "level", "unit", "kind", "residents", "baseline", "followup", "pct_change", "ci_low", "ci_high", "comparator_pct_change",
    # The matched effect (change beyond similar people not supported), after the columns above.
    "matched_effect_pct", "matched_ci_low", "matched_ci_high", "matched_comparisons",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet would run as a formula gets a leading quote. Only for text:
    numbers (a change of -12.5, say) stay numbers."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _matched_cells(matched: MatchedFigure | None) -> list[str | int]:
    """Empty where the run has no matched comparison; withheld below the minimum like the rest."""
    if matched is None:
        return ["", "", "", ""]
    if not matched.disclosable:
        return [withheld_text(), "", "", ""]
    return [_number(matched.pct), _number(matched.ci_low), _number(matched.ci_high), matched.comparisons]


def _export_row(row: UnitOutcome) -> list[str | int]:
    """A withheld figure's residents cell says so and its numbers are empty; the comparator's
    cell likewise."""
    supported, comparator = row.outcome.intervention, row.outcome.comparator
    numbers: list[str | int] = (
        [supported.n, supported.baseline, supported.followup,
         _number(supported.pct_change), _number(supported.ci_low), _number(supported.ci_high)]
        if supported.disclosable
        else [withheld_text(), "", "", "", "", ""]
    )
    return [
        row.level,
        spreadsheet_safe(row.unit),
        row.outcome.kind,
        *numbers,
        _number(comparator.pct_change) if comparator.disclosable else withheld_text(),
        *_matched_cells(row.outcome.matched),
    ]


def export_rows(run: KpiRun, scope: Scope) -> list[list[str | int]]:
    kinds = [ALL_KINDS, *ServiceUseEvent.Kind.values]
    return [_export_row(row) for row in unit_outcomes(run, scope, kinds=kinds)]


# --- the page -----------------------------------------------------------------------------------


class DashboardFigures:
    """Everything the figures region shows, worked out only when the template first asks: the
    region is cached per run and filters, and a cached region asks for nothing."""

    def __init__(self, run: KpiRun, scope: Scope, *, kind: str, projected_residents: int) -> None:
        self.run, self.scope, self.kind, self.projected_residents = run, scope, kind, projected_residents

    @property
    def cache_key(self) -> str:
        """Run, units (so whose figures) and filters: everything the region depends on."""
        scope, within = self.scope, self.scope.within
        parts = [
            self.run.pk, scope.level, sorted(scope.unit_ids), sorted(within.team_ids), sorted(within.pcn_ids),
            sorted(within.neighbourhood_ids), sorted(within.place_ids), sorted(scope.process_units.team_ids),
            sorted(scope.process_units.place_ids), scope.start_from, scope.start_to, self.kind, self.projected_residents,
            # A region cached under a lower minimum would show figures now withheld.
            settings.KPI_MIN_RESIDENTS,
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    @cached_property
    def headline(self) -> Headline:
        return headline_for(self.run, self.scope, projected_residents=self.projected_residents)

    @cached_property
    def trend(self) -> Trend:
        return trend_for(self.run, self.scope)

    @cached_property
    def chart_data(self) -> dict:
        return self.trend.chart_data()

    @cached_property
    def tables(self) -> list[LevelTable]:
        return level_tables(self.run, self.scope, kind=self.kind)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @cached_property
    def process_rows(self) -> list[ProcessRow]:
        return process_rows(self.run, self.scope)

    @property
    def process_headers(self) -> list[str]:
        return process_headers()

    @property
    def closure_headers(self) -> list[str]:
        return closure_headers()
