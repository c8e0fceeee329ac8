"""The parts of NHS CIS2 sign-in that need no provider: the ID token checks, and the settings
that refuse half a configuration."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.exceptions import ImproperlyConfigured

from int_app.settings import cis2_from_environment
from int_app.teams.cis2.id_token import InvalidIdToken, verify_id_token

from .test_settings import production_settings_run

ISSUER = "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
CLIENT_ID = "123456789012.apps.national"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def number(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [{"kty": "RSA", "kid": "cis2-1", "use": "sig", "n": number(KEY.public_key().public_numbers().n), "e": number(65537)}]}


def signed(claims: dict, *, key=KEY, alg: str = "RS256", kid: str = "cis2-1") -> str:
    header = b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{b64(signature)}"


def claims(**changes) -> dict:
    # Tokens of the parametrised cases are made when the module is collected, which may be many
    # minutes before they are checked on a busy machine: they stay current for a day.
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT_ID, "sub": "555000000001", "iat": now, "exp": now + 86_400} | changes


def check(token: str) -> dict:
    return verify_id_token(token, jwks=JWKS, issuer=ISSUER, audience=CLIENT_ID)


def test_a_token_the_provider_signed_for_us_gives_its_claims():
    assert check(signed(claims()))["sub"] == "555000000001"
    assert check(signed(claims(aud=[CLIENT_ID, "another"], azp=CLIENT_ID)))["sub"] == "555000000001"


@pytest.mark.parametrize(
    "token, reason",
    [
        (signed(claims(), key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "signature"),
        (signed(claims(), kid="someone-elses"), "No signing key"),
        (signed(claims(aud="another-nhs-service")), "another service"),
        (signed(claims(aud=[CLIENT_ID, "another"], azp="another")), "issued to another service"),
        (signed(claims(iss="https://evil.example")), "another issuer"),
        (signed(claims(exp=int(time.time()) - 3600)), "expired"),
        (signed(claims(iat=int(time.time()) + 3600)), "in the future"),
        (signed(claims(sub="")), "names nobody"),
        ("not.a-token", "not a signed JWT"),
        ("!!!.@@@.###", "not a signed JWT"),
    ],
)
def test_a_token_not_signed_by_the_provider_for_us_or_out_of_date_is_refused(token, reason):
    with pytest.raises(InvalidIdToken, match=reason):
        check(token)


def test_an_unsigned_token_or_one_keyed_with_the_public_key_is_refused():
    body = b64(json.dumps(claims()).encode())
    unsigned = b64(json.dumps({"alg": "none", "kid": "cis2-1"}).encode())
    with pytest.raises(InvalidIdToken, match="'none' are not accepted"):
        check(f"{unsigned}.{body}.")
    # The classic forgery: an HMAC keyed with the (public) RSA key's published modulus.
    header = b64(json.dumps({"alg": "HS256", "kid": "cis2-1"}).encode())
    mac = hmac.new(JWKS["keys"][0]["n"].encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidIdToken, match="'HS256' are not accepted"):
        check(f"{header}.{body}.{b64(mac)}")


def test_only_the_algorithms_the_provider_says_it_uses_are_accepted():
    with pytest.raises(InvalidIdToken, match="'RS256' are not accepted"):
        verify_id_token(signed(claims()), jwks=JWKS, issuer=ISSUER, audience=CLIENT_ID, algorithms=["RS512"])


CIS2_ENVIRONMENT = ("INT_CIS2_ISSUER", "INT_CIS2_CLIENT_ID", "INT_CIS2_CLIENT_SECRET", "INT_CIS2_SCOPES", "INT_CIS2_ACR_VALUES")


@pytest.fixture
def environment(monkeypatch):
    for name in CIS2_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_cis2_settings_there_is_no_cis2(environment):
    assert cis2_from_environment() is None


def test_cis2_from_the_environment(environment):
    environment.setenv("INT_CIS2_ISSUER", ISSUER + "/")
    environment.setenv("INT_CIS2_CLIENT_ID", CLIENT_ID)
    environment.setenv("INT_CIS2_CLIENT_SECRET", "s3cret")
    app = cis2_from_environment()
    assert (app["provider_id"], app["client_id"], app["secret"]) == ("cis2", CLIENT_ID, "s3cret")
    assert app["settings"]["server_url"] == ISSUER
    assert app["settings"]["scope"] == ["openid", "profile", "email"] and "auth_params" not in app["settings"]
    environment.setenv("INT_CIS2_SCOPES", "openid, profile, email, nhsperson")
    environment.setenv("INT_CIS2_ACR_VALUES", "AAL3_ANY")
    app = cis2_from_environment()
    assert app["settings"]["scope"][-1] == "nhsperson" and app["settings"]["auth_params"] == {"acr_values": "AAL3_ANY"}


@pytest.mark.parametrize(
    "values, message",
    [
        ({"INT_CIS2_ISSUER": ISSUER}, "INT_CIS2_CLIENT_ID, INT_CIS2_CLIENT_SECRET must be set as well"),
        ({"INT_CIS2_CLIENT_ID": CLIENT_ID, "INT_CIS2_CLIENT_SECRET": "s"}, "INT_CIS2_ISSUER must be set as well"),
        (
            {"INT_CIS2_ISSUER": "http://cis2.example", "INT_CIS2_CLIENT_ID": CLIENT_ID, "INT_CIS2_CLIENT_SECRET": "s"},
            "must be an https:// address",
        ),
        (
            {"INT_CIS2_ISSUER": ISSUER, "INT_CIS2_CLIENT_ID": CLIENT_ID, "INT_CIS2_CLIENT_SECRET": "s", "INT_CIS2_SCOPES": "profile,email"},
            "must include openid",
        ),
    ],
)
def test_half_a_cis2_configuration_is_refused(environment, values, message):
    for name, value in values.items():
        environment.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        cis2_from_environment()


def test_passwords_cannot_be_switched_off_without_cis2_and_cis2_is_allowed_to_start_a_form():
    print_settings = "from django.conf import settings; print(settings.INT_LOCAL_PASSWORDS, *map(str, settings.SECURE_CSP['form-action']))"
    refused = production_settings_run(print_settings, INT_LOCAL_PASSWORDS="false")
    assert refused.returncode != 0 and "INT_LOCAL_PASSWORDS=false needs NHS CIS2 sign-in" in refused.stderr
    started = production_settings_run(
        print_settings,
        INT_LOCAL_PASSWORDS="false",
        INT_CIS2_ISSUER=ISSUER,
        INT_CIS2_CLIENT_ID=CLIENT_ID,
        INT_CIS2_CLIENT_SECRET="s3cret",
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == ["False", "'self'", "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk"]
