from allauth.mfa.stages import AuthenticateStage as AllauthAuthenticateStage
from django.http import HttpRequest

from . import signed_in_through_cis2


class AuthenticateStage(AllauthAuthenticateStage):
    """allauth's "enter your authenticator code" step after login, except after a CIS2 sign-in:
    CIS2 has already authenticated the person with a smartcard or another strong authenticator."""

    def _should_handle(self, request: HttpRequest) -> bool:
        if self.login.user is not None and signed_in_through_cis2(request, self.login.user):
            return False
        return super()._should_handle(request)
