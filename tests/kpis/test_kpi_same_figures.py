"""The faster recompute stores the same figures as the recompute before it (issue #17).

A hand-built area (two teams; residents supported, in progress and in the comparator, with
contacts of every kind, some on the window's edges; meetings with discussions, decisions, actions
done on time, late, open and cancelled, and items carried forward) is recomputed in full, then
again incrementally after an import and a moved start. Every stored row of both runs is compared
with `figures_before_the_faster_run.json`, written by the recompute as it was before the work on
its speed (commit 58f1548), on this same data at this same moment.

To record the file again (only when a figure is meant to change, and say why in the commit):
KPI_RECORD_FIGURES=1 runs the test, writes the file and fails, so a recording never passes."""

from __future__ import annotations

import datetime
import io
import json
import os
from pathlib import Path

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from caseload.models import Resident, ServiceUseEvent
from caseload.services import service_use_load
from int_app.teams.models import Team
from int_app.teams.roles import Role
from kpis.compute import kpis_recompute
from kpis.models import KpiRun, KpiValue
from meetings.models import Action, AgendaItem, Attendance, Decision, Meeting, MeetingSeries

from ..conftest import member
from .kpi_builders import contacts_on, not_supported, supported

MOMENT = datetime.datetime(2026, 6, 15, 11, 0, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 6, 15)
WINDOW = relativedelta(months=6)
KINDS = ServiceUseEvent.Kind.values
RECORDED = Path(__file__).with_name("figures_before_the_faster_run.json")
COMPARATOR_STATUSES = (Resident.Status.NOT_ACCEPTED, Resident.Status.REFERRED, Resident.Status.ACCEPTED)


def days_ago(days: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=days)


def some_contacts(resident: Resident, seed: int) -> None:
    """Contacts of several kinds either side of the start, and one on each edge of the window."""
    start = resident.intervention_start or resident.referral_date
    for k in range(seed % 5 + 1):
        kind = KINDS[(seed + k) % len(KINDS)]
        contacts_on(resident, start - datetime.timedelta(days=3 + 11 * k), start + datetime.timedelta(days=7 * k), kind=kind)
    contacts_on(resident, start - WINDOW, start + WINDOW, start - WINDOW - datetime.timedelta(days=1), kind=KINDS[seed % len(KINDS)])


def build_residents(team: Team) -> list[Resident]:
    practices = list(team.practices.order_by("pk"))
    made = []
    for i in range(12):
        resident = supported(team, start=days_ago(200 + 17 * i), practice=practices[i % 2], feedback=(i % 6) or None)
        some_contacts(resident, i)
        made.append(resident)
    for i in range(4):
        resident = supported(team, start=days_ago(30 + 9 * i), practice=practices[i % 2])
        some_contacts(resident, i + 3)
        made.append(resident)
    for i in range(6):
        resident = not_supported(team, referred=days_ago(190 + 13 * i), status=COMPARATOR_STATUSES[i % 3], practice=practices[i % 2])
        some_contacts(resident, i + 1)
        made.append(resident)
    for i in range(3):  # referred in the last twelve weeks, still waiting
        made.append(not_supported(team, referred=days_ago(5 + 20 * i), status=Resident.Status.REFERRED))
    return made


