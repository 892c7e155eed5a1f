"""Verification of Google and Apple ID tokens against the providers' published keys.

Keys are fetched from the provider's JWKS and cached per container for as long as the
answer's Cache-Control max-age says, bounded to MIN_TTL_S..MAX_TTL_S: a key the provider
withdrew is gone within the hour however long the container lives. A token whose `kid`
is not in the cache refetches the keys (the provider may have rotated), at most once per
REFETCH_INTERVAL_S, so forged kids cannot make every request fetch. A token must be
RS256, signed by a current key of the provider, issued by it, for one of our client
ids, unexpired (small leeway), and carry the nonce the app sent when it sent one.
The local stack points JWKS and issuer at its own identity provider through
`<PROVIDER>_JWKS_URL` and `<PROVIDER>_ISSUER`.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions.common import safejson

if TYPE_CHECKING:
    import jwt

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
    "google": Provider(
        "google",
        ("https://accounts.google.com", "accounts.google.com"),
        "https://www.googleapis.com/oauth2/v3/certs",
        "GOOGLE_CLIENT_IDS",
    ),
    "apple": Provider(
        "apple", ("https://appleid.apple.com",), "https://appleid.apple.com/auth/keys", "APPLE_CLIENT_IDS"
    ),
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
    email: str | None
    email_verified: bool
    name: str | None
    given_name: str | None
    family_name: str | None


# Google's certs answer carries `Cache-Control: public, max-age=...` (hours) and Google
# asks clients to honour it (https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken);
# we also cap it at an hour so a withdrawn key cannot outlive that in a warm container.
# Without a max-age (Apple sends none) the keys are kept DEFAULT_TTL_S.
MIN_TTL_S, DEFAULT_TTL_S, MAX_TTL_S = 60, 300, 3600
REFETCH_INTERVAL_S = 60  # at most one fetch per interval for kids the cache lacks
MAX_JWKS_BYTES = 256 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,40})\"?\s*(?:,|$)", re.IGNORECASE)


def fetch_jwks(url: str) -> tuple[dict, str | None]:
    """(the JWKS document, its Cache-Control header). IdentityError("jwks_unavailable")
    when it cannot be read."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=3
        ) as answer:
            body = answer.read(MAX_JWKS_BYTES + 1)
            cache_control = answer.headers.get("Cache-Control")
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("too large")
        return safejson.loads(body), cache_control
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        raise IdentityError("jwks_unavailable") from None


def ttl_seconds(cache_control: str | None) -> int:
    """How long a JWKS answer is kept: its max-age, within MIN_TTL_S..MAX_TTL_S
    (no-store and no-cache: the minimum; no max-age: DEFAULT_TTL_S)."""
    directives = (cache_control or "").lower()
    if "no-store" in directives or "no-cache" in directives:
        return MIN_TTL_S
    match = _MAX_AGE.search(directives)
    return max(MIN_TTL_S, min(MAX_TTL_S, int(match.group(1)))) if match else DEFAULT_TTL_S


class KeyCache:
    """One provider's signing keys, by kid, with an expiry and a rate-limited refetch.
    `fetch` and `clock` (monotonic seconds) are injected: tests move time without sleeping."""

    def __init__(
        self, url: str, fetch: Callable[[str], tuple[dict, str | None]], clock: Callable[[], float] = time.monotonic
    ):
        self.url, self._fetch, self._clock = url, fetch, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._expires = float("-inf")
        self._last_fetch = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self, now: float) -> None:
        import jwt

        self._last_fetch = now  # failures count too: an unreachable provider is not hammered
        document, cache_control = self._fetch(self.url)
        keys = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key type this service cannot use: the others still work
            if key.public_key_use in (None, "sig"):
                keys[entry["kid"]] = key
        self._keys, self._expires = keys, now + ttl_seconds(cache_control)

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            if now >= self._expires:
                self._keys = {}  # an expired answer is never used, not even while the provider is down
            if kid not in self._keys and now - self._last_fetch >= REFETCH_INTERVAL_S:
                self._refresh(now)
            if now >= self._expires:  # the last fetch failed moments ago
                raise IdentityError("jwks_unavailable")
            key = self._keys.get(kid)
            if key is None:
                raise IdentityError("unknown_key")
            return key


