"""Rows for the account pages of django-allauth: they hold no team data, so every role is
treated alike; the matrix still checks that anonymous visitors are sent to log in where the page
is private, and that POSTs need a CSRF token."""

from tests.access import Row, register

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
