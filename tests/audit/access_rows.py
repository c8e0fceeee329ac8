from int_app.teams.roles import Role
from tests.access import WORLD_BUILDERS, Row, World, register
from tests.factories import ResidentFactory


def build_audit(world: World) -> None:
    world.objects.setdefault("audited_resident", ResidentFactory(team=world.own))


WORLD_BUILDERS.append(build_audit)

register(
    Row(
        "audit:resident_access_log",
        lambda w: f"/audit/teams/{w.own.slug}/residents/{w.objects['audited_resident'].pk}/",
        roles=frozenset({Role.COORDINATOR}),
        missing=lambda w: f"/audit/teams/{w.own.slug}/residents/999999/",
    ),
)
