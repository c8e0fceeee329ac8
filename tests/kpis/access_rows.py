from django.utils import timezone

from int_app.teams.roles import Role
from tests.access import WORLD_BUILDERS, Row, World, register


def build_kpis(world: World) -> None:
    """A few supported residents with service use, and a run of figures, so the KPI pages draw
    every part (tiles, charts, tables) as they are walked."""
    import datetime

    from caseload.models import ServiceUseEvent
    from kpis.compute import kpis_recompute
    from tests.factories import ResidentFactory

    today = timezone.localdate()
    key_worker = world.member(world.own, Role.OCCUPATIONAL_THERAPIST)
    for index in range(3):
        start = today - datetime.timedelta(days=300 + index)
        resident = ResidentFactory(
            team=world.own, status="stepped_down", referral_date=start - datetime.timedelta(days=7),
            intervention_start=start, key_worker=key_worker, stepped_down_on=start + datetime.timedelta(days=90),
            feedback_score=4,
        )
        ServiceUseEvent.objects.bulk_create(
            ServiceUseEvent(resident=resident, date=start + datetime.timedelta(days=offset), kind="ae_attendance",
                            source="access", source_id=f"{resident.pk}-{offset}")
            for offset in (-30, -10, 20)
        )
    kpis_recompute()


WORLD_BUILDERS.append(build_kpis)

KPI_READERS = frozenset({Role.PCN_LEAD, Role.COORDINATOR})

register(
    # Not one team's object: another team's lead or coordinator sees their own team's figures.
    Row("kpis:dashboard", lambda w: "/kpis/", roles=KPI_READERS, other_team="same"),
    Row("kpis:export", lambda w: "/kpis/export.csv", roles=KPI_READERS, other_team="same"),
    # Plain words on how the figures are made: no data, so for everyone signed in.
    Row("kpis:methods", lambda w: "/kpis/methods/", other_team="same"),
)

register(
    # Loading an extract names its team in the form: another team's coordinator loads for their own.
    Row("kpis:population", lambda w: "/kpis/population/", roles=frozenset({Role.COORDINATOR}), other_team="same", methods=("GET", "POST")),
    # One team's extract, at an address that names no team: without the right it is not found.
    Row(
        "kpis:population_extract",
        lambda w: f"/kpis/population/{w.objects['population_extract'].pk}/",
        roles=frozenset({Role.COORDINATOR}),
        refused=404,
        missing=lambda w: "/kpis/population/987654321/",
    ),
)
