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
    der = encode_dss_signature(1, 2**255)
    raw = tokens.der_to_jws(der)
    assert len(raw) == 64 and raw[:32] == (1).to_bytes(32, "big") and raw[32:] == (2**255).to_bytes(32, "big")


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
