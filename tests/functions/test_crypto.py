"""functions/common/crypto.py as behaviour: a data key is bound to its user by KMS's
encryption context, sealed fields bind user and field, the key cache expires, evicts the
oldest entry when full and forgets a deleted user's key."""

from types import SimpleNamespace

import boto3
import pytest
from cryptography.exceptions import InvalidTag

from functions.common import crypto

USER = "3f0c6a1e-0000-4000-8000-000000000001"


def test_a_new_data_key_is_bound_to_its_user_by_the_encryption_context(aws_env):
    plaintext, encrypted = crypto.new_data_key(USER)
    kms = boto3.client("kms", region_name="eu-west-1")
    assert len(plaintext) == 32  # AES-256
    reply = kms.decrypt(CiphertextBlob=encrypted, EncryptionContext={"user_id": USER})
    assert reply["Plaintext"] == plaintext and reply["KeyId"] == aws_env["pii_key"]  # wrapped by the PII key
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=encrypted)  # no context: refused


def test_a_data_key_opens_for_its_user_only(aws_env):
    plaintext, encrypted = crypto.new_data_key(USER)
    crypto._keys.clear()
    kms = boto3.client("kms", region_name="eu-west-1")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        crypto.open_data_key("another-user", encrypted)
    assert crypto.open_data_key(USER, encrypted) == plaintext


def test_a_cached_key_does_not_open_for_another_user(aws_env):
    """The cache answers for the pair KMS would check, never for the encrypted key alone."""
    plaintext, encrypted = crypto.new_data_key(USER)  # cached for USER
    with pytest.raises(boto3.client("kms", region_name="eu-west-1").exceptions.InvalidCiphertextException):
        crypto.open_data_key("another-user", encrypted)
    assert crypto.open_data_key(USER, encrypted) == plaintext


def test_an_open_key_is_served_from_the_cache_until_forgotten(aws_env, monkeypatch):
    plaintext, encrypted = crypto.new_data_key(USER)
    calls = []
    real = crypto.aws.client

    def counting(service):
        calls.append(service)
        return real(service)

    monkeypatch.setattr(crypto, "aws", SimpleNamespace(client=counting))
    assert crypto.open_data_key(USER, encrypted) == plaintext
    assert calls == []  # the key generated here is cached: no KMS call
    crypto.forget(USER, encrypted)
    assert crypto.open_data_key(USER, encrypted) == plaintext
    assert calls == ["kms"]
    assert crypto.open_data_key(USER, encrypted) == plaintext
    assert calls == ["kms"]  # cached again after the decrypt


def test_cached_keys_expire_after_their_ttl(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(crypto.time, "monotonic", lambda: now[0])
    cache = crypto._KeyCache(ttl=300)
    cache.put(b"enc", b"key")
    now[0] = 1299.9
    assert cache.get(b"enc") == b"key"
    now[0] = 1300.0
    assert cache.get(b"enc") is None
    now[0] = 1000.0
    assert cache.get(b"enc") is None  # an expired entry is dropped, not kept for later


def test_a_full_cache_evicts_its_oldest_entry_only(monkeypatch):
    monkeypatch.setattr(crypto.time, "monotonic", lambda: 0.0)
    cache = crypto._KeyCache(ttl=60, size=3)
    for i in range(3):
        cache.put(bytes([i]), b"k%d" % i)
    assert [cache.get(bytes([i])) for i in range(3)] == [b"k0", b"k1", b"k2"]
    cache.put(b"new", b"kn")
    assert cache.get(bytes([0])) is None
    assert [cache.get(bytes([i])) for i in (1, 2)] == [b"k1", b"k2"] and cache.get(b"new") == b"kn"


def test_the_default_cache_keeps_keys_five_minutes_and_256_of_them(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(crypto.time, "monotonic", lambda: now[0])
    cache = crypto._KeyCache(crypto.KEY_CACHE_SECONDS)
    for i in range(256):
        cache.put(i.to_bytes(2, "big"), b"k")
    assert all(cache.get(i.to_bytes(2, "big")) == b"k" for i in range(256))
    cache.put(b"one more", b"k")
    assert cache.get((0).to_bytes(2, "big")) is None and cache.get((1).to_bytes(2, "big")) == b"k"
    now[0] = 299.0
    assert cache.get(b"one more") == b"k"
    now[0] = 300.0
    assert cache.get(b"one more") is None


def test_discard_and_clear_remove_entries(monkeypatch):
    monkeypatch.setattr(crypto.time, "monotonic", lambda: 0.0)
    cache = crypto._KeyCache(ttl=60)
    cache.put(b"a", b"1")
    cache.put(b"b", b"2")
    cache.discard(b"a")
    cache.discard(b"missing")  # no error
    assert cache.get(b"a") is None and cache.get(b"b") == b"2"
    cache.clear()
    assert cache.get(b"b") is None


def test_a_sealed_field_opens_only_as_itself():
    key = bytes(range(32))
    sealed = crypto.seal(key, USER, "email", "ana@example.com")
    assert len(sealed) == 12 + len("ana@example.com") + 16  # nonce, ciphertext, tag
    assert crypto.unseal(key, USER, "email", sealed) == "ana@example.com"
    assert crypto.seal(key, USER, "email", "ana@example.com")[:12] != sealed[:12]  # a fresh nonce
    for user, field in ((USER, "name"), ("other", "email"), (USER + ":email", "")):
        with pytest.raises(InvalidTag):
            crypto.unseal(key, user, field, sealed)
    with pytest.raises(InvalidTag):
        crypto.unseal(bytes(32), USER, "email", sealed)
