"""Walks every URL pattern as anonymous, as every role of the own team and another team, and as
people who hold a different role in each of the two teams."""

from collections.abc import Iterator

import pytest
from axes.utils import reset as reset_failed_logins
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from int_app.teams.roles import Role

from . import access
from .access import ROWS, World, world_kept_for_a_module
from .factories import MembershipFactory, UserFactory

access.load_feature_rows()

# Slow (a hundred requests a row): run first, and without the request log lines nobody reads.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("quiet_request_logs")]


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


def our_views() -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern whose view is the project's own (not the admin's or allauth's)."""

    def walk(patterns, namespace: str | None) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif pattern.callback.__module__.split(".")[0] in {"int_app", "caseload", "pressure", "meetings", "kpis"}:
                yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern

    return walk(get_resolver().url_patterns, None)


def declared_methods(pattern: URLPattern) -> set[str] | None:
    """The methods a view declares, as its decorator answers a method it does not take (before the
    view's own code runs, so the made-up arguments are never used); None if it declares none."""
    request = RequestFactory().generic("PROPFIND", "/")
    request.user = AnonymousUser()
    arguments = {name: converter.to_python("1") for name, converter in pattern.pattern.converters.items()}
    try:
        response = pattern.callback(request, **arguments)
    except Exception:  # noqa: BLE001 - the view's own code ran, and failed on the made-up request
        return None
    if response.status_code != 405:
        return None
    return {method.strip() for method in response["Allow"].split(",")}


