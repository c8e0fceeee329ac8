"""Walks every URL pattern as anonymous and as every role of the own team and another team."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from axes.utils import reset as reset_failed_logins
from django.core.cache import cache

from int_app.teams.roles import Role

from . import access
from .access import ROWS, World, build_world


access.load_feature_rows()


def project_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # Django's admin has its own permission model; tested in test_admin.
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


def test_every_url_has_a_row():
    missing = project_url_names() - {row.name for row in ROWS}
    assert not missing, f"URLs without an access-matrix row: {sorted(missing)}"
    stale = {row.name for row in ROWS} - project_url_names()
    assert not stale, f"Rows for URLs that no longer exist: {sorted(stale)}"


@pytest.fixture
def world(own_team, other_team) -> World:
    return build_world(own_team, other_team)


VIEWERS = ["anonymous"] + [f"own:{role}" for role in Role.values] + [f"other:{role}" for role in Role.values]


def expected_status(row: access.Row, viewer: str, method: str) -> set[int]:
    if viewer == "anonymous":
        return {200, 302} if row.public else {302}
    scope, role = viewer.split(":")
    if scope == "other" and row.other_team == "404":
        return {404}
    if role not in row.roles:
        return {403}
    return set(row.post_ok if method == "POST" else row.get_ok)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_access(world, row):
    """One world per URL; every viewer, method and htmx flavour is tried against it."""
    from django.test import Client

    own_names = [m.user.full_name for m in world.own.memberships.select_related("user")]
    wrong: list[str] = []
    for viewer in VIEWERS:
        # The matrix posts empty login forms many times; the lockout (django-axes) and allauth's
        # rate limits (kept in the cache) are tested on their own elsewhere.
        reset_failed_logins()
        cache.clear()
        client = Client()
        if viewer != "anonymous":
            scope, role = viewer.split(":")
            client.force_login(world.member(world.own if scope == "own" else world.other, role))
        for method in row.methods:
            for headers in ({}, {"HX-Request": "true"}):
                url = row.path(world)
                response = client.post(url, headers=headers) if method == "POST" else client.get(url, headers=headers)
                label = f"{method} {url} as {viewer}{' (htmx)' if headers else ''}"
                if response.status_code not in expected_status(row, viewer, method):
                    wrong.append(f"{label}: got {response.status_code}, expected {expected_status(row, viewer, method)}")
                elif viewer == "anonymous" and not row.public and "/accounts/login/" not in response["Location"]:
                    wrong.append(f"{label}: redirected to {response['Location']}, not the login page")
                elif response.status_code == 404 and any(name in response.text for name in own_names):
                    wrong.append(f"{label}: the 404 page shows the team's data")
                if method == "POST" and viewer != "anonymous" and not row.public:
                    # A POST may have changed state (logged out, say): start the next one afresh.
                    client.force_login(world.member(world.own if scope == "own" else world.other, role))
    assert not wrong, "\n".join(wrong)


MISSING = [row for row in ROWS if row.missing]


@pytest.mark.parametrize("row", MISSING, ids=[r.name for r in MISSING])
def test_a_missing_object_is_not_found_for_everyone(client, world, row):
    """Even someone allowed to use the page gets a plain 404 for an object that does not exist."""
    client.force_login(world.member(world.own, sorted(row.roles)[0]))
    for method in row.methods:
        response = client.post(row.missing(world)) if method == "POST" else client.get(row.missing(world))
        assert response.status_code == 404, (method, response.status_code)


@pytest.mark.parametrize("row", [r for r in ROWS if "POST" in r.methods], ids=lambda r: r.name)
def test_a_state_change_without_a_csrf_token_is_refused(world, row):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.member(world.own, Role.COORDINATOR))
    assert strict.post(row.path(world)).status_code == 403
