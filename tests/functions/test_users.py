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
    """The per-user key is wrapped under the encryption context {"user_id": ...} and opened
    with it. Both are checked on the requests the code sends to KMS (moto's answers alone
    would not tell a key wrapped without context: it then opens with none as well), and
    on the wrapped key, which must not open without its context.
    https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html"""
    from functions.common import aws as common_aws

    sent = []

    def record(params, model, **_):
        sent.append((model.name, params.get("EncryptionContext")))

    kms_client = common_aws.client("kms")  # the client crypto.py uses
    kms_client.meta.events.register("provide-client-params.kms.*", record)
    try:
        new = account()
        crypto._keys.clear()  # a cold container: the key must come from KMS
        assert len(crypto.open_data_key(new.user_id, bytes(new.item["data_key"]))) == 32
    finally:
        kms_client.meta.events.unregister("provide-client-params.kms.*", record)
    wrapping = [call for call in sent if call[0] != "GenerateMac"]  # the email hash uses no context
    assert wrapping == [("GenerateDataKey", {"user_id": new.user_id}), ("Decrypt", {"user_id": new.user_id})]
    kms = boto3.client("kms", region_name="eu-west-1")
    for wrong in ({"user_id": "someone-else"}, None):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=bytes(new.item["data_key"]),
                        **({"EncryptionContext": wrong} if wrong else {}))


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


