"""Access tokens: ES256 JWTs signed inside KMS, verified with the cached public key.

No signing secret exists anywhere: `issue` asks KMS to sign, `verify` uses the public
key fetched once per container. KMS returns an ASN.1 DER ECDSA signature; JWS wants
the raw 64-byte r||s, so it is converted. Tokens carry the RFC 9068 type `at+jwt`,
which an OpenID Connect ID token (type `JWT`) never has.

The canary (functions/canary) signs its tokens with a key of its own, named by its own
`kid`: `verify` honours a token signed with it only when its subject is the canary
account (functions/common/canary.py), so the canary's role cannot mint anyone's token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass

from functions.common import aws, safejson
from functions.common.canary import CANARY_USER_ID
from functions.common.settings import settings

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
LIFETIME_SECONDS = 3600  # the contract's maximum
LEEWAY_SECONDS = 30
AUDIENCE = "serenya-app"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "sid"]
# PyJWT and cryptography are imported by the calls that need them: issuing needs the DER
# decoder only, verifying needs PyJWT (the authorizer preloads it, functions/authorizer).


class InvalidToken(Exception):
    """The token must not be honoured; `reason` is one of a few fixed codes (for metrics)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def issuer() -> str:
    return f"https://serenya.health/{settings().env}"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int

    @property
    def expires_in(self) -> int:
        return self.expires_at - self.issued_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# The order n of P-256's base point (SEC 2 v2, section 2.4.2). (r, s) and (r, n - s) are
# both valid ECDSA signatures of the same message: only the low one, s <= n/2, is issued
# and accepted, so a token has one signature (the rule Bitcoin's BIP 62 set for the same
# malleability). KMS returns either.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HALF_ORDER = P256_ORDER // 2


def der_to_jws(der: bytes) -> bytes:
    """KMS's DER signature as JWS's raw r||s (RFC 7518, section 3.4), with s made low."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    if s > HALF_ORDER:
        s = P256_ORDER - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _low_s(token: str) -> bool:
    """Whether the (canonical) token's ES256 signature is 64 bytes with s <= n/2."""
    segment = token.rsplit(".", 1)[-1]
    signature = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") <= HALF_ORDER


def key_id(key_arn: str) -> str:
    """A stable, public `kid`: a digest of the key ARN, so the ARN itself is not exposed."""
    return hashlib.sha256(key_arn.encode()).hexdigest()[:16]


def issue(
    user_id: str, session_id: str, now: int | None = None, lifetime_s: int = LIFETIME_SECONDS, canary: bool = False
) -> IssuedToken:
    """A signed access token; `lifetime_s` shortens it (the canary's), never beyond the contract's hour.
    `canary`: signed with the canary's key, for the canary account only."""
    if canary and user_id != CANARY_USER_ID:
        raise ValueError("the canary's key signs the canary account's tokens only")
    key_arn = settings().require("canary_signing_key_arn" if canary else "signing_key_arn")
    now = int(time.time()) if now is None else now
    lifetime_s = min(lifetime_s, LIFETIME_SECONDS)
    jti = str(uuid.uuid4())
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key_id(key_arn)}
    claims = {
        "iss": issuer(),
        "aud": AUDIENCE,
        "sub": user_id,
        "iat": now,
        "exp": now + lifetime_s,
        "jti": jti,
        "sid": session_id,
    }
    signing_input = (
        f"{_b64(json.dumps(header, separators=(',', ':')).encode())}."
        f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    )
    der = aws.client("kms").sign(
        KeyId=key_arn, Message=signing_input.encode(), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    return IssuedToken(f"{signing_input}.{_b64(der_to_jws(der))}", jti, now, now + lifetime_s)


_public_keys: dict[str, object] = {}
_lock = threading.Lock()


def public_key(key_arn: str):
    """The signing key's public half, fetched from KMS once per container."""
    key = _public_keys.get(key_arn)
    if key is None:
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        der = aws.client("kms").get_public_key(KeyId=key_arn)["PublicKey"]
        with _lock:
            key = _public_keys.setdefault(key_arn, load_der_public_key(der))
    return key


def verify(token: str) -> dict:
    """Claims of a valid access token of this stack; InvalidToken otherwise."""
    import jwt

    key_arn = settings().require("signing_key_arn")
    canary_key_arn = settings().canary_signing_key_arn
    try:
        safejson.check_jws(token)  # refused before any parser recurses into it
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, safejson.UnsafeJson):
        raise InvalidToken("malformed") from None
    # One spelling per token: API Gateway caches the authorizer's answer by the token's
    # text, and a revocation list would be keyed on it too.
    if not safejson.is_canonical_jws(token):
        raise InvalidToken("non_canonical")
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("algorithm_not_allowed")
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidToken("not_an_access_token")
    if header.get("kid") == key_id(key_arn):
        canary, verifying_key = False, key_arn
    elif canary_key_arn and header.get("kid") == key_id(canary_key_arn):
        canary, verifying_key = True, canary_key_arn
    else:
        raise InvalidToken("unknown_key")
    try:
        claims = jwt.decode(
            token,
            public_key(verifying_key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("invalid") from None
    # Checked once the signature verified: "high_s" then always means one of our tokens,
    # re-spelled with its twin signature (n - s).
    if not _low_s(token):
        raise InvalidToken("high_s")
    # The canary's key vouches for the canary account and no one else.
    if canary and claims["sub"] != CANARY_USER_ID:
        raise InvalidToken("canary_key_other_subject")
    # Well signed is not enough: a token living longer than the contract's hour (a
    # signing bug, a key used elsewhere) is refused.
    if (
        not isinstance(claims["iat"], int)
        or not isinstance(claims["exp"], int)
        or claims["exp"] - claims["iat"] > LIFETIME_SECONDS
    ):
        raise InvalidToken("lifetime_too_long")
    return claims
