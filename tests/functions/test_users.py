"""Accounts in the table: unique identities, sealed PII, crypto-shredding on delete."""

import boto3
import pytest
from cryptography.exceptions import InvalidTag

from functions.common import crypto, users
from functions.common.clock import now_iso
from functions.common.oauth import Identity

ANA = Identity("google", "g-1", "Ana@Example.com", True, "Ana Lima", "Ana", "Lima")


def account(identity=ANA, **kw):
    return users.new_account(identity, None, None, {"privacy_policy": {"version": "1", "accepted": True}},
                             {"platform": "ios", "device_id": "d"}, {"id": "s"}, now_iso(), **kw)


def all_items():
    return boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").scan()["Items"]


def test_create_writes_profile_and_identity(aws_env):
    new = account()
    users.create(new, ANA)
    assert users.user_id_for("google", "g-1") == new.user_id
    user = users.to_user(users.get(new.user_id))
    assert (user["email"], user["name"], user["given_name"]) == ("Ana@Example.com", "Ana Lima", "Ana")
    assert user["subscription"] == {"type": "free", "status": "active"}
    item = users.get(new.user_id)
    assert item["GSI1PK"] == f"EMAIL#{users.email_hash(' ana@example.COM ')}"
    assert item["GSI2PK"] == "EXTERNAL#google#g-1"


def test_no_plaintext_pii_is_stored(aws_env):
    users.create(account(), ANA)
    stored = repr(all_items()).lower()
    for secret in ("ana@example.com", "ana lima", "'ana'", "lima"):
        assert secret not in stored


def test_a_second_account_for_the_same_identity_is_refused(aws_env):
    users.create(account(), ANA)
    with pytest.raises(users.AccountExists):
        users.create(account(), ANA)
    assert len(all_items()) == 2  # one profile, one identity


def test_sealed_fields_are_bound_to_user_and_field(aws_env):
    new = account()
    key = crypto.open_data_key(new.user_id, bytes(new.item["data_key"]))
    sealed = bytes(new.item["email_enc"])
    assert crypto.unseal(key, new.user_id, "email", sealed) == "Ana@Example.com"
    with pytest.raises(InvalidTag):
        crypto.unseal(key, new.user_id, "name", sealed)
    with pytest.raises(InvalidTag):
        crypto.unseal(key, "another-user", "email", sealed)


def test_data_key_only_opens_with_its_user_as_context(aws_env):
    new = account()
    crypto._keys.clear()
    kms = boto3.client("kms", region_name="eu-west-1")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=bytes(new.item["data_key"]), EncryptionContext={"user_id": "someone-else"})
    assert len(crypto.open_data_key(new.user_id, bytes(new.item["data_key"]))) == 32


def test_update_of_a_missing_profile_changes_nothing(aws_env):
    assert users.update("nobody", {"updated_at": "x"}) is None
    assert all_items() == []


def test_delete_removes_profile_key_and_identity(aws_env):
    new = account()
    users.create(new, ANA)
    users.delete(users.get(new.user_id))
    assert all_items() == [] and users.user_id_for("google", "g-1") is None
    assert not users.exists(new.user_id)


def test_a_conflicting_transaction_counts_as_an_existing_account(aws_env, monkeypatch):
    from botocore.exceptions import ClientError

    from functions.common import aws

    def conflict(**_):
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                           "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
                          "TransactWriteItems")

    monkeypatch.setattr(aws.client("dynamodb"), "transact_write_items", conflict)
    with pytest.raises(users.AccountExists):
        users.create(account(), ANA)


def test_concurrent_creations_of_one_identity_leave_one_account(aws_env, monkeypatch):
    """The conditional transaction itself, raced from threads against moto.

    DynamoDB transactions are serializable; moto's are not: a failed one restores a
    snapshot of the whole table taken when it began, which can erase a transaction that
    succeeded meanwhile (seen under load in the full suite). A lock gives moto
    DynamoDB's isolation, so the race left is the one the code must win: conditions."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    serial, transact = threading.Lock(), DynamoDBBackend.transact_write_items

    def serializable(self, *args, **kwargs):
        with serial:
            return transact(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", serializable)

    outcomes = []

    def create():
        try:
            users.create(account(), ANA)
            outcomes.append("created")
        except users.AccountExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    assert len([i for i in all_items() if i["SK"] == "PROFILE"]) == 1
