"""The arithmetic of the service-use KPIs, in plain Python.

The recompute does the same sums in SQL (kpis/compute.py) and stores them; the dashboard uses
these functions when it adds stored rows together (several cohort months, several teams), and
the tests use them as the reference. Everything is built from six sums per group of residents,
which add up across groups:

    n   residents            B  = sum of baseline contacts    F  = sum of follow-up contacts
    Sbb = sum of baseline²   Sff = sum of follow-up²           Sbf = sum of baseline × follow-up

The change is the ratio estimator R = F / B, shown as 100 × (R − 1) %. Its 95 % interval is
cluster-robust with the resident as the cluster (the delta method, or "linearisation"):

    Var(R) ≈ n / (n − 1) × Σ (f_i − R b_i)² / B²,   Σ (f_i − R b_i)² = Sff − 2 R Sbf + R² Sbb

taken on the log scale, so the interval never goes below −100 % and is wider upwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5th centile of the standard normal distribution


@dataclass(frozen=True)
class ChangeSums:
    n: int = 0
    baseline: int = 0
    followup: int = 0
    baseline_sq: int = 0
    followup_sq: int = 0
    baseline_followup: int = 0

    def __add__(self, other: ChangeSums) -> ChangeSums:
        return ChangeSums(
            self.n + other.n,
            self.baseline + other.baseline,
            self.followup + other.followup,
            self.baseline_sq + other.baseline_sq,
            self.followup_sq + other.followup_sq,
            self.baseline_followup + other.baseline_followup,
        )

    @classmethod
    def of_residents(cls, pairs: list[tuple[int, int]]) -> ChangeSums:
        """From each resident's (baseline, follow-up) contacts: what the SQL sums up."""
        return cls(
            n=len(pairs),
            baseline=sum(b for b, _f in pairs),
            followup=sum(f for _b, f in pairs),
            baseline_sq=sum(b * b for b, _f in pairs),
            followup_sq=sum(f * f for _b, f in pairs),
            baseline_followup=sum(b * f for b, f in pairs),
        )


@dataclass(frozen=True)
class Change:
    """A before-and-after change with its interval; None where it cannot be worked out."""

    sums: ChangeSums
    pct_change: float | None
    ci_low: float | None
    ci_high: float | None
    # Standard error of the ratio F / B, for the difference between cohorts.
    ratio_se: float | None
    too_few: bool

    @property
    def n(self) -> int:
        return self.sums.n

    @property
    def baseline(self) -> int:
        return self.sums.baseline

    @property
    def followup(self) -> int:
        return self.sums.followup


def ratio_standard_error(sums: ChangeSums) -> float | None:
    if sums.n < 2 or sums.baseline <= 0:
        return None
    ratio = sums.followup / sums.baseline
    squared_residuals = max(sums.followup_sq - 2 * ratio * sums.baseline_followup + ratio * ratio * sums.baseline_sq, 0.0)
    return math.sqrt(sums.n / (sums.n - 1) * squared_residuals) / sums.baseline


def change_with_interval(sums: ChangeSums, *, min_residents: int) -> Change:
    too_few = sums.n < min_residents
    if sums.baseline <= 0:
        return Change(sums, None, None, None, None, too_few)
    ratio = sums.followup / sums.baseline
    se = ratio_standard_error(sums)
    if se is None:
        low = high = None
    elif ratio > 0:
        spread = Z_95 * se / ratio
        low, high = 100 * (math.exp(math.log(ratio) - spread) - 1), 100 * (math.exp(math.log(ratio) + spread) - 1)
    else:
        # No follow-up contacts at all: the log scale is undefined, so the plain scale.
        low, high = 100 * (ratio - Z_95 * se - 1), 100 * (ratio + Z_95 * se - 1)
    return Change(sums, 100 * (ratio - 1), low, high, se, too_few)


@dataclass(frozen=True)
class Difference:
    """Intervention change minus comparator change, in percentage points."""

    points: float
    ci_low: float | None
    ci_high: float | None


def difference_between(intervention: Change, comparator: Change) -> Difference | None:
    """The cohorts hold different residents, so their variances add."""
    if intervention.pct_change is None or comparator.pct_change is None:
        return None
    points = intervention.pct_change - comparator.pct_change
    if intervention.ratio_se is None or comparator.ratio_se is None:
        return Difference(points, None, None)
    spread = 100 * Z_95 * math.hypot(intervention.ratio_se, comparator.ratio_se)
    return Difference(points, points - spread, points + spread)


@dataclass(frozen=True)
class Prevented:
    """Contacts prevented a year per resident supported, with its 95 % interval."""

    per_resident: float
    ci_low: float | None
    ci_high: float | None


def prevented_per_resident_per_year(sums: ChangeSums, *, window_months: int) -> Prevented | None:
    """(baseline − follow-up) per resident, scaled from the window to a year. The interval is
    the mean's: each resident's difference d = b − f, Σd² = Sbb − 2 Sbf + Sff."""
    if sums.n < 1:
        return None
    per_year = 12 / window_months
    mean = (sums.baseline - sums.followup) / sums.n
    if sums.n < 2:
        return Prevented(mean * per_year, None, None)
    sum_d_sq = sums.baseline_sq - 2 * sums.baseline_followup + sums.followup_sq
    variance = max(sum_d_sq - sums.n * mean * mean, 0.0) / (sums.n - 1)
    spread = Z_95 * math.sqrt(variance / sums.n)
    return Prevented(mean * per_year, (mean - spread) * per_year, (mean + spread) * per_year)


