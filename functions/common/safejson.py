"""JSON that can be parsed safely, or a clear refusal.

Python's parser recurses once per nesting level (a 2 KB body nested 1,000 deep raises
RecursionError) and refuses integers over 4,300 digits with ValueError; pydantic's
parser has limits of its own. Every JSON text that comes from outside (request bodies,
the headers and payloads of JWTs before their signature is checked) is scanned first:
nesting deeper than MAX_DEPTH or a number longer than MAX_NUMBER_DIGITS is refused
with `UnsafeJson` (a ValueError) before any parser sees it. The scan is one linear
pass without recursion.

Strings are Unicode text: a `\\uD800`-style escape of half a surrogate pair, which JSON's
grammar allows and RFC 8259 (section 8.2) leaves "unpredictable", is refused, since no
such string can be encoded as UTF-8 (it made PyJWT and the PII encryption raise 500s).

Numbers are JSON numbers (RFC 8259, section 6): `NaN`, `Infinity` and `-Infinity`, which
Python's parser accepts, are refused, and so is a number too large for a float (`1e400`
would become infinity; section 6 lets an implementation limit the range it accepts).
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
_NUMBER_CHARS = frozenset("0123456789")


class UnsafeJson(ValueError):
    """The text is not JSON this service parses; `reason` is a fixed code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check(text: str | bytes) -> None:
    """Raises UnsafeJson when `text` nests deeper than MAX_DEPTH or holds a number with
    more than MAX_NUMBER_DIGITS digits (outside strings)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJson("not_utf8") from None
    depth = digits = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in _NUMBER_CHARS:
            digits += 1
            if digits > MAX_NUMBER_DIGITS:
                raise UnsafeJson("number_too_long")
            continue
        digits = 0 if ch not in ".eE+-" else digits
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeJson("too_deep")
        elif ch in "]}":
            depth -= 1


def _not_a_number(name: str):
    raise UnsafeJson("not_a_number")  # NaN, Infinity, -Infinity: not JSON (RFC 8259, section 6)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson("number_out_of_range")
    return value


# Only a text with a surrogate escape can decode to a lone surrogate: the full check (an
# encoding of what was parsed) runs for those alone.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(text: str | bytes, value: Any) -> None:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeJson("lone_surrogate") from None


def loads(text: str | bytes) -> Any:
    """json.loads after `check`, with only finite numbers and whole characters; every
    failure is a ValueError (UnsafeJson or JSONDecodeError)."""
    check(text)
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError:  # not reachable after check(); kept so no parser error escapes
        raise UnsafeJson("too_deep") from None
    _refuse_lone_surrogates(text, value)
    return value


def check_jws(token: str) -> None:
    """Scans the header and payload of a compact JWS before PyJWT parses them (it reads
    the header before checking the signature). Segments that are not base64url are left
    to PyJWT, which refuses them."""
    import binascii

    for segment in (token or "").split(".")[:2]:
        try:
            decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            continue
        check(decoded)
        if _SURROGATE_ESCAPE.search(decoded.decode("utf-8")):
            try:
                value = json.loads(decoded)
            except ValueError:
                continue  # not JSON: PyJWT refuses it
            _refuse_lone_surrogates(decoded, value)


# The base64url alphabet, spelled out (RFC 4648, section 5): no "=", no "+" or "/", no
# whitespace, which Python's decoder would otherwise accept or skip.
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def is_canonical_jws(token: str) -> bool:
    """Whether `token` is a compact JWS in its one spelling (RFC 7515, section 7.1): three
    segments, each base64url without padding (section 2), each the encoding of its own
    bytes - a last character whose unused bits are not zero (RFC 4648, section 3.5) is
    another spelling of the same bytes. Decoders accept all of these; a token that can be
    spelled many ways would be as many cache keys and revocation entries."""
    segments = token.split(".") if isinstance(token, str) else ()
    if len(segments) != 3:
        return False
    for segment in segments:
        if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
            return False
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != segment:
            return False
    return True