_clients: dict[str, KeyCache] = {}
_lock = threading.Lock()


def _jwks(url: str) -> KeyCache:
    with _lock:
        if url not in _clients:
            _clients[url] = KeyCache(url, fetch_jwks)
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


def verify_claims(provider_name: str, id_token: str, audiences: list[str] | None = None) -> dict:
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
        kid = header.get("kid")
        key = _jwks(jwks_url).key(kid if isinstance(kid, str) else "")
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=ALGORITHMS,
            audience=audiences,
            issuer=issuers,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "sub", "iat", "exp"]},
        )
    except IdentityError:
        raise
    except safejson.UnsafeJson:
        raise IdentityError("malformed") from None
    except jwt.ExpiredSignatureError:
        raise IdentityError("expired") from None
    except jwt.InvalidAudienceError:
        raise IdentityError("wrong_audience") from None
    except jwt.InvalidIssuerError:
        raise IdentityError("wrong_issuer") from None
    except jwt.PyJWTError:
        raise IdentityError("invalid_signature_or_claims") from None
    # With several audiences the token must name the party it was issued to, and that
    # party must be one of ours (OpenID Connect Core 1.0, 3.1.3.7, steps 4 and 5).
    # https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") not in audiences:
        raise IdentityError("wrong_azp")
    return claims


def verify_id_token(provider_name: str, id_token: str, nonce: str | None = None) -> Identity:
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
        provider=provider.name,
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) else None,
        email_verified=as_bool(claims.get("email_verified")),
        name=clean_name(claims.get("name")),
        given_name=clean_name(claims.get("given_name")),
        family_name=clean_name(claims.get("family_name")),
    )


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
# What else draws nothing, so that a name of it looks empty or two names look alike:
# Unicode's Default_Ignorable_Code_Point characters (DerivedCoreProperties.txt: Hangul
# fillers, variation selectors, Khmer inherent vowels, the combining grapheme joiner...;
# the Cf ones among them go by category already) and the blank Braille pattern. And the
# categories that are no character to show: surrogates (Cs), private use (Co), unassigned (Cn).
_IGNORABLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
    (0x2800, 0x2800),
)
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _dropped(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.category(ch) in _DROPPED_CATEGORIES or any(lo <= code <= hi for lo, hi in _IGNORABLE)


def _visible(ch: str) -> bool:
    """A letter, number or symbol (emoji included): what a name needs at least one of;
    marks, punctuation and spaces alone show nothing one could call a name."""
    return unicodedata.category(ch)[0] in "LNS"


def _letter_before(chars: list[str], i: int) -> bool:
    while i >= 0 and unicodedata.category(chars[i]).startswith("M"):  # marks: the virama, vowel signs
        i -= 1
    return i >= 0 and unicodedata.category(chars[i]).startswith("L")


def _joins_letters(chars: list[str], i: int) -> bool:
    return _letter_before(chars, i - 1) and i + 1 < len(chars) and unicodedata.category(chars[i + 1]).startswith("L")


def clean_name(value) -> str | None:
    """A name as it may be stored and shown: without control or format characters (but
    the joiners between letters), trimmed, at most 100 characters once cleaned; None when
    nothing is left."""
    if not isinstance(value, str):
        return None
    kept = [ch for ch in value if ch in _JOINERS or not _dropped(ch)]
    kept = [ch for i, ch in enumerate(kept) if ch not in _JOINERS or _joins_letters(kept, i)]
    # The cap can cut after a joiner: one left at the end joins nothing.
    capped = " ".join("".join(kept).split())[:MAX_NAME_CHARS].rstrip("".join(_JOINERS)).strip()
    return capped if any(_visible(ch) for ch in capped) else None
