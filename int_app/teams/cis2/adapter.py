"""Who a CIS2 sign-in may reach: an account that already exists and is active, found by the
CIS2 identity linked to it or else by its email address. Signing in never creates an account."""

import structlog
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import render

from ..invitations import invitations_accept_through_cis2
from ..models import User

logger = structlog.get_logger(__name__)


def refuse(request: HttpRequest, reason: str) -> ImmediateHttpResponse:
    logger.warning("cis2_sign_in_refused", reason=reason)
    return ImmediateHttpResponse(render(request, "socialaccount/cis2_refused.html", {"reason": reason}, status=403))


# Removing a link reads the provider's settings (allauth's disconnect flow); a link made while
# CIS2 was configured outlives a server where it has been switched off since.
PROVIDER_SWITCHED_OFF = (
    "NHS CIS2 sign-in is switched off on this server, so the link to your CIS2 identity cannot be "
    "removed now. A superuser can remove it in the admin (Social accounts)."
)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def validate_disconnect(self, account, accounts) -> None:
        try:
            account.get_provider()
        except SocialApp.DoesNotExist:
            raise ValidationError(PROVIDER_SWITCHED_OFF) from None
        super().validate_disconnect(account, accounts)

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """allauth has looked the CIS2 identity up among the linked ones. Linked: only an active
        account may sign in. Not linked: link it to the active account with the same email address
        (an invited person is one, made at invitation), or refuse."""
        if sociallogin.is_existing:
            if not sociallogin.user.is_active:
                raise refuse(request, "inactive")
            return
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            # Someone already signed in links their CIS2 identity from /accounts/3rdparty/ to
            # their own account (allauth refuses one linked to somebody else's): no email to match.
            return
        identity = sociallogin.account.extra_data
        email = (identity.get("userinfo") or identity.get("id_token") or {}).get("email")
        if not isinstance(email, str) or not email.strip():
            raise refuse(request, "no_email")
        # Addresses are stored in lower case (UserManager); two that differ only in case would
        # make the match a guess, so neither is reached.
        accounts = list(User.objects.filter(email__iexact=email.strip())[:2])
        if len(accounts) != 1:
            raise refuse(request, "no_account")
        [account] = accounts
        if not account.is_active:
            raise refuse(request, "inactive")
        with transaction.atomic():
            sociallogin.connect(request, account)
            # An invited person who signs in with CIS2 has taken up the invitation: the access
            # review shows it accepted, and its emailed link stops working.
            invitations_accept_through_cis2(user=account)
        logger.info("cis2_identity_linked", linked_user_id=account.pk)

    def on_authentication_error(self, request: HttpRequest, provider, error=None, exception=None, extra_context=None) -> None:
        # Why a sign-in failed (a bad signature, a wrong audience, CIS2 down) is for the logs;
        # the person sees one plain page (socialaccount/authentication_error.html).
        logger.warning("cis2_sign_in_failed", error=str(error), exception=str(exception))
