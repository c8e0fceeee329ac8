"""Residents with service use around their start, built straight into the tables the KPI
recompute reads, and a reader for the rows it writes."""

from __future__ import annotations

import datetime
import itertools

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from int_app.teams.models import Practice, Team
from int_app.teams.roles import Role
from kpis.models import ALL_KINDS, Cohort, KpiRun, KpiValue, Level, Measure

from ..conftest import member
from ..factories import ResidentFactory

TODAY = timezone.localdate()
WINDOW = relativedelta(months=6)
_source_ids = itertools.count(1)


def months_ago(months: int, day: int = 1) -> datetime.date:
    """A day `months` months back: the 1st unless said, so windows are whole months."""
    return (TODAY - relativedelta(months=months)).replace(day=day)


# A start whose six-month follow-up ended three months ago: a complete window.
COMPLETE_START = months_ago(9)
# A start two months ago: the follow-up has four months to go.
IN_PROGRESS_START = months_ago(2)


def supported(team: Team, *, start: datetime.date = COMPLETE_START, practice: Practice | None = None,
              feedback: int | None = None, **fields) -> Resident:
    """A resident whose intervention started on `start`: stepped down if that was long enough
    ago, else still active."""
    stepped_down = start + datetime.timedelta(days=60) <= TODAY
    fields.setdefault("referral_date", start - datetime.timedelta(days=10))
    return ResidentFactory(
        team=team,
        practice=practice or team.practices.order_by("pk").first(),
        triaged_on=start - datetime.timedelta(days=5),
        intervention_start=start,
        key_worker=member(team, Role.OCCUPATIONAL_THERAPIST),
        status=Resident.Status.STEPPED_DOWN if stepped_down else Resident.Status.ACTIVE,
        stepped_down_on=start + datetime.timedelta(days=60) if stepped_down else None,
        feedback_score=feedback,
        **fields,
    )


def not_supported(team: Team, *, referred: datetime.date = COMPLETE_START,
                  status: str = Resident.Status.NOT_ACCEPTED, practice: Practice | None = None, **fields) -> Resident:
    """A comparator resident: not accepted (the default), or still waiting (referred, accepted)."""
    return ResidentFactory(
        team=team,
        practice=practice or team.practices.order_by("pk").first(),
        referral_date=referred,
        status=status,
        triaged_on=referred + datetime.timedelta(days=3) if status != Resident.Status.REFERRED else None,
        not_accepted_reason="does_not_meet_criteria" if status == Resident.Status.NOT_ACCEPTED else "",
        key_worker=member(team, Role.OCCUPATIONAL_THERAPIST) if status == Resident.Status.ACCEPTED else None,
        **fields,
    )


def contacts_on(resident: Resident, *days: datetime.date, kind: str = ServiceUseEvent.Kind.AE_ATTENDANCE) -> None:
    ServiceUseEvent.objects.bulk_create(
        ServiceUseEvent(resident=resident, date=day, kind=kind, source="TEST", source_id=f"T{next(_source_ids)}")
        for day in days
    )


def before_and_after(resident: Resident, before: int, after: int, *, kind: str = ServiceUseEvent.Kind.AE_ATTENDANCE) -> None:
    """`before` contacts in the baseline and `after` in the follow-up, a day apart inside each."""
    start = resident.intervention_start or resident.referral_date
    contacts_on(
        resident,
        *(start - datetime.timedelta(days=1 + index) for index in range(before)),
        *(start + datetime.timedelta(days=index) for index in range(after)),
        kind=kind,
    )


def figure(
    run: KpiRun,
    unit_id: int,
    *,
    level: str = Level.TEAM,
    measure: str = Measure.SERVICE_USE,
    kind: str = ALL_KINDS,
    cohort: str = Cohort.INTERVENTION,
    period: datetime.date | None = None,
) -> KpiValue:
    return KpiValue.objects.get(
        run=run, level=level, unit_id=unit_id, measure=measure, kind=kind, cohort=cohort, period=period
    )


def value_rows(run: KpiRun) -> list[tuple]:
    """Everything a run wrote, without its ids, in a stable order."""
    fields = [f.name for f in KpiValue._meta.fields if f.name not in ("id", "run")]
    return sorted(KpiValue.objects.filter(run=run).values_list(*fields), key=repr)
