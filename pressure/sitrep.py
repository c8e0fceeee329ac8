"""The weekly situation report the PCN lead and the place read (GPAS's "sitrep"): return rate, the
share of practices at each level and each OPEL value, the patients of practices at amber (OPEL 2,
the bulletin's level 4 of 6) or above, and activity per 1,000 patients.

Who sees what: a person who may read the situation report in a team (VIEW_PLACE_SITREP: the PCN
lead, the coordinator and the ICB's place lead) sees the place (or places) of those teams. The
practices of the PCNs of teams where they view pressure are named, with their figures (the place
lead has none); the rest of the place is only counted, and only when at least MIN_PRACTICES_SHOWN practices lie outside their PCNs (the small-
number rule: with fewer, the place's figures less their own PCNs' would show what a handful of
named-by-elimination practices reported)."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from int_app.teams.models import PCN, Place, Practice
from int_app.teams.roles import Right

from .models import PressureReport, activity_per_1000, week_start_of
from .scales import AMBER_OPEL, OPEL_VALUES, Level, Scale
from .services import report_deadline

MIN_PRACTICES_SHOWN = 10


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class LevelCount:
    level: Level | None  # None: reports saved on an earlier scale, counted by their OPEL value only
    count: int
    share: float | None  # of the practices that reported


@dataclass(frozen=True)
class OpelCount:
    opel: int
    count: int
    share: float | None


@dataclass
class Figures:
    """A group of practices' figures for one week."""

    practices: int
    reported: int
    levels: list[LevelCount]
    opels: list[OpelCount]
    amber_or_above: int  # practices
    patients_at_amber_or_above: int  # the sum of their list sizes, where known
    amber_or_above_without_list_size: int
    appointments: int  # offered on the day, by practices whose list size is known
    patients_for_activity: int
    practices_in_activity: int

    @property
    def return_rate(self) -> float | None:
        return percent(self.reported, self.practices)

    @property
    def activity_per_1000(self) -> float | None:
        return activity_per_1000(self.appointments, self.patients_for_activity) if self.practices_in_activity else None


def on_scale(report: PressureReport, scale: Scale) -> Level | None:
    """The level of the current scale a report was saved at: same number and same word."""
    level = scale.level(report.level)
    return level if level is not None and level.label == report.label else None


def figures_for(practices: list[Practice], reports: dict[int, PressureReport], scale: Scale) -> Figures:
    reported = [reports[p.pk] for p in practices if p.pk in reports]
    by_level = Counter(on_scale(report, scale) for report in reported)
    levels = [LevelCount(level, by_level[level], percent(by_level[level], len(reported))) for level in scale.levels]
    if by_level[None]:
        levels.append(LevelCount(None, by_level[None], percent(by_level[None], len(reported))))
    by_opel = Counter(report.opel for report in reported)
    amber = [report for report in reported if report.opel >= AMBER_OPEL]
    with_activity = [r for r in reported if r.appointments_offered is not None and r.practice.list_size]
    return Figures(
        practices=len(practices),
        reported=len(reported),
        levels=levels,
        opels=[OpelCount(opel, by_opel[opel], percent(by_opel[opel], len(reported))) for opel in OPEL_VALUES],
        amber_or_above=len(amber),
        patients_at_amber_or_above=sum(r.practice.list_size or 0 for r in amber),
        amber_or_above_without_list_size=sum(1 for r in amber if not r.practice.list_size),
        appointments=sum(r.appointments_offered for r in with_activity),
        patients_for_activity=sum(r.practice.list_size for r in with_activity),
        practices_in_activity=len(with_activity),
    )


@dataclass(frozen=True)
class NamedPractice:
    practice: Practice
    report: PressureReport | None


@dataclass
class PcnSitrep:
    pcn: PCN
    figures: Figures
    practices: list[NamedPractice]


@dataclass
class PlaceSitrep:
    place: Place
    practices: int
    outside_own_pcns: int
    figures: Figures | None  # None: withheld by the small-number rule
    own_pcns: list[PcnSitrep] = field(default_factory=list)


@dataclass
class Sitrep:
    week: datetime.date
    scale: Scale
    places: list[PlaceSitrep]
    deadline: datetime.datetime

    @property
    def min_practices_shown(self) -> int:
        return MIN_PRACTICES_SHOWN


