"""NHS CIS2 sign-in: allauth's OpenID Connect provider, held to our rules (docs/adr/0014-cis2-sign-in.md).

- The provider checks every ID token's signature, issuer and audience (provider.py, views.py).
- A sign-in reaches only an existing, active account; it never creates one (adapter.py).
- A session that began with a CIS2 sign-in is not asked for local TOTP (stages.py and
  middleware.require_mfa, through `signed_in_through_cis2`).
"""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

PROVIDER_ID = "cis2"


def is_configured() -> bool:
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return any(app.get("provider_id") == PROVIDER_ID for app in apps)


def signed_in_through_cis2(request: HttpRequest, user: AbstractBaseUser) -> bool:
    """Whether this session was authenticated by CIS2 as this person: allauth records each way a
    session authenticated (for this user only, and a login or logout starts the list afresh). It
    asks how the session signed in, not whether the person has a CIS2 identity linked, so the
    same person signing in with a password still meets local MFA."""
    from allauth.account.authentication import get_authentication_records

    return any(
        record.get("method") == "socialaccount" and record.get("provider") == PROVIDER_ID
        for record in get_authentication_records(request, user)
    )