def test_concurrent_onboardings_race_past_the_lookup_and_leave_one_account(aws_env, monkeypatch):
    """What the auth function does for a new identity, from eight threads against moto
    (the end-to-end race through the local stack: tests/e2e/test_identity.py):
    look the identity up, create the account, and on AccountExists sign in to the winner's.
    A barrier holds every thread until all eight have found no account, and another
    until all eight send their transaction, so the check-then-create window is always
    open: only the transaction's conditions can keep the accounts to one.

    DynamoDB transactions are serializable; moto's are not: a failed one restores a
    snapshot of the whole table taken when it began, which can erase a transaction that
    succeeded meanwhile. A lock gives moto DynamoDB's isolation, so the race left is the
    one the code must win."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    from functions.auth import handler as auth
    from functions.common import aws as common_aws

    serial, transact = threading.Lock(), DynamoDBBackend.transact_write_items

    def serializable(self, *args, **kwargs):
        with serial:
            return transact(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", serializable)

    racers = 8
    looked_up, sending = threading.Barrier(racers), threading.Barrier(racers)
    outcomes, lock = [], threading.Lock()
    racing = threading.local()

    def hold_transactions(**_):
        if getattr(racing, "on", False):
            sending.wait(timeout=30)

    ddb = common_aws.client("dynamodb")  # the client users.create uses
    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", hold_transactions)

    def onboard():
        racing.on = True
        assert users.user_id_for(ANA.provider, ANA.subject) is None
        looked_up.wait(timeout=30)
        new = account()
        try:
            users.create(new, ANA)
            result = ("created", new.user_id)
        except users.AccountExists:
            result = ("exists", auth._winner(ANA))
        with lock:
            outcomes.append(result)

    try:
        threads = [threading.Thread(target=onboard) for _ in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", hold_transactions)
    assert sorted(kind for kind, _ in outcomes) == ["created"] + ["exists"] * (racers - 1)
    assert len({user_id for _, user_id in outcomes}) == 1  # everyone ends in the winner's account
    assert len([i for i in all_items() if i["SK"] == "PROFILE"]) == 1
    assert users.user_id_for(ANA.provider, ANA.subject) == outcomes[0][1]


DEVICE = {"platform": "android", "device_id": "pixel-7", "app_version": "1.4.0"}
SESSION = {"id": "session-1", "expires_at": "2030-01-01T00:00:00.000Z"}
CONSENTS = {"privacy_policy": {"version": "3", "accepted": True}, "marketing": {"version": "1", "accepted": False}}


def onboard(identity=ANA, given=None, family=None):
    new = users.new_account(identity, given, family, CONSENTS, DEVICE, SESSION, "2025-01-02T03:04:05.000Z")
    users.create(new, identity)
    return new


def test_a_new_account_reads_back_as_the_contracts_user(aws_env):
    new = onboard()
    item = users.get(new.user_id)
    assert item["session"] == SESSION and item["device"] == DEVICE  # the signed-in session is kept
    assert (item["auth_provider"], item["email_verified"]) == ("google", True)
    user = users.to_user(item)
    assert user == {"id": new.user_id, "email": "Ana@Example.com", "name": "Ana Lima", "given_name": "Ana",
                    "family_name": "Lima", "auth_provider": "google",
                    "subscription": {"type": "free", "status": "active"}, "consents": CONSENTS,
                    "device": DEVICE, "created_at": "2025-01-02T03:04:05.000Z",
                    "updated_at": "2025-01-02T03:04:05.000Z"}
    assert "session" not in user and "biometric" not in user  # the session never leaves the table


def test_the_full_name_made_of_two_long_names_is_at_most_100_characters(aws_env):
    """An adversarial review composed a 201-character name from two 100-character parts."""
    nameless = Identity("apple", "a.long", None, False, None, None, None)
    user = users.to_user(users.get(onboard(nameless, "G" * 100, "F" * 100).user_id))
    assert (len(user["given_name"]), len(user["family_name"])) == (100, 100)
    assert user["name"] == "G" * 100


def test_names_sent_at_onboarding_win_over_the_tokens_and_make_the_full_name(aws_env):
    nameless = Identity("apple", "a.1", "x@privaterelay.appleid.com", False, None, None, None)
    user = users.to_user(users.get(onboard(nameless, "Bea", "Costa").user_id))
    assert (user["given_name"], user["family_name"], user["name"]) == ("Bea", "Costa", "Bea Costa")
    user = users.to_user(users.get(onboard(Identity("apple", "a.2", None, False, None, None, None)).user_id))
    assert (user["email"], user["name"], user["given_name"], user["family_name"]) == (None, None, None, None)
    item = users.get(user["id"])
    assert not [k for k in item if k.endswith("_enc")] and "GSI1PK" not in item  # nothing to seal or look up


@pytest.mark.parametrize("length, indexed", [(320, True), (321, False)])
def test_emails_up_to_rfc_5321s_320_bytes_get_the_lookup_hash(aws_env, length, indexed):
    email = "a" * (length - len("@example.com")) + "@example.com"
    identity = Identity("google", f"g-{length}", email, True, None, None, None)
    item = users.get(onboard(identity).user_id)
    assert ("GSI1PK" in item) is indexed
    if indexed:
        assert item["GSI1PK"] == f"EMAIL#{users.email_hash(email)}" and item["GSI1SK"] == "PROFILE"
    assert users.to_user(item)["email"] == email  # stored either way


def test_each_account_starts_with_its_own_copy_of_the_free_plan(aws_env):
    first = account()
    first.item["current_subscription"]["type"] = "premium"
    assert account().item["current_subscription"] == {"type": "free", "status": "active"}
    assert users.FREE_PLAN == {"type": "free", "status": "active"}


def test_the_user_shows_only_the_plans_public_fields_and_biometric_when_set(aws_env):
    new = onboard()
    plan = {"type": "premium", "status": "active", "expires_at": "2030-01-01T00:00:00.000Z",
            "product_id": "serenya.premium.monthly", "purchase_token_hash": "ab12"}
    users.update(new.user_id, {"current_subscription": plan, "biometric": {"enabled": True, "method": "face"}})
    user = users.to_user(users.get(new.user_id))
    assert user["subscription"] == {"type": "premium", "status": "active", "expires_at": "2030-01-01T00:00:00.000Z"}
    assert user["biometric"] == {"enabled": True, "method": "face"}
    assert users.plan(new.user_id) == plan


def test_a_profile_without_a_plan_is_on_the_free_plan(aws_env):
    new = onboard()
    users.update(new.user_id, {"updated_at": "2025-02-01T00:00:00.000Z"}, removals=("current_subscription",))
    assert users.plan(new.user_id) == {"type": "free", "status": "active"}
    assert users.to_user(users.get(new.user_id))["subscription"] == {"type": "free", "status": "active"}
    assert users.plan("no-such-user") is None


def test_an_update_sets_one_entry_of_a_map_and_removes_what_it_names(aws_env):
    new = onboard()
    users.update(new.user_id, {"biometric": {"enabled": True}})
    after = users.update(new.user_id, {"consents.marketing": {"version": "2", "accepted": True},
                                       "updated_at": "2025-03-01T00:00:00.000Z"}, removals=("biometric",))
    assert after["consents"] == {"privacy_policy": {"version": "3", "accepted": True},
                                 "marketing": {"version": "2", "accepted": True}}
    assert after["updated_at"] == "2025-03-01T00:00:00.000Z" and "biometric" not in after
    assert users.get(new.user_id) == after  # ALL_NEW: what the table now holds


def test_sealed_field_changes_set_new_values_and_remove_cleared_ones(aws_env):
    new = onboard()
    item = users.get(new.user_id)
    crypto._keys.clear()  # the key comes from KMS, opened for this user
    sets, removals = users.seal_fields(item, {"given_name": "Anabela", "family_name": None, "name": ""})
    assert set(sets) == {"given_name_enc"} and removals == ("family_name_enc", "name_enc")
    after = users.update(new.user_id, sets, removals)
    user = users.to_user(after)
    assert (user["given_name"], user["family_name"], user["name"], user["email"]) == \
        ("Anabela", None, None, "Ana@Example.com")
    key = crypto.open_data_key(new.user_id, bytes(item["data_key"]))
    with pytest.raises(InvalidTag):  # sealed for this user and field only
        crypto.unseal(key, "another-user", "given_name", bytes(sets["given_name_enc"]))


def test_delete_removes_an_identity_whose_subject_contains_the_separator(aws_env):
    odd = Identity("apple", "001#abc#def", "odd@example.com", True, None, "Odd", None)
    new = onboard(odd)
    users.delete(users.get(new.user_id))
    assert all_items() == [] and users.user_id_for("apple", "001#abc#def") is None


def test_unknown_identities_and_users_are_none(aws_env):
    onboard()
    assert users.user_id_for("google", "g-2") is None and users.user_id_for("apple", "g-1") is None
    assert users.get("no-such-user") is None and not users.exists("no-such-user")


def test_the_plan_is_one_strongly_consistent_projected_read(aws_env):
    """Right after a purchase the next request must see the new plan."""
    from functions.common import aws as common_aws

    new = onboard()
    sent = []

    def record(params, **_):
        sent.append(params)

    client = common_aws.table("serenya-test").meta.client
    client.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    try:
        assert users.plan(new.user_id) == {"type": "free", "status": "active"}
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.GetItem", record)
    # the subscription and the identity the quotas are kept for (functions/common/quotas.holder)
    assert [(p["ConsistentRead"], p["ProjectionExpression"]) for p in sent] == [
        (True, "current_subscription, GSI2PK")]


def test_an_account_without_an_analytics_id_gets_a_random_one_with_its_next_update_and_keeps_it(aws_env):
    """Sign-in's update (functions/auth) is every active account's next write: an account made
    before analytics ids gets one in that same UpdateItem, and never a second."""
    import uuid

    new, other = onboard(), onboard(Identity("apple", "a-2", None, False, None, None, None))
    registered = users.get(new.user_id)["analytics_id"]
    assert str(uuid.UUID(registered)) == registered and registered not in (new.user_id, users.get(
        other.user_id)["analytics_id"])
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").update_item(
        Key=users.profile_key(new.user_id), UpdateExpression="REMOVE analytics_id")
    assigned = users.update(new.user_id, {"last_sign_in_at": now_iso()})["analytics_id"]
    assert str(uuid.UUID(assigned)) == assigned and assigned not in (registered, new.user_id)
    assert users.update(new.user_id, {"last_sign_in_at": now_iso()})["analytics_id"] == assigned
    assert users.get(new.user_id)["analytics_id"] == assigned


def test_a_store_notification_gives_an_account_without_an_analytics_id_one_so_its_billing_is_kept(aws_env):
    """An account that only renews (never signs in) gets its id with the store's update."""
    import uuid

    from functions.subscriptions import state

    new = onboard()
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").update_item(
        Key=users.profile_key(new.user_id), UpdateExpression="REMOVE analytics_id")
    plan = {"type": "premium", "status": "active", "provider": "apple", "product_id": "p", "event_ms": 1,
            "expires_at": "2999-01-01T00:00:00Z", "expires_ms": 32503680000000}
    assert state.apply(new.user_id, "apple:o1", plan, 2)[0] == "applied"
    assigned = users.get(new.user_id)["analytics_id"]
    assert str(uuid.UUID(assigned)) == assigned != new.user_id
    assert state.apply(new.user_id, "apple:o1", {**plan, "event_ms": 3}, 4)[0] == "applied"
    assert users.get(new.user_id)["analytics_id"] == assigned


