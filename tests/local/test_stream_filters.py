"""The stream mapping's filter criteria, enforced by the local poller as Lambda enforces them:
a TTL deletion (a real-format record: userIdentity of the DynamoDB service) invokes
nothing, while the app's own writes and an account's deletion still arrive."""

import copy
import json
from pathlib import Path

import pytest

from components.processing import STREAM_FILTERS
from local.triggers import StreamMapping, StreamPoller, passes

SAMPLE = Path(__file__).parents[1] / "fixtures/real_events/aws-lambda-go/dynamodb-event.json"
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/serenya-dev/stream/2026-01-01T00:00:00.000"


def real_records():
    """The sample's records, keyed like this table's items; everything else as AWS sent it."""
    return json.loads(SAMPLE.read_text())["Records"]


def ttl_expiry():
    """The sample's service record (userIdentity type Service, principal dynamodb.amazonaws.com),
    as the REMOVE of an expired usage record."""
    record = copy.deepcopy(next(r for r in real_records() if "userIdentity" in r))
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    record["eventName"] = "REMOVE"
    keys = {"PK": {"S": "USAGE#u1"}, "SK": {"S": "JOB#result_u1_1_a"}}
    record["dynamodb"].update(Keys=keys, OldImage={**keys, "ttl": {"N": "1772618400"}})
    record["dynamodb"].pop("NewImage", None)
    return record


def app_record(event_name, pk="USER#u1"):
    record = copy.deepcopy(next(r for r in real_records() if "userIdentity" not in r))
    record["eventName"] = event_name
    record["dynamodb"]["Keys"] = {"PK": {"S": pk}, "SK": {"S": "PROFILE"}}
    return record


def test_the_program_filters_ttl_deletions_and_nothing_the_app_writes():
    assert not passes(STREAM_FILTERS, ttl_expiry())
    for name in ("INSERT", "MODIFY", "REMOVE"):  # REMOVE: an account deleted by its user
        assert passes(STREAM_FILTERS, app_record(name))
    other_service = {**ttl_expiry(), "userIdentity": {"type": "Service", "principalId": "other.amazonaws.com"}}
    assert passes(STREAM_FILTERS, other_service)
    assert passes((), ttl_expiry())  # no filters: everything, as Lambda


def test_filter_rules_as_lambda_reads_them():
    record = app_record("REMOVE")
    assert passes(({"eventName": ["REMOVE"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "USER#"}]}}}},), record)
    assert not passes(({"eventName": ["INSERT"]},), record)
    assert not passes(({"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "USAGE#"}]}}}},), record)
    assert passes(({"eventName": [{"anything-but": "INSERT"}]},), record)
    assert not passes(({"missing": [{"anything-but": ["x"]}]},), record)  # anything-but needs the field
    with pytest.raises(ValueError, match="numeric"):
        passes(({"eventName": [{"numeric": [">", 1]}]},), record)


class FakeStreams:
    """GetRecords answers of one shard: the records as boto3 returns them."""

    def __init__(self, records):
        self.records = records

    def describe_stream(self, StreamArn):
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **kwargs):
        return {"ShardIterator": "it-1"}

    def get_records(self, ShardIterator):
        records, self.records = self.records, []
        return {"Records": records, "NextShardIterator": "it-1"}


class Functions:
    def __init__(self):
        self.batches = []

    def invoke(self, name, event):
        self.batches.append(event["Records"])
        return {"batchItemFailures": []}


def mapping_of_the_program():
    inputs = {"batchSize": 100, "maximumRetryAttempts": 3, "functionResponseTypes": ["ReportBatchItemFailures"],
              "filterCriteria": {"filters": [{"pattern": json.dumps(p)} for p in STREAM_FILTERS]}}
    return StreamMapping.from_inputs(inputs)


def test_the_poller_invokes_nothing_for_a_batch_of_expiries_and_drops_them_from_a_mixed_one():
    functions = Functions()
    expiries = [ttl_expiry() for _ in range(3)]
    poller = StreamPoller(FakeStreams(expiries), ARN, "stream_processor", mapping_of_the_program(), functions,
                          lambda body, attributes: None)
    assert poller.poll_once() == 0 and functions.batches == []
    deleted_by_user = app_record("REMOVE")
    poller._streams.records = [ttl_expiry(), deleted_by_user, ttl_expiry(), app_record("INSERT", "USAGE#u1")]
    assert poller.poll_once() == 2
    [batch] = functions.batches
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in batch] == [
        ("REMOVE", "USER#u1"), ("INSERT", "USAGE#u1")]
    assert all("userIdentity" not in r for r in batch)
