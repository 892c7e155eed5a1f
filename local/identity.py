"""A local identity provider standing in for Google and Apple.

One RSA key per provider and run; ID tokens shaped like the real ones (RS256, `kid`,
issuer, audience = the stack's first client id for that provider; Apple's
`email_verified` as a string). The local stack points the auth function at these
JWKS and issuers, and at nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

PROVIDERS = ("google", "apple")
TOKEN_LIFETIME_SECONDS = 600


class LocalIdentityProvider:
    def __init__(self, base_url: str, client_ids: Mapping[str, tuple[str, ...]]):
        self.base_url = base_url
        self.client_ids = dict(client_ids)
        self._keys = {p: rsa.generate_private_key(public_exponent=65537, key_size=2048) for p in PROVIDERS}

    def issuer(self, provider: str) -> str:
        return f"{self.base_url}/local/idp/{provider}"

    def jwks_url(self, provider: str) -> str:
        return f"{self.issuer(provider)}/jwks.json"

    def environment(self) -> dict[str, str]:
        """What the auth function needs to trust this provider instead of the real ones."""
        env = {}
        for p in PROVIDERS:
            env[f"{p.upper()}_ISSUER"] = self.issuer(p)
            env[f"{p.upper()}_JWKS_URL"] = self.jwks_url(p)
        return env

    def kid(self, provider: str) -> str:
        return f"local-{provider}-1"

    def jwks(self, provider: str) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._keys[provider].public_key()))
        return {"keys": [{**jwk, "kid": self.kid(provider), "alg": "RS256", "use": "sig"}]}

    def id_token(
        self,
        provider: str,
        sub: str,
        email: str | None = None,
        email_verified: bool = True,
        name: str | None = None,
        nonce: str | None = None,
        audience: str | None = None,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer(provider),
            "aud": audience or self.client_ids[provider][0],
            "sub": sub,
            "iat": now,
            "exp": now + lifetime,
        }
        if email:
            claims["email"] = email
            claims["email_verified"] = "true" if provider == "apple" and email_verified else email_verified
        if name and provider == "google":  # Apple never puts names in the token
            claims["name"] = name
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._keys[provider], algorithm="RS256", headers={"kid": self.kid(provider)})
