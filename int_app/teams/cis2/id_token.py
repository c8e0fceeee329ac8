"""Checking an OpenID Connect ID token: signature, issuer, audience and times (OpenID Connect
Core 3.1.3.7), with `cryptography`, which the service already depends on.

allauth would decode the token with PyJWT, which is not among our dependencies (it comes with
allauth's `socialaccount` extra), and skips the signature for a token fetched from the token
endpoint; docs/adr/0011-cis2-sign-in.md says why we check it and what to do once PyJWT is in.
"""

import base64
import binascii
import json

from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils import timezone

# RSA signatures only: never "none", and never an HMAC, which a forger could key with the public key.
ALGORITHMS = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}
# Clocks differ a little between CIS2 and us.
LEEWAY_SECONDS = 60


class InvalidIdToken(OAuth2Error):
    pass


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _public_key(jwks: dict, kid: str | None) -> rsa.RSAPublicKey:
    for key in jwks.get("keys", []):
        if key.get("kty") == "RSA" and key.get("kid") == kid and key.get("use", "sig") == "sig":
            numbers = rsa.RSAPublicNumbers(e=int.from_bytes(_b64decode(key["e"]), "big"), n=int.from_bytes(_b64decode(key["n"]), "big"))
            return numbers.public_key()
    raise InvalidIdToken(f"No signing key {kid!r} among the provider's published keys.")


def verify_id_token(token: str, *, jwks: dict, issuer: str, audience: str, algorithms: list[str] | None = None) -> dict:
    """The token's claims, if the provider signed it for us and it is current; else InvalidIdToken."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(claims_part))
        signature = _b64decode(signature_part)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidIdToken("The ID token is not a signed JWT.") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidIdToken("The ID token is not a signed JWT.")
    algorithm = header.get("alg")
    allowed = set(ALGORITHMS) & set(algorithms or ALGORITHMS)
    if algorithm not in allowed:
        raise InvalidIdToken(f"ID tokens signed with {algorithm!r} are not accepted.")
    try:
        _public_key(jwks, header.get("kid")).verify(
            signature, f"{header_part}.{claims_part}".encode("ascii"), padding.PKCS1v15(), ALGORITHMS[algorithm]()
        )
    except (InvalidSignature, ValueError, KeyError) as error:
        raise InvalidIdToken("The ID token's signature is not the provider's.") from error

    if claims.get("iss") != issuer:
        raise InvalidIdToken("The ID token is from another issuer.")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or audience not in audiences:
        raise InvalidIdToken("The ID token is for another service.")
    if len(audiences) > 1 and claims.get("azp") != audience:
        raise InvalidIdToken("The ID token was issued to another service.")
    now = timezone.now().timestamp()
    expires, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expires, int | float) or expires < now - LEEWAY_SECONDS:
        raise InvalidIdToken("The ID token has expired.")
    if not isinstance(issued, int | float) or issued > now + LEEWAY_SECONDS:
        raise InvalidIdToken("The ID token was issued in the future.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("The ID token names nobody.")
    return claims
