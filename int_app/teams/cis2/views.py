"""The sign-in and callback addresses of allauth's OpenID Connect provider, with one change:
the ID token's signature is always checked.

allauth skips the signature when the token came straight from the token endpoint over TLS, which
OpenID Connect Core 3.1.3.7 allows. We check it anyway, against the provider's published keys:
the issuer and audience checks mean little on a token nobody has verified, and a misrouted or
intercepted token endpoint (a proxy, a DNS mistake) must not be able to sign anyone in. A token
with no ID token, or user info about someone else, is refused too."""

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

logger = structlog.get_logger(__name__)

NOT_SET_UP = "NHS CIS2 sign-in is not set up for this service. Log in with your email address and password."


class CIS2Adapter(OpenIDConnectOAuth2Adapter):
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
        # A token seen before (same issuer and jti) is a replay: allauth keeps them in the cache.
        jwtkit.verify_jti(claims)
        return claims

    def complete_login(self, request: HttpRequest, app, token: SocialToken, **kwargs):
        if not kwargs["response"].get("id_token"):
            # Without an ID token nothing is signed: the user info alone proves nothing.
            raise OAuth2Error("The token response has no ID token.")
        login = super().complete_login(request, app, token, **kwargs)
        identity = login.account.extra_data
        userinfo_subject = (identity.get("userinfo") or {}).get("sub")
        if userinfo_subject is not None and userinfo_subject != identity["id_token"].get("sub"):
            # OpenID Connect Core 5.3.2: user info about someone other than the signed token's subject.
            raise OAuth2Error("The user info is about someone other than the ID token's subject.")
        return login


def _unavailable(request: HttpRequest) -> HttpResponse:
    """CIS2's discovery document or keys could not be read (down, or not what OpenID Connect says)."""
    logger.warning("cis2_unavailable", exc_info=True)
    return render(request, "socialaccount/cis2_unavailable.html", status=503)


def _not_set_up(request: HttpRequest) -> HttpResponse:
    messages.error(request, NOT_SET_UP)
    return redirect("account_login")


@login_not_required
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    """GET shows allauth's "continue to NHS CIS2" page; the login page's button POSTs here."""
    try:
        view = OAuth2LoginView.adapter_view(CIS2Adapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        return _not_set_up(request)
    except (requests.RequestException, ValueError, KeyError):
        return _unavailable(request)


@login_not_required
@require_GET
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2CallbackView.adapter_view(CIS2Adapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        return _not_set_up(request)
    except (requests.RequestException, ValueError, KeyError):
        return _unavailable(request)
