"""The stream processor's canary filter on its own (functions/common/canary.py owns_record,
functions/stream_processor): AWS's own stream records (tests/fixtures/real_events), keyed as
the canary's items or a user's, and what the handler passes on to be written."""

import copy

import pytest

from functions.common.canary import CANARY_USER_ID, owns_record
from tests.conftest import FakeContext
from tests.fixtures.real_samples import real_json

SAMPLES = ["aws-lambda-go/dynamodb-event.json", "powertools/dynamoStreamEvent.json"]
USER = "3f0e7c1a-0000-4000-8000-000000000001"


def keyed(sample: str, pk: str, sk: str = "PROFILE", event_name: str = "INSERT") -> dict:
    """The sample's record of `event_name`, its keys and image made the item's (PK, SK)."""
    record = copy.deepcopy(next(r for r in real_json(sample)["Records"] if r["eventName"] == event_name))
    keys = {"PK": {"S": pk}, "SK": {"S": sk}}
    record["dynamodb"]["Keys"] = keys
    for image in ("NewImage", "OldImage"):
        if image in record["dynamodb"]:
            record["dynamodb"][image] = {**record["dynamodb"][image], **keys}
    return record


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("pk, sk", [(f"USER#{CANARY_USER_ID}", "PROFILE"),
                                    (f"USAGE#{CANARY_USER_ID}", "2026-01-01#job"),
                                    (f"QUOTA#{CANARY_USER_ID}", "result#2026-01")])
def test_the_canarys_profile_usage_and_quota_items_are_its_own(sample, pk, sk):
    names = {r["eventName"] for r in real_json(sample)["Records"]}
    assert "INSERT" in names  # and its changes and deletions, where the sample holds them
    for name in names:
        assert owns_record(keyed(sample, pk, sk, event_name=name)), name


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("pk", [f"USER#{USER}", f"USAGE#{USER}", f"QUOTA#{USER}", CANARY_USER_ID,
                                f"USER#{CANARY_USER_ID}x", f"user#{CANARY_USER_ID}", f"JOB#{CANARY_USER_ID}",
                                f"USER#{CANARY_USER_ID[:-1]}2"])
def test_anyone_elses_item_or_a_near_miss_is_not(sample, pk):
    assert not owns_record(keyed(sample, pk))


@pytest.mark.parametrize("sample", SAMPLES)
def test_records_as_aws_sends_them_or_without_keys_are_not_the_canarys(sample):
    for record in real_json(sample)["Records"]:
        assert not owns_record(record)  # AWS's own keys (val/key, Id)
    record = keyed(sample, f"USER#{CANARY_USER_ID}")
    record["dynamodb"]["Keys"]["PK"] = {"N": "1"}
    assert not owns_record(record)
    assert not owns_record({**record, "dynamodb": {}}) and not owns_record({})


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_handler_writes_the_users_events_and_none_of_the_canarys(aws_env, monkeypatch, sample):
    from functions.stream_processor import handler as stream

    batch = real_json(sample)
    canary, user = keyed(sample, f"USER#{CANARY_USER_ID}"), keyed(sample, f"USER#{USER}")
    person = "a7d1c0de-0000-4000-8000-000000000001"  # the lake's id of the user (functions/common/users.py)
    for record in (canary, user):
        record["dynamodb"]["NewImage"]["analytics_id"] = {"S": person}
    user["dynamodb"]["SequenceNumber"] = str(int(canary["dynamodb"]["SequenceNumber"]) + 1)
    batch["Records"] = [canary, user]
    written = []
    monkeypatch.setattr(stream, "write", lambda pairs: written.extend(pairs) or 0)
    assert stream.handler(batch, FakeContext()) == {"batchItemFailures": []}
    # Both records are acknowledged (no redelivery); only the user's yields events.
    assert [(r["dynamodb"]["Keys"]["PK"]["S"], bool(e)) for r, e in written] == [
        (f"USER#{CANARY_USER_ID}", False), (f"USER#{USER}", True)]
    assert {e["analytics_id"] for _, events in written for e in events} == {person}
