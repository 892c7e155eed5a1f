"""Access tokens: signed in KMS, verified offline, and every known attack refused."""

import base64
import hashlib
import hmac
import json
import time

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from functions.common import aws, tokens


# The order of P-256's base point (SEC 2 v2, section 2.4.2), written here rather than read
# from the code under test.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def test_issued_token_verifies_with_required_claims(aws_env):
    issued = tokens.issue("user-1", "session-1")
    claims = tokens.verify(issued.token)
    assert claims["sub"] == "user-1" and claims["sid"] == "session-1" and claims["jti"] == issued.jti
    assert claims["iss"] == "https://serenya.health/test" and claims["aud"] == "serenya-app"
    assert 0 < claims["exp"] - claims["iat"] <= 3600 and issued.expires_in == 3600
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": tokens.key_id(aws_env["signing_key"])}


def test_der_signature_becomes_64_raw_bytes():
    der = encode_dss_signature(1, 2**254)
    raw = tokens.der_to_jws(der)
    assert len(raw) == 64 and raw[:32] == (1).to_bytes(32, "big") and raw[32:] == (2**254).to_bytes(32, "big")


@pytest.mark.parametrize("s", [(P256_ORDER // 2) + 1, 2**255, P256_ORDER - 1])
def test_a_high_s_from_kms_is_issued_as_its_low_twin(s):
    """(r, s) and (r, n - s) verify alike (ECDSA malleability): the issuer writes the low one."""
    raw = tokens.der_to_jws(encode_dss_signature(7, s))
    assert raw[:32] == (7).to_bytes(32, "big") and int.from_bytes(raw[32:], "big") == P256_ORDER - s
    assert int.from_bytes(raw[32:], "big") <= (P256_ORDER // 2)
    assert tokens.der_to_jws(encode_dss_signature(7, (P256_ORDER // 2)))[32:] == (P256_ORDER // 2).to_bytes(32, "big")


def test_warm_verification_makes_no_aws_call(aws_env):
    token = tokens.issue("user-1", "s").token
    tokens.verify(token)  # cold: fetches the public key once
    calls = []
    aws.client("kms").meta.events.register("before-call.kms.*", lambda **kw: calls.append(kw["event_name"]))
    for _ in range(5):
        tokens.verify(token)
    assert calls == []


def reason(token: str) -> str:
    with pytest.raises(tokens.InvalidToken) as e:
        tokens.verify(token)
    return e.value.reason


def test_alg_none_is_refused(aws_env):
    claims = tokens.verify(tokens.issue("user-1", "s").token)
    kid = tokens.key_id(aws_env["signing_key"])
    assert reason(forge({"alg": "none", "typ": "at+jwt", "kid": kid}, claims)) == "algorithm_not_allowed"


def test_hs256_with_the_public_key_as_secret_is_refused(aws_env):
    claims = tokens.verify(tokens.issue("user-1", "s").token)
    kid = tokens.key_id(aws_env["signing_key"])
    public_der = boto3.client("kms", region_name="eu-west-1").get_public_key(KeyId=aws_env["signing_key"])["PublicKey"]
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_der, signing_input.encode(), hashlib.sha256).digest()  # the classic key confusion
    assert reason(f"{signing_input}.{b64(mac)}") == "algorithm_not_allowed"


def test_tampered_payload_is_refused(aws_env):
    header, payload, signature = tokens.issue("user-1", "s").token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    assert reason(f"{header}.{b64(json.dumps(claims).encode())}.{signature}") == "invalid"


def test_a_token_signed_by_a_foreign_key_is_refused(aws_env):
    claims = tokens.verify(tokens.issue("user-1", "s").token)
    foreign = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, foreign, algorithm="ES256",
                        headers={"typ": "at+jwt", "kid": tokens.key_id(aws_env["signing_key"])})
    assert reason(forged) == "invalid"
    assert reason(jwt.encode(claims, foreign, algorithm="ES256", headers={"typ": "at+jwt", "kid": "other"})) \
        == "unknown_key"


def test_expired_token_is_refused(aws_env):
    old = tokens.issue("user-1", "s", now=int(time.time()) - 3600 - tokens.LEEWAY_SECONDS - 5)
    assert reason(old.token) == "expired"


@pytest.mark.parametrize("claim, value", [("aud", "another-app"), ("iss", "https://serenya.health/prod")])
def test_wrong_audience_or_issuer_is_refused(aws_env, claim, value):
    """Re-signed with the real key through KMS, so only the claim is wrong."""
    real = tokens.verify(tokens.issue("user-1", "s").token)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": tokens.key_id(aws_env["signing_key"])}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps({**real, claim: value}).encode())}"
    der = boto3.client("kms", region_name="eu-west-1").sign(
        KeyId=aws_env["signing_key"], Message=signing_input.encode(), MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert reason(f"{signing_input}.{b64(tokens.der_to_jws(der))}") == "invalid"


def test_an_id_token_is_not_an_access_token(aws_env):
    claims = tokens.verify(tokens.issue("user-1", "s").token)
    id_token = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                          headers={"kid": tokens.key_id(aws_env["signing_key"])})  # typ JWT
    assert reason(id_token) == "not_an_access_token"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "e30.e30."])
def test_garbage_is_malformed_or_refused(aws_env, garbage):
    assert reason(garbage) in {"malformed", "algorithm_not_allowed"}


def kms_signed(claims: dict, key_arn: str) -> str:
    """A token signed by the stack's own KMS key, as `issue` would, with any claims."""
    header = {"alg": "ES256", "typ": "at+jwt", "kid": tokens.key_id(key_arn)}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    der = boto3.client("kms", region_name="eu-west-1").sign(
        KeyId=key_arn, Message=signing_input.encode(), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    return f"{signing_input}.{b64(tokens.der_to_jws(der))}"


@pytest.mark.parametrize("lifetime, accepted", [(3600, True), (3601, False), (86_400, False)])
def test_a_well_signed_token_living_over_an_hour_is_refused(aws_env, lifetime, accepted):
    now = int(time.time())
    claims = {"iss": tokens.issuer(), "aud": tokens.AUDIENCE, "sub": "u", "iat": now, "exp": now + lifetime,
              "jti": "j", "sid": "s"}
    token = kms_signed(claims, aws_env["signing_key"])
    if accepted:
        assert tokens.verify(token)["sub"] == "u"
    else:
        assert reason(token) == "lifetime_too_long"


def test_a_token_whose_header_nests_too_deep_is_malformed(aws_env):
    header = b64(b'{"alg":' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert reason(f"{header}.e30.c2ln") == "malformed"


@pytest.mark.parametrize("missing", tokens.REQUIRED_CLAIMS)
def test_a_well_signed_token_without_a_required_claim_is_refused(aws_env, missing):
    """Every claim the API relies on must be there (a token without sid could not be
    revoked with its session, one without jti not be denied)."""
    now = int(time.time())
    claims = {"iss": tokens.issuer(), "aud": tokens.AUDIENCE, "sub": "u", "iat": now, "exp": now + 600,
              "jti": "j", "sid": "s"}
    del claims[missing]
    assert reason(kms_signed(claims, aws_env["signing_key"])) == "invalid"


@pytest.mark.parametrize("claim", ["iat", "exp"])
def test_a_well_signed_token_with_a_fractional_time_is_refused(aws_env, claim):
    """Issued times are whole seconds: a fraction (another issuer, a signing bug) is refused
    even when the lifetime it gives is short."""
    now = int(time.time())
    claims = {"iss": tokens.issuer(), "aud": tokens.AUDIENCE, "sub": "u", "iat": now, "exp": now + 600,
              "jti": "j", "sid": "s"}
    claims[claim] += 0.5
    assert reason(kms_signed(claims, aws_env["signing_key"])) == "lifetime_too_long"


@pytest.mark.parametrize("data, encoded", [(b"\x00\x00\x17", "AAAX"), (b"\x00\x00\x17\x00", "AAAXAA"),
                                           (b"\xfb\xff", "-_8"), (b"", "")])
def test_segments_are_base64url_without_padding_and_nothing_else_stripped(data, encoded):
    """RFC 7515 section 2: base64url with the trailing '=' removed, and only those."""
    assert tokens._b64(data) == encoded



# -- one spelling per token (issue 24, item 6) ------------------------------------------

def segments(token: str) -> list[str]:
    return token.split(".")


def with_signature(token: str, signature: bytes) -> str:
    return ".".join(segments(token)[:2] + [b64(signature)])


def high_s(token: str) -> str:
    """The same signature with s replaced by n - s: valid ECDSA, another spelling."""
    raw = base64.urlsafe_b64decode(segments(token)[2] + "==")
    s = int.from_bytes(raw[32:], "big")
    return with_signature(token, raw[:32] + (P256_ORDER - s).to_bytes(32, "big"))


def trailing_bits(segment: str) -> str:
    """The segment with its last character's unused bits set: the same bytes once decoded
    (RFC 4648, section 3.5), a different string."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}[len(segment) % 4]  # 1 byte left: 4 of the last 6 bits unused; 2 bytes: 2
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | ((1 << unused) - 1)]


def spellings(token: str) -> dict[str, str]:
    """Variants of a valid token that Python's (and PyJWT's) decoder reads as the same."""
    header, payload, signature = segments(token)
    std = signature.replace("-", "+").replace("_", "/")
    return {
        "signature=": f"{token}=", "signature==": f"{token}==", "signature===": f"{token}===",
        "header==": f"{header}==.{payload}.{signature}", "payload=": f"{header}.{payload}=.{signature}",
        "signature_trailing_bits": f"{header}.{payload}.{trailing_bits(signature)}",
        "payload_trailing_bits": f"{header}.{trailing_bits(payload)}.{signature}" if len(payload) % 4 else token + "=",
        "signature_standard_alphabet": f"{header}.{payload}.{std}" if std != signature else token + "==",
        "signature_with_a_space": f"{header}.{payload}.{signature[:10]} {signature[10:]}",
        "signature_with_a_newline": f"{header}.{payload}.{signature[:10]}\n{signature[10:]}",
        "signature_with_a_bang": f"{header}.{payload}.{signature[:10]}!{signature[10:]}",
        "high_s": high_s(token),
        "high_s==": high_s(token) + "==",
        "four_segments": f"{token}.",
    }


def a_token_with_every_spelling(aws_env) -> str:
    """An issued token whose signature has an "-" or "_" (standard-alphabet twin) and whose
    last character has unused bits (86 characters: always)."""
    for _ in range(50):
        token = tokens.issue("user-1", "s").token
        if set("-_") & set(segments(token)[2]):
            return token
    raise AssertionError("no signature with - or _ in 50 tries")


@pytest.mark.parametrize("variant", sorted(spellings(forge({}, {}, b"x" * 64))))
def test_every_other_spelling_of_a_valid_token_is_refused(aws_env, variant):
    token = a_token_with_every_spelling(aws_env)
    assert tokens.verify(token)["sub"] == "user-1"
    other = spellings(token)[variant]
    assert other != token
    refused = reason(other)  # raises when accepted; the authorizer answers every refusal alike
    if variant.startswith("high_s") and not variant.endswith("="):
        assert refused == "high_s"  # well signed, the twin signature: refused for its spelling alone


def test_the_canonical_check_reads_segments_as_rfc_7515_writes_them():
    from functions.common import safejson

    assert safejson.is_canonical_jws("e30.e30.")  # an empty signature is one spelling (and invalid later)
    assert safejson.is_canonical_jws(".".join(b64(bytes(range(n))) for n in (1, 2, 3)))
    for bad in ["e30.e30", "e30.e30.e30.e30", "e30=.e30.", "e31.e30.", "e30.e3.", "e30.e30.A", "é30.e30.",
                "e30.e30.١", "e30.e30.AA==", "e30.e30.+/", "e30 .e30."]:
        assert not safejson.is_canonical_jws(bad), bad


def test_every_freshly_issued_token_verifies(aws_env):
    """KMS (and moto, with cryptography underneath) returns a high s about half the time:
    without the issuer's normalisation, 64 tokens all verifying has odds of 2**-64."""
    for i in range(64):
        token = tokens.issue(f"user-{i}", "s").token
        assert tokens.verify(token)["sub"] == f"user-{i}"
        raw = base64.urlsafe_b64decode(segments(token)[2] + "==")
        assert int.from_bytes(raw[32:], "big") <= (P256_ORDER // 2)
        assert tokens._b64(raw) == segments(token)[2]
