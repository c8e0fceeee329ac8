from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .views import CIS2Adapter


class CIS2Provider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider (SOCIALACCOUNT_PROVIDERS' provider_class), with its
    addresses served by our views (`package`), which check every ID token's signature."""

    package = "int_app.teams.cis2"
    oauth2_adapter_class = CIS2Adapter


provider_classes = [CIS2Provider]