def _calls_during(fn, on_transaction=None):
    """The DynamoDB operations `fn` sends, in order; `on_transaction` runs as the transaction is sent."""
    from functions.common import aws as common_aws

    sent = []

    def record(model, **_):
        sent.append(model.name)
        if model.name == "TransactWriteItems" and on_transaction:
            on_transaction()

    clients = {id(c): c for c in (common_aws.table("serenya-test").meta.client, common_aws.client("dynamodb"))}
    for c in clients.values():
        c.meta.events.register("before-call.dynamodb", record)
    try:
        fn()
    finally:
        for c in clients.values():
            c.meta.events.unregister("before-call.dynamodb", record)
    return sent


def _usage_items(user_id):
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    return table.query(KeyConditionExpression=Key("PK").eq(f"USAGE#{user_id}"))["Items"]


def test_deletion_removes_the_users_usage_records_and_tickets_which_link_the_user_id_to_the_analytics_id(aws_env):
    """Usage records and upload tickets carry the analytics id under USAGE#<user id>: once the
    account is gone nothing may link the two, not even until the records' TTL."""
    from functions.common import usage

    new, other = onboard(), onboard(Identity("apple", "a-2", None, False, None, None, None))
    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    aid = users.get(new.user_id)["analytics_id"]
    for i in range(30):  # more than one batch of 25 deletes
        table.put_item(Item=usage.ticket(new.user_id, f"job-{i}", "application/pdf", analytics_id=aid))
        table.put_item(Item={**usage.key(new.user_id, f"job-{i}"), "job_kind": "lab_report", "analytics_id": aid})
    table.put_item(Item=usage.ticket(other.user_id, "job-x", "image/png", analytics_id="other-aid"))
    assert len(_usage_items(new.user_id)) == 60

    item = users.get(new.user_id)
    sent = _calls_during(lambda: users.delete(item))
    assert _usage_items(new.user_id) == [] and not users.exists(new.user_id)
    assert not any(aid in repr(i) or new.user_id in repr(i) for i in all_items())
    assert [i["SK"] for i in _usage_items(other.user_id)] == ["TICKET#job-x"] and users.exists(other.user_id)
    # an account with its analytics id: no extra write before the deletes
    assert "UpdateItem" not in sent and sent[0] == "Query" and sent[-1] == "TransactWriteItems"