def at_ten(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def build_meetings(team: Team, residents: list[Resident]) -> None:
    series = MeetingSeries.objects.create(team=team, name="Case review", purpose="case_review", weekday=0, start_time=datetime.time(13))
    coordinator, social_worker = member(team, Role.COORDINATOR), member(team, Role.SOCIAL_WORKER)
    for week in range(14):  # the last two fall before the twelve weeks
        day = days_ago(3 + 7 * week)
        meeting = Meeting.objects.create(
            series=series, team=team, slot_date=day, starts_at=series.starts_at_on(day), duration_minutes=90,
            status=Meeting.Status.CANCELLED if week == 5 else Meeting.Status.HELD, cancel_reason="Bank holiday" if week == 5 else "",
            agenda_published_at=series.starts_at_on(day) - datetime.timedelta(days=2),
        )
        Attendance.objects.create(
            meeting=meeting, user=member(team, Role.GP), role=Role.GP,
            status=(Attendance.Status.PRESENT, Attendance.Status.DEPUTY, Attendance.Status.APOLOGIES)[week % 3],
            deputy_name="Dr Deputy" if week % 3 == 1 else "",
        )
        for position in range(3):
            resident = residents[(week * 3 + position) % len(residents)]
            item = AgendaItem.objects.create(meeting=meeting, resident=resident, position=position + 1, outcome=AgendaItem.Outcome.DISCUSSED)
            if (week + position) % 4 == 3:
                continue  # discussed, nothing decided
            Decision.objects.create(agenda_item=item, text="Refer to falls", recorded_by=coordinator, recorded_at=meeting.starts_at)
            for n in range((week + position) % 3 + 1):
                due = day + datetime.timedelta(days=5 + 4 * n + position)
                state = (week + n + position) % 4
                done_on = {0: due - datetime.timedelta(days=1), 1: due + datetime.timedelta(days=3)}.get(state)
                if done_on is not None and done_on >= TODAY:
                    done_on = None
                Action.objects.create(
                    resident=resident, agenda_item=item, description="Call", owner=social_worker, due_date=due,
                    status=Action.Status.CANCELLED if state == 3 else Action.Status.DONE if done_on else Action.Status.OPEN,
                    created_by=coordinator, cancel_reason="Not needed" if state == 3 else "",
                    completed_at=at_ten(done_on) if done_on else None,
                )
        if week < 5:  # one resident carried forward, not reached four meetings running
            AgendaItem.objects.create(
                meeting=meeting, resident=residents[-1], position=4, outcome=AgendaItem.Outcome.NOT_REACHED, carried_from=None
            )
    chain = list(AgendaItem.objects.filter(meeting__team=team, position=4).order_by("meeting__starts_at"))
    for earlier, later in zip(chain, chain[1:], strict=False):
        AgendaItem.objects.filter(pk=later.pk).update(carried_from=earlier)


def stored(run: KpiRun) -> list[list]:
    """Every row of the run, with units named by team ("own", "other") rather than by id, and the
    fractional figures to twelve significant digits."""
    names = {}
    for team in Team.objects.select_related("neighbourhood"):
        name = team.slug
        names[("team", team.pk)] = name
        names[("neighbourhood", team.neighbourhood_id)] = name
        names.setdefault(("place", team.neighbourhood.place_id), name)
        for pcn in team.neighbourhood.pcns.all():
            names[("pcn", pcn.pk)] = name
    fields = [f.attname for f in KpiValue._meta.fields if f.attname not in ("id", "run_id", "unit_id", "unit_label")]
    rows = []
    for value in KpiValue.objects.filter(run=run):
        row = [names[(value.level, value.unit_id)], bool(value.unit_label)]
        for name in fields:
            v = getattr(value, name)
            row.append(float(f"{v:.12g}") if isinstance(v, float) else v.isoformat() if isinstance(v, datetime.date) else v)
        rows.append(row)
    return sorted(rows, key=repr)


@pytest.mark.django_db
@time_machine.travel(MOMENT, tick=False)
def test_the_recompute_stores_the_same_figures_as_before_full_and_incremental(own_team, other_team):
    residents = {team.slug: build_residents(team) for team in (own_team, other_team)}
    for team in (own_team, other_team):
        build_meetings(team, residents[team.slug])
    full = kpis_recompute()

    # An import of new contacts, and a start moved: the incremental run recounts those residents.
    moved = residents["own"][2]
    Resident.objects.filter(pk=moved.pk).update(intervention_start=moved.intervention_start - datetime.timedelta(days=20), updated_at=timezone.now())
    staged = io.StringIO()
    for n, resident in enumerate(residents["other"][:5]):
        start = resident.intervention_start or resident.referral_date
        staged.write(f"{resident.pk},{start + datetime.timedelta(days=n)},{KINDS[n]},SAME,{n}\n")
    with transaction.atomic():
        service_use_load(staged)
    incremental = kpis_recompute(full=False)
    assert incremental.mode == KpiRun.Mode.INCREMENTAL

    figures = {"full": stored(full), "incremental": stored(incremental)}
    assert len(figures["full"]) > 500 and figures["full"] != figures["incremental"]
    if os.environ.get("KPI_RECORD_FIGURES"):
        RECORDED.write_text(json.dumps(figures, indent=0) + "\n")
        pytest.fail(f"recorded {RECORDED.name}: run again without KPI_RECORD_FIGURES")
    assert figures == json.loads(RECORDED.read_text())
