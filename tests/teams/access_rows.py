"""Rows for the account pages of django-allauth: they hold no team data, so every role is
treated alike; the matrix still checks that anonymous visitors are sent to log in where the page
is private, and that POSTs need a CSRF token. Then the teams layer's own pages: invitations and
the access review."""

from int_app.teams.invitations import Invitee, invitation_create
from int_app.teams.models import Organisation
from int_app.teams.roles import Role
from tests.access import WORLD_BUILDERS, Row, World, register

SIGNED_IN = frozenset({200, 302})


def account(name: str, path: str, *, public: bool = False, methods=("GET",), get_ok=SIGNED_IN) -> Row:
    return Row(name, lambda w: path, public=public, other_team="same", methods=methods, get_ok=get_ok)


register(
    # A signed-in person is sent on from the login page to their home.
    account("account_login", "/accounts/login/", public=True, methods=("GET", "POST")),
    account("account_logout", "/accounts/logout/", public=True, methods=("GET", "POST")),
    account("account_inactive", "/accounts/inactive/", public=True),
    # Sign-up is closed: the page says so to everyone.
    account("account_signup", "/accounts/signup/", public=True, methods=("GET", "POST")),
    account("account_reauthenticate", "/accounts/reauthenticate/"),
    account("account_email", "/accounts/email/"),
    account("account_email_verification_sent", "/accounts/confirm-email/", public=True),
    account("account_confirm_email", "/accounts/confirm-email/not-a-key/", public=True),
    account("account_change_password", "/accounts/password/change/", methods=("GET", "POST")),
    account("account_set_password", "/accounts/password/set/"),
    account("account_reset_password", "/accounts/password/reset/", public=True, methods=("GET", "POST")),
    account("account_reset_password_done", "/accounts/password/reset/done/", public=True),
    account("account_reset_password_from_key", "/accounts/password/reset/key/1-not-a-key/", public=True),
    account("account_reset_password_from_key_done", "/accounts/password/reset/key/done/", public=True),
    account("account_confirm_login_code", "/accounts/login/code/confirm/", public=True),
    account("mfa_index", "/accounts/2fa/"),
    account("mfa_authenticate", "/accounts/2fa/authenticate/", public=True),
    account("mfa_reauthenticate", "/accounts/2fa/reauthenticate/"),
    account("mfa_activate_totp", "/accounts/2fa/totp/activate/", methods=("GET", "POST")),
    # Not found for someone who has no authenticator app to switch off.
    account("mfa_deactivate_totp", "/accounts/2fa/totp/deactivate/", get_ok=frozenset({200, 302, 404})),
    account("mfa_view_recovery_codes", "/accounts/2fa/recovery-codes/", get_ok=frozenset({200, 302, 404})),
    account("mfa_generate_recovery_codes", "/accounts/2fa/recovery-codes/generate/"),
    account("mfa_download_recovery_codes", "/accounts/2fa/recovery-codes/download/", get_ok=frozenset({200, 302, 404})),
    account("usersessions_list", "/accounts/sessions/", methods=("GET", "POST")),
)


# --- Invitations and the access review ------------------------------------------------------------
# Invitations are a staff admin's pages (is_staff, not a role in a team): every role of every team
# is refused them, 403 for the pages and 404 for an invitation (fetched through
# Invitation.objects.visible_to, which holds none for someone who is not staff). What staff admins
# of this team and another get is in tests/teams/test_invitations.py. The link an invitee follows is
# public; a signed-in person is told to log out first.

NOBODY_IN_A_TEAM = frozenset()
REVIEWERS = frozenset({Role.INFORMATION_GOVERNANCE_LEAD, Role.COORDINATOR})


def build_invitation_world(world: World) -> None:
    invitation = invitation_create(
        invitee=Invitee(
            email="invited.person@own.test",
            given_name="Invited",
            family_name="Person",
            team=world.own,
            role=Role.OCCUPATIONAL_THERAPIST,
            organisation=Organisation.objects.order_by("pk").first(),
        ),
        by=world.member(world.own, Role.COORDINATOR),
    )
    world.objects.update(invitation=invitation, invitation_token=invitation.token())


WORLD_BUILDERS.append(build_invitation_world)

register(
    Row("access_review", lambda w: f"/teams/{w.own.slug}/access-review/", roles=REVIEWERS, missing=lambda w: "/teams/no-such-team/access-review/"),
    Row("access_review_csv", lambda w: f"/teams/{w.own.slug}/access-review.csv", roles=REVIEWERS, missing=lambda w: "/teams/no-such-team/access-review.csv"),
    Row("invitations", lambda w: "/invitations/", roles=NOBODY_IN_A_TEAM, other_team="same"),
    Row("invitation_new", lambda w: "/invitations/new/", roles=NOBODY_IN_A_TEAM, other_team="same", methods=("GET", "POST")),
    Row("invitation_upload", lambda w: "/invitations/upload/", roles=NOBODY_IN_A_TEAM, other_team="same", methods=("GET", "POST")),
    Row("invitation_resend", lambda w: f"/invitations/{w.objects['invitation'].pk}/resend/", roles=NOBODY_IN_A_TEAM, refused=404, methods=("POST",)),
    Row("invitation_revoke", lambda w: f"/invitations/{w.objects['invitation'].pk}/revoke/", roles=NOBODY_IN_A_TEAM, refused=404, methods=("POST",)),
    Row(
        "invitation_accept",
        lambda w: f"/invitations/accept/{w.objects['invitation_token']}/",
        public=True,
        other_team="same",
        methods=("GET", "POST"),
    ),
)

# NHS CIS2 sign-in (allauth's socialaccount, int_app/teams/cis2). The matrix runs without CIS2
# configured: its sign-in and callback addresses send everyone back to the login page.
register(
    account("openid_connect_login", "/accounts/oidc/cis2/login/", public=True, methods=("GET", "POST")),
    account("openid_connect_callback", "/accounts/oidc/cis2/login/callback/", public=True),
    account("socialaccount_login_cancelled", "/accounts/3rdparty/login/cancelled/", public=True),
    # allauth's "sign-in did not work" page answers 401, to everyone.
    account("socialaccount_login_error", "/accounts/3rdparty/login/error/", public=True, get_ok=frozenset({401})),
    # Sign-up is closed: with no sign-in waiting for one, the page sends the visitor to log in.
    account("socialaccount_signup", "/accounts/3rdparty/signup/", public=True, methods=("GET", "POST")),
    # A signed-in person's linked CIS2 identity, which they may link or unlink.
    account("socialaccount_connections", "/accounts/3rdparty/", methods=("GET", "POST")),
)
