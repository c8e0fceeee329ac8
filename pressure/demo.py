"""Demo practice pressure: twelve weeks of reports from every demo practice, one climbing to 6, on
the default scale (the ICS bulletin), with list sizes for the demo practices (the ODS list-size
import does not run in the demo) so the situation report has its per-1,000 figures."""

import datetime
import random

from django.utils import timezone

from int_app.teams.models import Membership, Practice
from int_app.teams.roles import Role

from .models import PressureAlert, PressureReport, PressureReportChange, week_start_of
from .scales import default_scale
from .services import HEATMAP_WEEKS

CLIMBING_PRACTICE_POSITION = 1  # the second practice of the East INT's first PCN
# Up to 5 five weeks ago (alert acknowledged), eased, then straight to 6 this week (a new alert).
CLIMB = (2, 2, 3, 3, 3, 4, 4, 5, 4, 4, 4, 6)


def seed_pressure(stdout) -> str:
    if PressureReport.objects.exists():
        return "Practice pressure already seeded."
    rng = random.Random(2026)
    this_week = week_start_of(timezone.localdate())
    weeks = [this_week - datetime.timedelta(weeks=back) for back in range(HEATMAP_WEEKS - 1, -1, -1)]
    reporters = {
        m.team.neighbourhood_id: m.user
        for m in Membership.objects.filter(role=Role.COORDINATOR).select_related("team", "user")
    }
    practices = list(Practice.objects.select_related("pcn").order_by("pcn__neighbourhood__name", "pcn__ods_code", "ods_code"))
    for practice in practices:
        if practice.list_size is None:
            practice.list_size = rng.randrange(4_000, 14_000, 50)
            practice.list_size_on = this_week - datetime.timedelta(days=38)
    Practice.objects.bulk_update(practices, ["list_size", "list_size_on"])
    # The story below climbs the bulletin's six levels; a deployment that picks another scale later
    # sees these as reports made on an earlier scale, compared by their OPEL value.
    scale = default_scale()
    climbing = practices[CLIMBING_PRACTICE_POSITION] if len(practices) > CLIMBING_PRACTICE_POSITION else None
    reports, changes = [], []
    for practice in practices:
        level = rng.choice((1, 2, 2, 3))
        for index, week in enumerate(weeks):
            # One practice (the last of each PCN) has not reported this week yet: it shows as missing.
            if week == this_week and practice.ods_code.endswith("2"):
                continue
            if practice == climbing:
                level = CLIMB[index]
            else:
                level = max(1, min(4, level + rng.choice((-1, 0, 0, 1))))
            saved = PressureReport(
                practice=practice,
                week_start=week,
                alerting=scale.level(level).alerts,
                comment="Two GPs off sick; locums booked." if level >= 5 else "",
                same_day_appointments_available=max(0, 60 - level * 9 + rng.randint(-5, 5)),
                clinical_staff_absent=max(0, level - 2 + rng.randint(0, 1)),
                # About 15 to 20 appointments a day per 1,000 patients, fewer clinicians as pressure rises.
                appointments_offered=practice.list_size * rng.randint(14, 20) // 1000,
                clinical_staff_available=max(1, practice.list_size // 1500 - level + rng.randint(0, 1)),
                reported_by=reporters[practice.pcn.neighbourhood_id],
                # Monday 09:30, or now if the demo is seeded earlier on a Monday: never in the future.
                reported_at=min(timezone.make_aware(datetime.datetime.combine(week, datetime.time(9, 30))), timezone.now()),
            )
            saved.keep_level(scale.level(level))
            reports.append(saved)
    PressureReport.objects.bulk_create(reports)
    for report in PressureReport.objects.all():
        changes.append(
            PressureReportChange(
                report=report,
                level=report.level,
                level_label=report.level_label,
                level_colour=report.level_colour,
                opel=report.opel,
                comment=report.comment,
                appointments_offered=report.appointments_offered,
                clinical_staff_available=report.clinical_staff_available,
                same_day_appointments_available=report.same_day_appointments_available,
                clinical_staff_absent=report.clinical_staff_absent,
                changed_by=report.reported_by,
                changed_at=report.reported_at,
            )
        )
    PressureReportChange.objects.bulk_create(changes)
    if climbing is not None:
        earlier = PressureReport.objects.get(practice=climbing, week_start=weeks[CLIMB.index(5)])
        lead = Membership.objects.filter(role=Role.PCN_LEAD, team__neighbourhood=climbing.pcn.neighbourhood).first()
        PressureAlert.objects.create(
            report=earlier, level=5, level_label=earlier.level_label, level_colour=earlier.level_colour, opel=earlier.opel,
            emailed_at=earlier.reported_at,
            acknowledged_by=lead.user if lead else None, acknowledged_at=earlier.reported_at if lead else None,
        )
        latest = PressureReport.objects.get(practice=climbing, week_start=this_week)
        PressureAlert.objects.create(
            report=latest, level=latest.level, level_label=latest.level_label, level_colour=latest.level_colour,
            opel=latest.opel, emailed_at=latest.reported_at,
        )
    return f"Practice pressure: {len(reports)} weekly reports."
