"""A real OpenID Connect provider on 127.0.0.1 standing in for NHS CIS2: `oidc-provider-mock`,
started on a free port in a thread, with a switch that spoils the ID tokens its token endpoint
hands out, so the tests can show that our side checks them.

- `audience`: the token names another service as its audience, signed with the provider's own key.
- `nonce`: the token carries another sign-in's nonce, signed with the provider's own key, as a
  token taken from someone else's sign-in would.
- `signature`: the token is signed with another key under the provider's key id, as a party that
  could answer for the token endpoint but does not hold CIS2's key would sign it.
"""

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import flask
import joserfc.jwk
import oidc_provider_mock
import requests
import werkzeug.serving
from joserfc import jwt

from int_app.settings import cis2_app

CLIENT_ID = "int-meetings-test"
CLIENT_SECRET = "not-a-real-secret"


@dataclass
class MockCIS2:
    issuer: str
    spoil: str | None = None
    # Every ID token the token endpoint handed out, as sent (after any spoiling).
    id_tokens: list[str] = field(default_factory=list)

    def add_person(self, sub: str, email: str, **claims: object) -> None:
        """Someone CIS2 knows: their unique id (sub) and claims, given out under the scopes asked for."""
        response = requests.put(f"{self.issuer}/users/{sub}", json={"email": email, **claims}, timeout=5)
        response.raise_for_status()

    def app_settings(self, acr_values: str = "") -> dict:
        """SOCIALACCOUNT_PROVIDERS for a service whose CIS2 is this provider."""
        app = cis2_app(
            issuer=self.issuer, client_id=CLIENT_ID, secret=CLIENT_SECRET, scopes=["openid", "profile", "email"], acr_values=acr_values
        )
        return {"openid_connect": {"provider_class": "int_app.teams.cis2.provider.CIS2Provider", "APPS": [app]}}


def _claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _header_of(token: str) -> dict:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


@contextmanager
def running_mock_cis2() -> Iterator[MockCIS2]:
    app = oidc_provider_mock.app()
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    provider = MockCIS2(issuer=f"http://127.0.0.1:{server.server_port}")

    @app.after_request
    def spoil_the_id_token(response: flask.Response) -> flask.Response:
        if flask.request.path != "/oauth2/token" or response.status_code != 200:
            return response
        body = response.get_json()
        token = body["id_token"]
        if provider.spoil is not None:
            header, claims = _header_of(token), _claims_of(token)
            own_key = flask.g.oidc_provider_mock_storage.jwk
            if provider.spoil == "audience":
                claims["aud"] = "another-nhs-service"
                key = own_key
            elif provider.spoil == "nonce":
                claims["nonce"] = "a-nonce-from-another-sign-in"
                key = own_key
            elif provider.spoil == "signature":
                key = joserfc.jwk.RSAKey.generate_key(2048, parameters={"kid": header["kid"]}, private=True)
            else:
                raise ValueError(provider.spoil)
            token = jwt.encode({"alg": header["alg"], "kid": header["kid"]}, claims, key)
            body["id_token"] = token
            response.set_data(json.dumps(body))
        provider.id_tokens.append(token)
        return response

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
