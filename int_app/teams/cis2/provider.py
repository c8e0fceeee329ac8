from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .views import CIS2Adapter, new_nonce


class CIS2Provider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider (SOCIALACCOUNT_PROVIDERS' provider_class), with its
    addresses served by our views (`package`), which check every ID token's signature and nonce."""

    package = "int_app.teams.cis2"
    oauth2_adapter_class = CIS2Adapter

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        """Off to CIS2 with a fresh nonce, which allauth keeps in the sign-in's state (its extra
        keyword arguments are stashed with it) for the callback to check."""
        nonce = new_nonce()
        auth_params = kwargs.pop("auth_params", None)
        auth_params = {**(self.get_auth_params() if auth_params is None else auth_params), "nonce": nonce}
        return super().redirect(request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs)


provider_classes = [CIS2Provider]