def test_deleting_an_account_without_an_analytics_id_gives_it_one_first_so_the_deletion_is_counted(aws_env):
    """An account made before analytics ids, not written since: its REMOVE would carry no
    analytics id and user_deleted would be dropped. One conditional update first, and only then."""
    import uuid
    from datetime import UTC, datetime

    from boto3.dynamodb.types import TypeSerializer

    from analytics.events import derive

    new = onboard()
    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    table.update_item(Key=users.profile_key(new.user_id), UpdateExpression="REMOVE analytics_id")
    item = users.get(new.user_id)
    assert "analytics_id" not in item
    removed = []  # the profile as the stream's REMOVE record carries it (its last image)
    sent = _calls_during(lambda: users.delete(item), lambda: removed.append(users.get(new.user_id)))
    assert sent.count("UpdateItem") == 1 and sent.index("UpdateItem") < sent.index("TransactWriteItems")
    assert all_items() == []
    [old] = removed
    aid = old["analytics_id"]
    assert str(uuid.UUID(aid)) == aid != new.user_id
    serialize = TypeSerializer().serialize
    record = {"eventID": "e1", "eventName": "REMOVE", "dynamodb": {
        "Keys": {"PK": {"S": f"USER#{new.user_id}"}, "SK": {"S": "PROFILE"}},
        "OldImage": {k: serialize(v) for k, v in old.items()}, "SequenceNumber": "1",
        "ApproximateCreationDateTime": datetime(2026, 3, 2, tzinfo=UTC).timestamp()}}
    dropped = []
    [event] = derive(record, unattributed=dropped.append)
    assert (event["event_type"], event["analytics_id"], dropped) == ("user_deleted", aid, [])
    assert new.user_id not in repr(event)


def test_a_deletion_racing_another_deletion_of_an_account_without_an_analytics_id_writes_nothing(aws_env):
    new = onboard()
    item = users.get(new.user_id)
    del item["analytics_id"]
    users.delete(users.get(new.user_id))
    users.delete(item)  # the other request's stale copy: the conditional update finds no profile
    assert all_items() == []