def test_every_view_declares_its_methods_and_the_matrix_tries_each():
    rows = {row.name: row for row in ROWS}
    wrong = []
    for name, pattern in our_views():
        declared = declared_methods(pattern)
        if declared is None:
            wrong.append(f"{name}: declares no methods (require_GET, require_POST, require_http_methods)")
        elif name in rows and declared != set(rows[name].methods):
            wrong.append(f"{name}: declares {sorted(declared)}, the matrix tries {sorted(rows[name].methods)}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with world_kept_for_a_module(django_db_blocker) as world:
        add_two_team_people(world)
        yield world


@pytest.fixture
def world(module_world, db) -> World:
    """The world, built once for all the rows; each row runs in a savepoint rolled back after it,
    so what one row's requests change (a POST, a login) is gone before the next."""
    return module_world


# Methods no page of the service answers: every view declares its methods, so these get 405.
UNDECLARED_METHODS = ("PUT", "DELETE", "PROPFIND")

VIEWERS = ["anonymous"] + [f"own:{role}" for role in Role.values] + [f"other:{role}" for role in Role.values]


def expected_status(row: access.Row, viewer: str, method: str) -> set[int]:
    if method in UNDECLARED_METHODS:
        return {405}
    if viewer == "anonymous":
        # A public page gives a visitor what it gives someone signed in (allauth's sign-in error page is a 401).
        return {200, 302} | set(row.get_ok) if row.public else {302}
    scope, role = viewer.split(":")
    if scope == "other" and row.other_team == "404":
        return {404}
    if role not in row.roles:
        return {row.refused}
    return set(row.post_ok if method == "POST" else row.get_ok)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_access(world, row):
    """One world per URL; every viewer, method and htmx flavour is tried against it, then the
    people in two teams."""
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
        for method in (*row.methods, *UNDECLARED_METHODS):
            for headers in ({}, {"HX-Request": "true"}) if method in row.methods else ({},):
                url = row.path(world)
                if method == "POST":
                    response = client.post(url, headers=headers)
                else:
                    response = client.generic(method, url, headers=headers)
                label = f"{method} {url} as {viewer}{' (htmx)' if headers else ''}"
                if response.status_code not in expected_status(row, viewer, method):
                    wrong.append(f"{label}: got {response.status_code}, expected {expected_status(row, viewer, method)}")
                elif viewer == "anonymous" and not row.public and method in row.methods and "/accounts/login/" not in response["Location"]:
                    wrong.append(f"{label}: redirected to {response['Location']}, not the login page")
                elif response.status_code == 404 and any(name in response.text for name in own_names):
                    wrong.append(f"{label}: the 404 page shows the team's data")
                elif "_auth_user_id" in client.session and "no-store" not in response.get("Cache-Control", ""):
                    wrong.append(f"{label}: a signed-in person's page may be stored (Cache-Control: {response.get('Cache-Control')})")
                if method == "POST" and viewer != "anonymous" and not row.public:
                    # A POST may have changed state (logged out, say): start the next one afresh.
                    client.force_login(world.member(world.own if scope == "own" else world.other, role))
    wrong.extend(two_team_mistakes(world, row))
    assert not wrong, "\n".join(wrong)


# People in two teams with a role in each. A right held in one team never reaches the other: at a
# team's object they get what a one-team member in their role there gets. The world's objects are
# all the own team's, so each person is made twice, once each way round.
TWO_TEAM_PEOPLE: dict[str, tuple[str, str]] = {
    "lead/key worker": (Role.PCN_LEAD, Role.COMMUNITY_TRUST),
    "coordinator/OT": (Role.COORDINATOR, Role.OCCUPATIONAL_THERAPIST),
    "GP/GP": (Role.GP, Role.GP),
}
FIRST, SECOND = "first", "second"  # which of the person's roles they hold in the own team


def add_two_team_people(world: World) -> None:
    for person, (first_role, second_role) in TWO_TEAM_PEOPLE.items():
        for way_round, (own_role, other_role) in ((FIRST, (first_role, second_role)), (SECOND, (second_role, first_role))):
            user = UserFactory(full_name=f"Two-team {person} ({way_round})")
            MembershipFactory(user=user, team=world.own, role=own_role)
            MembershipFactory(user=user, team=world.other, role=other_role)
            world.two_team_people[person, way_round] = user


OK = "ok"  # what the row says an allowed person gets (its get_ok or post_ok)

# For each URL and person: (at the object of the team of their first role, at the object of the
# team of their second role). Pages that are not about one team's object give the same both ways:
# what the person may do in either team. Written out, not worked out from the rights table.
EVERYONE_OK = {"lead/key worker": (OK, OK), "coordinator/OT": (OK, OK), "GP/GP": (OK, OK)}
CASE_READERS = {"lead/key worker": (403, OK), "coordinator/OT": (OK, OK), "GP/GP": (OK, OK)}
CASE_KEEPERS = {"lead/key worker": (403, OK), "coordinator/OT": (OK, OK), "GP/GP": (403, 403)}
COORDINATOR_ONLY = {"lead/key worker": (403, 403), "coordinator/OT": (OK, 403), "GP/GP": (403, 403)}
COORDINATOR_ANYWHERE = {"lead/key worker": (403, 403), "coordinator/OT": (OK, OK), "GP/GP": (403, 403)}
LEAD_OR_COORDINATOR_ANYWHERE = {"lead/key worker": (OK, OK), "coordinator/OT": (OK, OK), "GP/GP": (403, 403)}
GP_ONLY = {"lead/key worker": (403, 403), "coordinator/OT": (403, 403), "GP/GP": (OK, OK)}
NOBODY_IN_A_TEAM = {"lead/key worker": (403, 403), "coordinator/OT": (403, 403), "GP/GP": (403, 403)}
NOT_FOUND_TO_ANY_ROLE = {"lead/key worker": (404, 404), "coordinator/OT": (404, 404), "GP/GP": (404, 404)}

TWO_TEAM_EXPECTED: dict[str, dict[str, tuple[object, object]]] = {
    "home": EVERYONE_OK,
    "team_detail": EVERYONE_OK,
    "healthz": EVERYONE_OK,
    "readyz": EVERYONE_OK,
    # Caseload: a key worker sees and keeps the residents of their team; the PCN lead sees no case.
    "caseload:index": EVERYONE_OK,
    "caseload:refer": COORDINATOR_ANYWHERE,
    "caseload:check_nhs_number": COORDINATOR_ANYWHERE,
    "caseload:import_service_use": COORDINATOR_ANYWHERE,
    # The address names no team: an import where the person may not import is not found.
    "caseload:import_job": {"lead/key worker": (404, 404), "coordinator/OT": (OK, 404), "GP/GP": (404, 404)},
    "caseload:list": CASE_READERS,
    "caseload:resident_access_log": COORDINATOR_ONLY,
    "caseload:key_workers": COORDINATOR_ONLY,
    # Case finding: the coordinator and the GP of the team whose extract it is.
    "caseload:case_finding": {"lead/key worker": (403, 403), "coordinator/OT": (OK, 403), "GP/GP": (OK, OK)},
    "caseload:directory": CASE_READERS,
    "caseload:intervention_add": COORDINATOR_ONLY,
    "caseload:intervention_edit": COORDINATOR_ONLY,
    "caseload:resident": CASE_READERS,
    "caseload:triage": COORDINATOR_ONLY,
    "caseload:start_intervention": CASE_KEEPERS,
    "caseload:record_consent": CASE_KEEPERS,
    "caseload:support_plan": CASE_READERS,
    "caseload:goal_add": CASE_KEEPERS,
    "caseload:goal_status": CASE_KEEPERS,
    "caseload:plan_interventions": CASE_KEEPERS,
    "caseload:step_down": CASE_KEEPERS,
    "caseload:close": CASE_KEEPERS,
    # The record on request, restricted, retired: the coordinator of the resident's team only; a
    # restricted record does not exist for the coordinator/OT where they are the OT.
    "caseload:records": COORDINATOR_ONLY,
    "caseload:retention": COORDINATOR_ONLY,
    "caseload:subject_access_produce": COORDINATOR_ONLY,
    "caseload:subject_access_download": COORDINATOR_ONLY,
    "caseload:subject_access_answered": COORDINATOR_ONLY,
    "caseload:subject_access_new": COORDINATOR_ONLY,
    "caseload:restrict": COORDINATOR_ONLY,
    "caseload:lift_restriction": COORDINATOR_ONLY,
    # Practice pressure and KPIs: the PCN lead of a team sees its aggregates and pressure.
    "pressure:heatmap": LEAD_OR_COORDINATOR_ANYWHERE,
    "pressure:report": COORDINATOR_ANYWHERE,
    # No team in its address: a report the person may not read is not found.
    "pressure:report_detail": {"lead/key worker": (OK, 404), "coordinator/OT": (OK, 404), "GP/GP": (404, 404)},
    "pressure:alert_acknowledge": {"lead/key worker": (OK, 404), "coordinator/OT": (404, 404), "GP/GP": (404, 404)},
    # The situation report is of the places of the teams where the person views pressure.
    "pressure:sitrep": LEAD_OR_COORDINATOR_ANYWHERE,
    "pressure:sitrep_csv": LEAD_OR_COORDINATOR_ANYWHERE,
    "kpis:dashboard": LEAD_OR_COORDINATOR_ANYWHERE,
    "kpis:export": LEAD_OR_COORDINATOR_ANYWHERE,
    "kpis:methods": EVERYONE_OK,
    # The population extract: the coordinator loads one for a team they coordinate; one extract's
    # page names no team, so an extract the person may not load is not found.
    "kpis:population": COORDINATOR_ANYWHERE,
    "kpis:population_extract": {"lead/key worker": (404, 404), "coordinator/OT": (OK, 404), "GP/GP": (404, 404)},
    # Meetings: everyone in case discussions reads them; the coordinator builds and records them.
    "meetings:meeting_list": EVERYONE_OK,
    "meetings:my_actions": EVERYONE_OK,
    "meetings:decisions_awaiting": GP_ONLY,
    # Everyone here takes part in case discussions in at least one of their teams.
    "meetings:calendar": EVERYONE_OK,
    "meetings:calendar_reset": EVERYONE_OK,
    # Public by its token: the GP's feed, whoever asks.
    "meetings:calendar_feed": EVERYONE_OK,
    "meetings:series_create": COORDINATOR_ONLY,
    "meetings:series_edit": COORDINATOR_ONLY,
    "meetings:meeting": CASE_READERS,
    "meetings:meeting_cancel": COORDINATOR_ONLY,
    "meetings:meeting_move": COORDINATOR_ONLY,
    "meetings:meeting_end": COORDINATOR_ONLY,
    "meetings:agenda": COORDINATOR_ONLY,
    "meetings:agenda_add": COORDINATOR_ONLY,
    "meetings:agenda_remove": COORDINATOR_ONLY,
    "meetings:agenda_reorder": COORDINATOR_ONLY,
    "meetings:agenda_publish": COORDINATOR_ONLY,
    "meetings:agenda_print": CASE_READERS,
    "meetings:attendance": COORDINATOR_ONLY,
    "meetings:minutes": CASE_READERS,
    "meetings:minutes_publish": COORDINATOR_ONLY,
    "meetings:minutes_addendum": COORDINATOR_ONLY,
    "meetings:outcome_summary": COORDINATOR_ONLY,
    "meetings:outcome_summary_pdf": COORDINATOR_ONLY,
    "meetings:outcome_summary_send": COORDINATOR_ONLY,
    "meetings:outcome_summary_correct": COORDINATOR_ONLY,
    "meetings:item_update": COORDINATOR_ONLY,
    "meetings:item_move": COORDINATOR_ONLY,
    "meetings:item_notes": COORDINATOR_ONLY,
    "meetings:item_outcome": COORDINATOR_ONLY,
    "meetings:item_timer": COORDINATOR_ONLY,
    "meetings:decision_add": COORDINATOR_ONLY,
    "meetings:action_add": COORDINATOR_ONLY,
    "meetings:decision_sign": GP_ONLY,
    "meetings:action": CASE_READERS,
    # The action belongs to the team's social worker: none of these people owns it.
    "meetings:action_status": COORDINATOR_ONLY,
    "meetings:action_edit": COORDINATOR_ONLY,
    "meetings:reassign_actions": COORDINATOR_ONLY,
    # The access review: the information governance lead's and the coordinator's, team by team.
    "access_review": COORDINATOR_ONLY,
    "access_review_csv": COORDINATOR_ONLY,
    # Invitations are for staff admins, whatever role they hold in a team (tests/teams/test_invitations.py).
    "invitations": NOBODY_IN_A_TEAM,
    "invitation_new": NOBODY_IN_A_TEAM,
    "invitation_upload": NOBODY_IN_A_TEAM,
    "invitation_resend": NOT_FOUND_TO_ANY_ROLE,
    "invitation_revoke": NOT_FOUND_TO_ANY_ROLE,
    # The emailed link: anyone holding it may open it; a signed-in person is asked to log out first.
    "invitation_accept": EVERYONE_OK,
    # Account pages hold no team data.
    **dict.fromkeys(
        [
            row.name
            for row in ROWS
            if row.name.startswith(("account_", "mfa_", "usersessions_", "socialaccount_", "openid_connect_"))
        ],
        EVERYONE_OK,
    ),
}


def test_every_row_says_what_people_in_two_teams_get():
    rows = {row.name for row in ROWS}
    assert not rows - set(TWO_TEAM_EXPECTED), f"Rows without two-team expectations: {sorted(rows - set(TWO_TEAM_EXPECTED))}"
    assert not set(TWO_TEAM_EXPECTED) - rows, f"Stale two-team expectations: {sorted(set(TWO_TEAM_EXPECTED) - rows)}"


def two_team_mistakes(world: World, row: access.Row) -> list[str]:
    """Each person, both ways round, on the own team's object; the row's methods only, without
    the htmx flavour and undeclared methods (the one-team walk tries those), so the matrix stays quick."""
    from django.test import Client

    wrong: list[str] = []
    for (person, way_round), user in world.two_team_people.items():
        expected = TWO_TEAM_EXPECTED[row.name][person][0 if way_round == FIRST else 1]
        reset_failed_logins()
        cache.clear()
        client = Client()
        for method in row.methods:
            client.force_login(user)
            url = row.path(world)
            response = client.post(url) if method == "POST" else client.get(url)
            allowed = row.post_ok if method == "POST" else row.get_ok
            statuses = set(allowed) if expected == OK else {expected}
            if response.status_code not in statuses:
                team_role = TWO_TEAM_PEOPLE[person][0 if way_round == FIRST else 1]
                wrong.append(f"{method} {url} as {person} ({team_role} in this team): got {response.status_code}, expected {statuses}")
    return wrong


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