def build_sitrep(user, *, week: datetime.date, scale: Scale) -> Sitrep:
    """The situation report for the places of the teams where `user` views pressure, in two
    queries whatever the number of practices (the memberships come from the request's one read)."""
    readers_in = {m.team.neighbourhood_id for m in user.memberships_with_right(Right.VIEW_PLACE_SITREP)}
    own_neighbourhoods = {m.team.neighbourhood_id for m in user.memberships_with_right(Right.VIEW_PRESSURE)}
    practices = list(
        # A practice the ODS has closed reports no more: it is not counted as one that did not return.
        Practice.objects.open()
        .filter(pcn__neighbourhood__place__in=Place.objects.filter(neighbourhoods__in=readers_in))
        .select_related("pcn__neighbourhood__place")
        .order_by("pcn__neighbourhood__place__name", "pcn__name", "name")
    )
    reports = {
        report.practice_id: report
        for report in PressureReport.objects.filter(practice__in=[p.pk for p in practices], week_start=week)
    }
    by_pk = {practice.pk: practice for practice in practices}
    for report in reports.values():  # the practice is at hand already: no query per report
        report.practice = by_pk[report.practice_id]
    places: dict[int, list[Practice]] = {}
    for practice in practices:
        places.setdefault(practice.pcn.neighbourhood.place_id, []).append(practice)
    sitreps = []
    for place_practices in places.values():
        place = place_practices[0].pcn.neighbourhood.place
        own = [p for p in place_practices if p.pcn.neighbourhood_id in own_neighbourhoods]
        outside = len(place_practices) - len(own)
        shown = outside == 0 or outside >= MIN_PRACTICES_SHOWN
        place_sitrep = PlaceSitrep(
            place, len(place_practices), outside, figures_for(place_practices, reports, scale) if shown else None
        )
        pcns: dict[int, list[Practice]] = {}
        for practice in own:
            pcns.setdefault(practice.pcn_id, []).append(practice)
        place_sitrep.own_pcns = [
            PcnSitrep(
                pcn_practices[0].pcn,
                figures_for(pcn_practices, reports, scale),
                [NamedPractice(p, reports.get(p.pk)) for p in pcn_practices],
            )
            for pcn_practices in pcns.values()
        ]
        sitreps.append(place_sitrep)
    return Sitrep(week, scale, sitreps, report_deadline(week))


def this_week() -> datetime.date:
    return week_start_of(timezone.localdate())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A name a spreadsheet would run as a formula gets a leading quote (as the KPI export does)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _figure_rows(week: str, area: str, figures: Figures) -> list[list[str | int | float]]:
    rows: list[list[str | int | float]] = [
        [week, area, "practices", figures.practices],
        [week, area, "practices that reported", figures.reported],
        [week, area, "return rate %", _blank(figures.return_rate)],
    ]
    for count in figures.levels:
        name = f"level {count.level.number} {count.level.label}" if count.level else "on an earlier scale"
        rows.append([week, area, f"share at {name} %", _blank(count.share)])
    rows += [[week, area, f"share at OPEL {count.opel} %", _blank(count.share)] for count in figures.opels]
    rows += [
        [week, area, "practices at amber (OPEL 2) or above", figures.amber_or_above],
        [week, area, "patients of practices at amber or above", figures.patients_at_amber_or_above],
        [week, area, "practices at amber or above without a list size", figures.amber_or_above_without_list_size],
        [week, area, "activity per 1,000 patients", _blank(figures.activity_per_1000)],
    ]
    return rows


def _blank(value: float | None) -> str | float:
    return "" if value is None else value


def sitrep_rows(sitrep: Sitrep) -> list[list[str | int | float]]:
    """The CSV: week, area, measure, value. A place withheld by the small-number rule is one row
    saying so; practices are named only in their own PCN's rows, as on the page."""
    week = f"{sitrep.week:%Y-%m-%d}"
    rows: list[list[str | int | float]] = [["week", "area", "measure", "value"]]
    for place in sitrep.places:
        area = spreadsheet_safe(place.place.name)
        if place.figures is None:
            rows.append([week, area, "withheld", f"fewer than {MIN_PRACTICES_SHOWN} practices outside your PCNs"])
        else:
            rows += _figure_rows(week, area, place.figures)
        for pcn in place.own_pcns:
            rows += _figure_rows(week, spreadsheet_safe(pcn.pcn.name), pcn.figures)
            for named in pcn.practices:
                name = spreadsheet_safe(f"{named.practice.name} ({named.practice.ods_code})")
                report = named.report
                if report is None:
                    rows.append([week, name, "level", "not reported"])
                    continue
                rows += [
                    [week, name, "level", spreadsheet_safe(f"{report.level} {report.label}")],
                    [week, name, "OPEL", report.opel],
                    [week, name, "appointments offered on the day", _blank(report.appointments_offered)],
                    [week, name, "clinical staff available", _blank(report.clinical_staff_available)],
                    [week, name, "list size", _blank(named.practice.list_size)],
                    [week, name, "activity per 1,000 patients", _blank(report.activity_per_1000)],
                ]
    return rows