@dataclass(frozen=True)
class Projection:
    """What the board asks: if this many residents were supported, how many contacts a year
    would be prevented, and would that meet the ambition?"""

    residents: int
    city_contacts: int
    ambition_percent: int
    prevented: float
    prevented_low: float | None
    prevented_high: float | None

    @property
    def ambition_contacts(self) -> float:
        return self.city_contacts * self.ambition_percent / 100

    @property
    def percent_of_city(self) -> float:
        return 100 * self.prevented / self.city_contacts

    @property
    def meets_ambition(self) -> bool:
        return self.prevented >= self.ambition_contacts

    @property
    def surely_meets_ambition(self) -> bool:
        """Even the low end of the interval meets it."""
        return self.prevented_low is not None and self.prevented_low >= self.ambition_contacts


def project(prevented: Prevented, *, residents: int, city_contacts: int, ambition_percent: int) -> Projection:
    scale = lambda value: None if value is None else value * residents  # noqa: E731
    return Projection(
        residents=residents,
        city_contacts=city_contacts,
        ambition_percent=ambition_percent,
        prevented=prevented.per_resident * residents,
        prevented_low=scale(prevented.ci_low),
        prevented_high=scale(prevented.ci_high),
    )


# --- the matched effect -----------------------------------------------------------------------
# For resident i with baseline b_i and follow-up f_i, and comparisons c with b_c and f_c in the
# same calendar months: d_i = (f_i − b_i) − mean_c (f_c − b_c). The effect is E = D / B with
# D = Σ d_i and B = Σ b_i, a ratio estimator again, so its cluster-robust variance (a resident and
# their comparisons one cluster) is the same linearisation as above:
#     Var(E) ≈ n / (n − 1) × Σ (d_i − E b_i)² / B²,   Σ (d_i − E b_i)² = Sdd − 2 E Sbd + E² Sbb
# and the interval is E ± 1.96 se on the plain scale (a difference may have either sign).


@dataclass(frozen=True)
class MatchedSums:
    eligible: int = 0
    n: int = 0
    comparisons: int = 0
    baseline: float = 0.0
    difference: float = 0.0
    baseline_sq: float = 0.0
    difference_sq: float = 0.0
    baseline_difference: float = 0.0

    def __add__(self, other: MatchedSums) -> MatchedSums:
        return MatchedSums(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple:
        return (
            self.eligible, self.n, self.comparisons, self.baseline, self.difference,
            self.baseline_sq, self.difference_sq, self.baseline_difference,
        )

    @classmethod
    def of_clusters(cls, clusters: list[tuple[float, float]], *, eligible: int | None = None, comparisons: int = 0) -> MatchedSums:
        """From each matched resident's (b_i, d_i): what the SQL sums up."""
        return cls(
            eligible=len(clusters) if eligible is None else eligible,
            n=len(clusters),
            comparisons=comparisons,
            baseline=sum(b for b, _d in clusters),
            difference=sum(d for _b, d in clusters),
            baseline_sq=sum(b * b for b, _d in clusters),
            difference_sq=sum(d * d for _b, d in clusters),
            baseline_difference=sum(b * d for b, d in clusters),
        )


@dataclass(frozen=True)
class MatchedEffect:
    sums: MatchedSums
    pct: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def n(self) -> int:
        return self.sums.n

    @property
    def share_matched(self) -> float | None:
        return None if not self.sums.eligible else 100 * self.sums.n / self.sums.eligible


def matched_effect(sums: MatchedSums) -> MatchedEffect:
    if sums.n < 1 or sums.baseline <= 0:
        return MatchedEffect(sums, None, None, None)
    effect = sums.difference / sums.baseline
    if sums.n < 2:
        return MatchedEffect(sums, 100 * effect, None, None)
    residuals = max(sums.difference_sq - 2 * effect * sums.baseline_difference + effect * effect * sums.baseline_sq, 0.0)
    se = math.sqrt(sums.n / (sums.n - 1) * residuals) / sums.baseline
    return MatchedEffect(sums, 100 * effect, 100 * (effect - Z_95 * se), 100 * (effect + Z_95 * se))


def matched_prevented_per_resident_per_year(sums: MatchedSums, *, window_months: int) -> Prevented | None:
    """Contacts prevented beyond the comparisons' change: −mean d_i, scaled to a year, with the
    mean's interval (residents independent clusters)."""
    if sums.n < 1:
        return None
    per_year = 12 / window_months
    mean = -sums.difference / sums.n
    if sums.n < 2:
        return Prevented(mean * per_year, None, None)
    variance = max(sums.difference_sq - sums.n * mean * mean, 0.0) / (sums.n - 1)
    spread = Z_95 * math.sqrt(variance / sums.n)
    return Prevented(mean * per_year, (mean - spread) * per_year, (mean + spread) * per_year)
