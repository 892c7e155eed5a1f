"""Verification of Google and Apple ID tokens against the providers' published keys.

Keys are fetched from the provider's JWKS and cached per container. A token must be
RS256, signed by a current key of the provider, issued by it, for one of our client
ids, unexpired (small leeway), and carry the nonce the app sent when it sent one.
The local stack points JWKS and issuer at its own identity provider through
`<PROVIDER>_JWKS_URL` and `<PROVIDER>_ISSUER`.
"""

from __future__ import annotations

import hmac
import os
import threading
import unicodedata
from dataclasses import dataclass
from typing import Optional

from functions.common import safejson

# PyJWT (and the cryptography it loads) is imported by the calls that verify a token, not
# at import: modules that only need clean_name or Identity (the profile routes) never load it.

LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256"]


@dataclass(frozen=True)
class Provider:
    name: str
    issuers: tuple[str, ...]
    jwks_url: str
    client_ids_env: str


PROVIDERS = {
    "google": Provider("google", ("https://accounts.google.com", "accounts.google.com"),
                       "https://www.googleapis.com/oauth2/v3/certs", "GOOGLE_CLIENT_IDS"),
    "apple": Provider("apple", ("https://appleid.apple.com",),
                      "https://appleid.apple.com/auth/keys", "APPLE_CLIENT_IDS"),
}


class IdentityError(Exception):
    """The ID token does not prove an identity; the message is for logs and metrics."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: Optional[str]
    email_verified: bool
    name: Optional[str]
    given_name: Optional[str]
    family_name: Optional[str]


_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _jwks(url: str) -> jwt.PyJWKClient:
    import jwt

    with _lock:
        if url not in _clients:
            _clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=6 * 3600, timeout=3)
        return _clients[url]


def _configured(provider: Provider) -> tuple[tuple[str, ...], str, list[str]]:
    env = os.environ
    prefix = provider.name.upper()
    issuers = tuple(filter(None, env.get(f"{prefix}_ISSUER", "").split(","))) or provider.issuers
    client_ids = [c for c in env.get(provider.client_ids_env, "").split(",") if c]
    return issuers, env.get(f"{prefix}_JWKS_URL", provider.jwks_url), client_ids


def as_bool(value) -> bool:
    # Apple sends email_verified as the string "true"; Google as a boolean.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def verify_claims(provider_name: str, id_token: str, audiences: Optional[list[str]] = None) -> dict:
    """The claims of a token signed by the provider's current keys, issued by it, for one
    of `audiences` (the configured client ids by default), unexpired."""
    import jwt

    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise IdentityError("unknown_provider")
    issuers, jwks_url, client_ids = _configured(provider)
    audiences = client_ids if audiences is None else audiences
    if not audiences:
        raise IdentityError("provider_not_configured")
    try:
        safejson.check_jws(id_token)  # PyJWT parses the header before the signature is checked
        header = jwt.get_unverified_header(id_token)
        # Google's and Apple's tokens are canonical base64url (RFC 7515, section 2; RFC 4648,
        # section 3.5 has encoders zero the unused bits): only a re-spelled token fails here.
        if not safejson.is_canonical_jws(id_token):
            raise IdentityError("malformed")
        if header.get("alg") not in ALGORITHMS:
            raise IdentityError("algorithm_not_allowed")
        key = _jwks(jwks_url).get_signing_key(header.get("kid") or "")
        claims = jwt.decode(id_token, key.key, algorithms=ALGORITHMS, audience=audiences,
                            issuer=issuers, leeway=LEEWAY_SECONDS,
                            options={"require": ["iss", "aud", "sub", "iat", "exp"]})
    except IdentityError:
        raise
    except safejson.UnsafeJson:
        raise IdentityError("malformed") from None
    except jwt.PyJWKClientConnectionError:
        raise IdentityError("jwks_unavailable") from None
    except jwt.ExpiredSignatureError:
        raise IdentityError("expired") from None
    except jwt.InvalidAudienceError:
        raise IdentityError("wrong_audience") from None
    except jwt.InvalidIssuerError:
        raise IdentityError("wrong_issuer") from None
    except jwt.PyJWKClientError:
        raise IdentityError("unknown_key") from None
    except jwt.PyJWTError:
        raise IdentityError("invalid_signature_or_claims") from None
    # With several audiences the token must name the party it was issued to, and that
    # party must be one of ours (OpenID Connect Core 1.0, 3.1.3.7, steps 4 and 5).
    # https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") not in audiences:
        raise IdentityError("wrong_azp")
    return claims


def verify_id_token(provider_name: str, id_token: str, nonce: Optional[str] = None) -> Identity:
    claims = verify_claims(provider_name, id_token)
    provider = PROVIDERS[provider_name]
    # A token that carries a nonce was requested for one sign-in: without the request's
    # nonce it could be a replayed token; with a nonce the token must carry the same.
    if nonce is not None or "nonce" in claims:
        if nonce is None:
            raise IdentityError("nonce_missing")
        claimed = claims.get("nonce")  # absent or not a string: no nonce matches it, "" and "None" included
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
            raise IdentityError("nonce_mismatch")
    email = claims.get("email")
    return Identity(
        provider=provider.name, subject=str(claims["sub"]),
        email=email if isinstance(email, str) else None, email_verified=as_bool(claims.get("email_verified")),
        name=clean_name(claims.get("name")), given_name=clean_name(claims.get("given_name")),
        family_name=clean_name(claims.get("family_name")))


MAX_NAME_CHARS = 100
# Format characters (Unicode category Cf) are invisible: bidirectional embeddings,
# overrides, isolates and marks make a name display as something else (Trojan Source,
# CVE-2021-42574); zero width space, soft hyphen, word joiner, U+FEFF and the tag
# characters make two names that look the same differ. All go (UTS #39, section 3.1,
# restricts them in identifiers), and control characters (Cc) too.
# ZWNJ and ZWJ are kept where a script needs them (UAX #31, section 2.3: Persian's
# ZWNJ between letters, Indic conjuncts' ZWJ and ZWNJ after a virama): between a letter
# (with any marks on it) and a letter, never at an end, never two in a row.
_JOINERS = frozenset("\u200c\u200d")


def _letter_before(chars: list[str], i: int) -> bool:
    while i >= 0 and unicodedata.category(chars[i]).startswith("M"):  # marks: the virama, vowel signs
        i -= 1
    return i >= 0 and unicodedata.category(chars[i]).startswith("L")


def _joins_letters(chars: list[str], i: int) -> bool:
    return _letter_before(chars, i - 1) and i + 1 < len(chars) and unicodedata.category(chars[i + 1]).startswith("L")


def clean_name(value) -> Optional[str]:
    """A name as it may be stored and shown: without control or format characters (but
    the joiners between letters), trimmed, at most 100 characters once cleaned; None when
    nothing is left."""
    if not isinstance(value, str):
        return None
    kept = [ch for ch in value if ch in _JOINERS or unicodedata.category(ch) not in ("Cc", "Cf")]
    kept = [ch for i, ch in enumerate(kept) if ch not in _JOINERS or _joins_letters(kept, i)]
    # The cap can cut after a joiner: one left at the end joins nothing.
    capped = " ".join("".join(kept).split())[:MAX_NAME_CHARS].rstrip("".join(_JOINERS)).strip()
    return capped or None
