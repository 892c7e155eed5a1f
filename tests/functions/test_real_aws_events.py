"""AWS's own event samples (tests/fixtures/real_events, README for provenance) fed to the
functions that consume each kind, changed only where this stack's values must go."""

from datetime import datetime, timezone

import pytest

from analytics import events as audit
from functions.authorizer.handler import handler as authorize
from functions.common import tokens, users
from functions.common.clock import now_iso
from functions.common.oauth import Identity
from functions.compaction.handler import day_to_compact
from local.gateway import policy_allows
from tests.conftest import FakeContext
from tests.fixtures.real_samples import real_json


def test_the_nightly_compaction_compacts_the_day_before_its_scheduled_events_time():
    event = real_json("aws-lambda-go/cloudwatch-scheduled-event.json")  # time 2016-12-30T18:44:49Z
    assert day_to_compact(event) == "2016-12-29"


def test_process_reads_the_url_encoded_key_of_a_real_s3_notification(aws_env, monkeypatch):
    from functions.process import handler as process
    event = real_json("aws-lambda-go/s3-event.json")  # key "Happy%20Face.jpg", as S3 encodes it
    seen = []
    monkeypatch.setattr(process, "process", lambda key, deadline, request_id: seen.append((key, request_id)))
    process.handler(event, FakeContext())
    assert seen == [("Happy Face.jpg", FakeContext.aws_request_id)]


@pytest.mark.parametrize("sample", ["aws-lambda-go/dynamodb-event.json", "powertools/dynamoStreamEvent.json"])
def test_the_audit_derives_a_registration_from_a_real_stream_insert(sample):
    """The sample's INSERT, its keys and image made a profile's: the attribute-value
    encoding, sequence number and creation time are read as AWS sends them."""
    record = next(r for r in real_json(sample)["Records"] if r["eventName"] == "INSERT")
    keys = {"PK": {"S": "USER#u-real"}, "SK": {"S": "PROFILE"}}
    record["dynamodb"]["Keys"] = keys
    record["dynamodb"]["NewImage"] = {**record["dynamodb"]["NewImage"], **keys}
    dropped: list[str] = []
    assert audit.derive(record, unattributed=dropped.append) == [] and dropped == ["user_registered"]  # no id yet
    record["dynamodb"]["NewImage"]["analytics_id"] = {"S": "a-real"}
    [event] = audit.derive(record)
    assert (event["analytics_id"], event["stream_sequence"]) == ("a-real", record["dynamodb"]["SequenceNumber"])
    assert "u-real" not in repr(event)  # the key's user id is never the lake's
    assert event["event_time"] == datetime.fromtimestamp(
        int(record["dynamodb"]["ApproximateCreationDateTime"]), timezone.utc)


@pytest.mark.parametrize("sample", ["aws-lambda-go/dynamodb-event.json", "powertools/dynamoStreamEvent.json"])
def test_the_stream_processor_takes_a_real_batch_of_other_items_without_failures(aws_env, sample):
    from functions.stream_processor.handler import handler
    assert handler(real_json(sample), FakeContext()) == {"batchItemFailures": []}


@pytest.mark.parametrize("sample", ["aws-lambda-go/apigw-custom-auth-request.json",
                                    "powertools/apiGatewayAuthorizerTokenEvent.json"])
def test_the_authorizer_on_real_token_authorizer_events(aws_env, sample):
    """As sent ("allow" is no bearer token): refused. With a token of ours and one of our
    routes after the sample's methodArn (API id, stage `*`, method): a policy that allows
    it, and not the sample's root resource, which is no route of this API."""
    event = real_json(sample)
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(event, FakeContext())
    identity = Identity("google", "g-real", None, False, None, None, None)
    account = users.new_account(identity, None, None, {}, {}, {}, now_iso())
    users.create(account, identity)
    event["authorizationToken"] = f"Bearer {tokens.issue(account.user_id, 's-real').token}"
    root = event["methodArn"]
    event["methodArn"] = f"{root}api/v1/user/profile"
    answer = authorize(event, FakeContext())
    assert answer["principalId"] == account.user_id
    assert policy_allows(answer["policyDocument"], event["methodArn"])
    assert not policy_allows(answer["policyDocument"], root)
