from django.utils import timezone

from int_app.teams.roles import RIGHTS, Right, Role
from pressure.models import PressureAlert, PressureReport, week_start_of
from tests.access import WORLD_BUILDERS, Row, World, register

# The weekly situation report: the PCN lead, the coordinator and the ICB's place lead.
SITREP_READERS = RIGHTS[Right.VIEW_PLACE_SITREP]


def build_pressure(world: World) -> None:
    manager = world.member(world.own, Role.PRACTICE_MANAGER)
    practice = manager.memberships.get().practice
    report = PressureReport.objects.create(
        practice=practice, week_start=week_start_of(timezone.localdate()), level=6, reported_by=manager
    )
    world.objects["pressure_report"] = report
    world.objects["pressure_alert"] = PressureAlert.objects.create(report=report, level=6)


WORLD_BUILDERS.append(build_pressure)

register(
    Row("pressure:heatmap", lambda w: "/pressure/", roles=frozenset({Role.PCN_LEAD, Role.COORDINATOR}), other_team="same"),
    Row(
        "pressure:report",
        lambda w: "/pressure/report/",
        roles=frozenset({Role.PRACTICE_MANAGER, Role.COORDINATOR}),
        other_team="same",
        methods=("GET", "POST"),
        post_ok=frozenset({200}),  # an empty form comes back with its errors
    ),
    Row(
        "pressure:report_detail",
        lambda w: f"/pressure/reports/{w.objects['pressure_report'].pk}/",
        roles=frozenset({Role.PCN_LEAD, Role.COORDINATOR, Role.PRACTICE_MANAGER}),
        refused=404,
        missing=lambda w: "/pressure/reports/999999/",
    ),
    Row(
        "pressure:alert_acknowledge",
        lambda w: f"/pressure/alerts/{w.objects['pressure_alert'].pk}/acknowledge/",
        roles=frozenset({Role.PCN_LEAD}),
        refused=404,
        methods=("POST",),
        post_ok=frozenset({302}),
        missing=lambda w: "/pressure/alerts/999999/acknowledge/",
    ),
    # Name no team: the places of the teams where the person views pressure, 403 to anyone who
    # views it in none (as the heatmap). Another team's lead gets their own place's report.
    Row("pressure:sitrep", lambda w: "/pressure/sitrep/", roles=SITREP_READERS, other_team="same"),
    Row("pressure:sitrep_csv", lambda w: "/pressure/sitrep.csv", roles=SITREP_READERS, other_team="same"),
)
