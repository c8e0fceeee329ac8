"""The sign-in and callback addresses of allauth's OpenID Connect provider, with one change:
the ID token's signature is always checked.

allauth skips the signature when the token came straight from the token endpoint over TLS, which
OpenID Connect Core 3.1.3.7 allows. We check it anyway, against the provider's published keys:
the issuer and audience checks mean little on a token nobody has verified, and a misrouted or
intercepted token endpoint (a proxy, a DNS mistake) must not be able to sign anyone in. A token
with no ID token, or user info about someone else, is refused too.

The sign-in also sends a nonce (OpenID Connect Core 3.1.2.1), kept in the sign-in's state in this
browser's session; the ID token must carry it back, so a token issued for another sign-in (another
browser, or an earlier one) cannot complete this one (3.1.3.7, point 11)."""

import hmac
import secrets
from collections.abc import Callable

import requests
import structlog
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp, SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .id_token import InvalidIdToken, verify_id_token
from .sign_out import sign_out_prepare

logger = structlog.get_logger(__name__)

NOT_SET_UP = "NHS CIS2 sign-in is not set up for this service. Log in with your email address and password."


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


class CIS2Adapter(OpenIDConnectOAuth2Adapter):
    # The nonce this sign-in sent, from its state (CIS2CallbackView); None until the state is read.
    expected_nonce: str | None = None

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.openid_config["jwks_uri"])
            response.raise_for_status()
            published_keys = response.json()
        claims = verify_id_token(
            id_token,
            jwks=published_keys,
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            algorithms=self.openid_config.get("id_token_signing_alg_values_supported"),
        )
        # Asked for an assurance level (INT_CIS2_ACR_VALUES): the token must say it was met.
        requested = (app.settings.get("auth_params") or {}).get("acr_values", "").split()
        if requested and claims.get("acr") not in requested:
            raise InvalidIdToken("The sign-in was not at the assurance level asked for.")
        nonce = claims.get("nonce")
        if not self.expected_nonce or not isinstance(nonce, str) or not hmac.compare_digest(nonce, self.expected_nonce):
            raise InvalidIdToken("The ID token was issued for another sign-in (its nonce is not this one's).")
        # A token seen before (same issuer and jti) is a replay: allauth keeps them in the cache.
        jwtkit.verify_jti(claims)
        return claims

    def complete_login(self, request: HttpRequest, app, token: SocialToken, **kwargs):
        if not kwargs["response"].get("id_token"):
            # Without an ID token nothing is signed: the user info alone proves nothing.
            raise OAuth2Error("The token response has no ID token.")
        login = super().complete_login(request, app, token, **kwargs)
        sign_out_prepare(
            request, end_session_endpoint=self.openid_config.get("end_session_endpoint"), id_token=kwargs["response"]["id_token"], client_id=app.client_id
        )
        identity = login.account.extra_data
        userinfo_subject = (identity.get("userinfo") or {}).get("sub")
        if userinfo_subject is not None and userinfo_subject != identity["id_token"].get("sub"):
            # OpenID Connect Core 5.3.2: user info about someone other than the signed token's subject.
            raise OAuth2Error("The user info is about someone other than the ID token's subject.")
        return login


class CIS2CallbackView(OAuth2CallbackView):
    def _get_state(self, request: HttpRequest, provider):
        # allauth reads (and removes) the sign-in's state here, before the token is fetched: the
        # adapter takes the nonce it holds (CIS2Provider.redirect put it there).
        state, response = super()._get_state(request, provider)
        if state is not None:
            self.adapter.expected_nonce = state.get("nonce")
        return state, response


def _through_cis2(view_class) -> Callable[[HttpRequest, str], HttpResponse]:
    """allauth's view for this step, answering plainly when CIS2 is not set up or cannot be read."""

    def view(request: HttpRequest, provider_id: str) -> HttpResponse:
        try:
            return view_class.adapter_view(CIS2Adapter(request, provider_id))(request)
        except SocialApp.DoesNotExist:
            messages.error(request, NOT_SET_UP)
            return redirect("account_login")
        except (requests.RequestException, ValueError, KeyError):
            # CIS2's discovery document or keys could not be read (down, or not what OpenID Connect says).
            logger.warning("cis2_unavailable", exc_info=True)
            return render(request, "socialaccount/cis2_unavailable.html", status=503)

    return view


# GET shows allauth's "continue to NHS CIS2" page; the login page's button POSTs here.
login = login_not_required(require_http_methods(["GET", "POST"])(_through_cis2(OAuth2LoginView)))
callback = login_not_required(require_GET(_through_cis2(CIS2CallbackView)))
