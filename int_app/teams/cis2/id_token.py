"""Checking an OpenID Connect ID token: signature, issuer, audience and times (OpenID Connect
Core 3.1.3.7), with PyJWT (which allauth's `socialaccount` extra brings).

allauth skips the signature for a token fetched from the token endpoint; docs/adr/0014-cis2-sign-in.md
says why we check it anyway. PyJWT does the cryptography and the registered claims; this module
chooses the key, holds the algorithms to RSA and says in words what was wrong.
"""

import jwt
from allauth.socialaccount.providers.oauth2.client import OAuth2Error

# RSA signatures only: never "none", and never an HMAC, which a forger could key with the public key.
ALGORITHMS = ("RS256", "RS384", "RS512")
# Clocks differ a little between CIS2 and us.
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]


class InvalidIdToken(OAuth2Error):
    pass


def _public_key(jwks: dict, kid: str | None) -> jwt.PyJWK:
    for key in jwks.get("keys", []):
        if key.get("kty") == "RSA" and key.get("kid") == kid and key.get("use", "sig") == "sig":
            return jwt.PyJWK(key)
    raise InvalidIdToken(f"No signing key {kid!r} among the provider's published keys.")


# What each of PyJWT's refusals means, in the words the sign-in error log and the tests use.
REFUSALS: list[tuple[type[Exception], str]] = [
    (jwt.InvalidSignatureError, "The ID token's signature is not the provider's."),
    (jwt.InvalidIssuerError, "The ID token is from another issuer."),
    (jwt.InvalidAudienceError, "The ID token is for another service."),
    (jwt.ExpiredSignatureError, "The ID token has expired."),
    (jwt.ImmatureSignatureError, "The ID token was issued in the future."),
    (jwt.MissingRequiredClaimError, "The ID token lacks a claim it must carry."),
    (jwt.InvalidTokenError, "The ID token is not a signed JWT."),
]


def verify_id_token(token: str, *, jwks: dict, issuer: str, audience: str, algorithms: list[str] | None = None) -> dict:
    """The token's claims, if the provider signed it for us and it is current; else InvalidIdToken."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidIdToken("The ID token is not a signed JWT.") from error
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS or algorithm not in (algorithms or ALGORITHMS):
        raise InvalidIdToken(f"ID tokens signed with {algorithm!r} are not accepted.")
    key = _public_key(jwks, header.get("kid"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError as error:
        reason = next(words for kind, words in REFUSALS if isinstance(error, kind))
        raise InvalidIdToken(reason) from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != audience:
        raise InvalidIdToken("The ID token was issued to another service.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("The ID token names nobody.")
    return claims
