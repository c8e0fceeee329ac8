"""Signing out of NHS CIS2 too (OpenID Connect RP-Initiated Logout 1.0).

A session that signed in through CIS2 keeps what signing out of CIS2 needs: the provider's
end-session address (from the discovery document read at sign-in, so signing out never waits on
CIS2) and the ID token it sent, as the hint that names the session to end. Log out then ends our
session and sends the browser on to CIS2, which ends its session and comes back to our login page.
A password sign-in keeps nothing here and signs out as before."""

from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from . import PROVIDER_ID

SESSION_KEY = "cis2_sign_out"


def sign_out_prepare(request: HttpRequest, *, end_session_endpoint: str | None, id_token: str, client_id: str) -> None:
    """Held on the request until the sign-in completes (`sign_out_keep`): a CIS2 identity that is
    then refused leaves nothing in the session."""
    if end_session_endpoint:
        request.cis2_sign_out = {"end_session_endpoint": end_session_endpoint, "id_token": id_token, "client_id": client_id}


def sign_out_keep(request: HttpRequest, sociallogin) -> None:
    """The sign-in has completed (login has cycled the session): keep what sign_out_prepare held."""
    prepared = getattr(request, "cis2_sign_out", None)
    if prepared and sociallogin is not None and sociallogin.account.provider == PROVIDER_ID:
        request.session[SESSION_KEY] = prepared


def sign_out_url(request: HttpRequest) -> str | None:
    """Where the browser goes after our session ends: CIS2's end-session address for a CIS2
    session, back to our login page afterwards; None for any other session."""
    held = request.session.get(SESSION_KEY)
    if not isinstance(held, dict) or not held.get("end_session_endpoint"):
        return None
    query = urlencode(
        {
            "id_token_hint": held["id_token"],
            "client_id": held["client_id"],
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("account_login")),
        }
    )
    separator = "&" if "?" in held["end_session_endpoint"] else "?"
    return f"{held['end_session_endpoint']}{separator}{query}"
