"""The access matrix: every URL of the project, as every role, own team and other team.

Each URL name has one Row. `World` holds one object of each kind for the "own" team; a row's
`path` builds the URL from it and `missing` the same URL for an object that does not exist.
Adding a URL to the project without a Row here fails `test_every_url_has_a_row`.
"""

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from int_app.teams.models import Team, User
from int_app.teams.roles import Role


@dataclass
class World:
    own: Team
    other: Team
    objects: dict[str, object] = field(default_factory=dict)
    # People in both teams (see test_access_matrix.TWO_TEAM_PEOPLE), by (person, team of first role).
    two_team_people: dict[tuple[str, str], User] = field(default_factory=dict)

    def member(self, team: Team, role: str) -> User:
        """The team's one-team member in this role."""
        memberships = team.memberships.select_related("user").exclude(user__in=list(self.two_team_people.values()))
        # Someone a feature's world invited (tests/teams/access_rows.py) is not the role's member.
        return memberships.filter(user__invitations__isnull=True).get(role=role).user


EVERY_ROLE = frozenset(Role.values)


@dataclass(frozen=True)
class Row:
    name: str
    path: Callable[[World], str]
    # Roles of the own team that may use the page; the rest of the own team gets `refused`.
    roles: frozenset[str] = EVERY_ROLE
    # What the rest of the own team gets: 403 where the address names the team or the page is not
    # one object's, 404 for an object whose address names no team (it is fetched through the right).
    refused: int = 403
    # What a member of another team gets: 404 for a team's object (it does not exist for them),
    # or the same as the own team for pages that are not about one team's object.
    other_team: str = "404"
    public: bool = False
    methods: tuple[str, ...] = ("GET",)
    missing: Callable[[World], str] | None = None
    # What an allowed user gets. POSTs in the matrix carry no form data, so an allowed user gets
    # the form back with its errors, or a redirect.
    get_ok: frozenset[int] = frozenset({200})
    post_ok: frozenset[int] = frozenset({200, 302})


ROWS: list[Row] = [
    Row("home", lambda w: "/", other_team="same"),
    Row("team_detail", lambda w: f"/teams/{w.own.slug}/", missing=lambda w: "/teams/no-such-team/"),
    Row("healthz", lambda w: "/healthz", public=True, other_team="same"),
    Row("readyz", lambda w: "/readyz", public=True, other_team="same"),
]


def register(*rows: Row) -> None:
    ROWS.extend(rows)


# World builders registered by each feature's tests: each adds its objects for the own team.
WORLD_BUILDERS: list[Callable[[World], None]] = []


def load_feature_rows() -> None:
    """Each feature keeps its rows in tests/<app>/access_rows.py, calling register()."""
    tests = Path(__file__).parent
    for module in pkgutil.iter_modules([str(tests)]):
        if module.ispkg and (tests / module.name / "access_rows.py").exists():
            importlib.import_module(f"tests.{module.name}.access_rows")


def build_world(own: Team, other: Team) -> World:
    built = World(own=own, other=other)
    for builder in WORLD_BUILDERS:
        builder(built)
    return built


@contextmanager
def world_kept_for_a_module(django_db_blocker) -> Iterator[World]:
    """A world built once for a module's tests (it takes a second or more, and a module may have a
    hundred tests), in a transaction rolled back after its last test. Each test that asks for the
    `db` fixture runs in a savepoint inside it, rolled back after the test, so every test meets
    the world as it was built."""
    from .factories import make_team

    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world(make_team("Own"), make_team("Other"))
        transaction.set_rollback(True)
