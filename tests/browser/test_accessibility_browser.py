"""Every page anyone opens meets WCAG 2.2 AA, checked by axe-core in a real browser.

The pages come from the access matrix, so a new page is checked as soon as it has its row: each
is opened by a member allowed to use it, with one object of every kind in the team."""

from collections import defaultdict

import pytest

from int_app.teams.roles import Role

from ..access import ROWS, build_world, load_feature_rows
from .conftest import assert_accessible, log_in

load_feature_rows()

# Not pages: probes, downloads and the fragments that htmx asks for (each is checked inside the
# page that shows it).
NOT_PAGES = {
    "healthz",
    "readyz",
    "kpis:export",
    "caseload:check_nhs_number",
    "pressure:sitrep_csv",
    "access_review_csv",
    "meetings:outcome_summary_pdf",
    "meetings:calendar_feed",
    "caseload:subject_access_download",
}


def viewer_for(row) -> str:
    if row.public:
        return "anonymous"
    return Role.COORDINATOR if Role.COORDINATOR in row.roles else sorted(row.roles)[0]


@pytest.mark.browser
def test_every_page_passes_axe_core_for_the_member_who_uses_it(page, live_server, transactional_db, own_team, other_team):
    world = build_world(own_team, other_team)
    pages_by_viewer = defaultdict(list)
    for row in ROWS:
        # Pages that are "not found" for this world (two-factor pages for someone without an
        # authenticator app), or that answer with an error status (allauth's 401 "sign-in did not
        # work", checked in test_cis2_browser), are left out: an error status in the browser is a
        # console error. Pages no role in a team opens (a staff admin's invitations) are checked by
        # their own browser test, tests/browser/test_invitations_browser.py.
        if not row.public and not row.roles:
            continue
        if "GET" in row.methods and row.name not in NOT_PAGES and 404 not in row.get_ok and row.get_ok & {200, 302}:
            pages_by_viewer[viewer_for(row)].append(row)

    checked = []
    for viewer, rows in sorted(pages_by_viewer.items()):
        page.context.clear_cookies()
        if viewer != "anonymous":
            log_in(page, live_server, world.member(own_team, viewer).email)
        for row in rows:
            response = page.goto(f"{live_server.url}{row.path(world)}")
            assert response.status == 200, f"{row.name} as {viewer}: {response.status}"
            if not page.locator("main").count():
                continue  # a fragment or a redirect to one: checked where it is shown
            assert_accessible(page, live_server, context=f"{row.name} as {viewer}")
            checked.append(row.name)
    # The main pages of every feature are among those checked.
    assert {"caseload:list", "caseload:refer", "caseload:resident", "caseload:directory", "meetings:agenda",
            "meetings:meeting", "meetings:my_actions", "kpis:dashboard", "kpis:methods", "pressure:heatmap"} <= set(checked)
