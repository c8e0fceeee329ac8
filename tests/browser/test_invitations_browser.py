"""An invitation from end to end in the browser: the staff admin invites, the email arrives, the
person sets a password, enrols an authenticator app, signs in with a code and lands on their team."""

import re
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import expect

from int_app.teams.models import Invitation, Organisation
from int_app.teams.roles import Role

from ..factories import MembershipFactory, UserFactory
from .conftest import assert_accessible, log_in

ORGANISATION = "Birmingham Community Healthcare NHS Foundation Trust"
PERIOD = 30


def server_time() -> float:
    """The clock the server checks codes against: the suite's own, which INT_TEST_NOW moves (a
    code worked out on the machine's real clock is refused as from another period)."""
    return time.time()


def code_for(secret: str, at: float) -> str:
    """The app's code, worked out as allauth does (the same functions its tests and ours use)."""
    return format_hotp_value(hotp_value(secret, int(at) // PERIOD))


@pytest.mark.browser
def test_a_person_is_invited_accepts_enrols_an_app_and_signs_in_to_their_team(
    new_page, live_server, transactional_db, own_team, mailoutbox, settings
):
    settings.INT_SITE_URL = live_server.url
    Organisation.objects.create(name=ORGANISATION, kind=Organisation.Kind.COMMUNITY_TRUST)
    admin = UserFactory(email="admin@own.test", full_name="Sam Staff", is_staff=True)
    MembershipFactory(user=admin, team=own_team, role=Role.COORDINATOR)

    # The staff admin invites Jo.
    staff = new_page()
    log_in(staff, live_server, admin.email)
    # The header's "Invitations" link may sit in its "More" menu at this width: go there directly.
    expect(staff.locator('a[href="/invitations/"]')).to_be_attached()
    staff.goto(f"{live_server.url}/invitations/")
    assert_accessible(staff, live_server, context="invitations, empty")
    staff.get_by_role("link", name="Invite people from a CSV file").click()
    assert_accessible(staff, live_server, context="CSV upload")
    staff.go_back()
    staff.get_by_role("link", name="Invite someone").click()
    staff.get_by_label("Email address").fill("jo.bloggs@nhs.net")
    staff.get_by_label("Given name").fill("Jo")
    staff.get_by_label("Family name").fill("Bloggs")
    staff.get_by_label("Team", exact=True).select_option(label="Own INT")
    staff.get_by_label("Role in the team").select_option(label="Occupational therapist")
    staff.get_by_label("Organisation they work for").select_option(label=ORGANISATION)
    assert_accessible(staff, live_server, context="invite someone")
    staff.get_by_role("button", name="Send the invitation").click()
    expect(staff.get_by_text("Invitation sent to jo.bloggs@nhs.net")).to_be_visible()
    expect(staff.get_by_role("cell", name="Waiting")).to_be_visible()
    assert_accessible(staff, live_server, context="invitations, one waiting")

    # The email is in the outbox, with the link.
    assert [message.to for message in mailoutbox] == [["jo.bloggs@nhs.net"]]
    link = re.search(r"(http://\S+/invitations/accept/[0-9a-f]+/)", mailoutbox[0].body).group(1)

    # Jo opens it in their own browser, chooses a password and sets up the app.
    jo = new_page()
    jo.goto(link)
    expect(jo.get_by_role("heading", name="Join Own INT")).to_be_visible()
    assert_accessible(jo, live_server, context="accept the invitation")
    password = "correct-horse-battery-2026"
    jo.get_by_label("Choose a password").fill(password)
    jo.get_by_label("Type the password again").fill(password)
    jo.get_by_role("button", name="Set my password").click()
    jo.wait_for_url(f"{live_server.url}/accounts/2fa/totp/activate/")
    secret = jo.locator("#authenticator_secret").input_value()
    enrolled_at = server_time()
    jo.get_by_label("Authenticator code").fill(code_for(secret, enrolled_at))
    jo.get_by_role("button", name="Activate").click()
    jo.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))
    assert Invitation.objects.get().accepted_at is not None

    # Later, Jo signs in: password, then a fresh code (a code is good once), then their team.
    jo.get_by_role("button", name="Log out").click()
    time.sleep(PERIOD - enrolled_at % PERIOD + 0.2)
    jo.goto(f"{live_server.url}/accounts/login/")
    jo.get_by_label("Email address").fill("jo.bloggs@nhs.net")
    jo.get_by_label("Password").fill(password)
    jo.get_by_role("button", name="Log in").click()
    jo.wait_for_url(f"{live_server.url}/accounts/2fa/authenticate/")
    jo.get_by_label("Code", exact=True).fill(code_for(secret, server_time()))
    jo.get_by_role("button", name="Sign In").click()
    jo.wait_for_url(f"{live_server.url}/")
    expect(jo.get_by_role("heading", name="Hello, Jo")).to_be_visible()
    expect(jo.get_by_role("heading", name="Own INT")).to_be_visible()
    expect(jo.get_by_text("You are the team's Occupational therapist")).to_be_visible()

    # The staff admin sees the invitation accepted.
    staff.reload()
    expect(staff.get_by_role("cell", name=re.compile("Accepted"))).to_be_visible()
