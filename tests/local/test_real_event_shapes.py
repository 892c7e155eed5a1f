"""The events the local stack builds for the functions have the shape of what AWS sends,
compared key by key and type by type with the real samples (tests/fixtures/real_events):
the gateway's proxy and authorizer events, the S3 dispatcher's notifications and the
stream poller's records. A sample departs from the local event only where the other
sample of its kind shows the field (each sample lacks a few fields AWS sends)."""

from datetime import datetime, timezone

import pytest

from local.triggers import S3Dispatcher, _lambda_record
from tests.fixtures.real_samples import real_json, shape_differences
from tests.local.test_gateway import call, gateway, recorder  # noqa: F401 (fixtures)

# Keyed by data, not by AWS: only the values' types are compared.
MAPS = frozenset({"$.headers", "$.multiValueHeaders", "$.queryStringParameters", "$.multiValueQueryStringParameters",
                  "$.pathParameters", "$.requestContext.authorizer"})
PROXY_SAMPLES = {
    # An older sample: no isBase64Encoded nor identity.principalOrgId (the other has both).
    "aws-lambda-go/apigw-request.json": {"$.isBase64Encoded: not in the sample",
                                         "$.requestContext.identity.principalOrgId: not in the sample"},
    # An HTTP API payload 1.0 (stage $default) with a Cognito authorizer: `version` is
    # HTTP API's, and the authorizer is not a Lambda one; it lacks the API key fields.
    "powertools/apiGatewayProxyEvent.json": {"$.version: missing here",
                                             "$.requestContext.identity.apiKey: not in the sample",
                                             "$.requestContext.identity.apiKeyId: not in the sample"},
}


def proxy_event(gateway, recorder):
    status, _, _ = call(gateway, "GET", "/api/v1/echo/abc", token="Bearer good", query={"q": ["1", "2"]})
    assert status == 200
    return recorder.events["echo"][-1]


@pytest.mark.parametrize("sample", sorted(PROXY_SAMPLES))
def test_the_gateways_proxy_event_has_the_shape_of_a_real_one(gateway, recorder, sample):
    event, real = proxy_event(gateway, recorder), real_json(sample)
    if sample.startswith("powertools/"):
        real["requestContext"].pop("authorizer")  # a Cognito authorizer's, not a Lambda authorizer's
        event["requestContext"].pop("authorizer")
    assert set(shape_differences(event, real, maps=MAPS)) == PROXY_SAMPLES[sample]


def test_each_proxy_sample_lacks_only_what_the_other_one_shows():
    for sample, departures in PROXY_SAMPLES.items():
        [other] = [real_json(s) for s in PROXY_SAMPLES if s != sample]
        for departure in departures:
            path = departure.split(":")[0].removeprefix("$.").split(".")
            holder = other
            for key in path[:-1]:
                holder = holder[key]
            assert path[-1] in holder or "missing here" in departure, departure


def test_a_lambda_authorizers_context_reaches_the_function_as_in_the_real_event(gateway, recorder):
    """principalId beside the context's own keys, as in the sample (Lambda authorizer)."""
    authorizer = proxy_event(gateway, recorder)["requestContext"]["authorizer"]
    real = real_json("aws-lambda-go/apigw-request.json")["requestContext"]["authorizer"]
    assert isinstance(authorizer["principalId"], str) and isinstance(real["principalId"], str)
    assert authorizer["user_id"] == "user-1" and isinstance(authorizer["integrationLatency"], int)


@pytest.mark.parametrize("sample", ["aws-lambda-go/apigw-custom-auth-request.json",
                                    "powertools/apiGatewayAuthorizerTokenEvent.json"])
def test_the_gateways_token_authorizer_event_is_the_real_one(gateway, recorder, sample):
    call(gateway, "GET", "/api/v1/echo/abc", token="Bearer good")
    event = recorder.events["authorizer"][-1]
    assert shape_differences(event, real_json(sample)) == []
    assert event["methodArn"].split(":")[:3] == real_json(sample)["methodArn"].split(":")[:3]


class _NoS3:
    pass


def test_the_s3_dispatchers_notification_has_the_shape_of_a_real_one():
    dispatcher = S3Dispatcher(_NoS3(), "temp-bucket", "incoming/", "worker", None, "eu-west-1", lambda *_: None)
    event = dispatcher._event({"Key": "incoming/a b+c", "ETag": '"d41d8cd98f00b204e9800998ecf8427e"', "Size": 3,
                               "LastModified": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)})
    real = real_json("aws-lambda-go/s3-event.json")
    # Every key of AWS's, with its types; only versionId is absent (the bucket is not versioned).
    assert shape_differences(event, real) == ["$.Records[0].s3.object.versionId: missing here"]
    record = event["Records"][0]
    assert record["eventTime"] == "2024-01-02T03:04:05.000Z"  # milliseconds, as S3 and the sample write it
    sequencer = record["s3"]["object"]["sequencer"]
    assert int(sequencer, 16) and sequencer == sequencer.upper()
    later = dispatcher._event({"Key": "incoming/b", "ETag": '"e"', "Size": 1,
                               "LastModified": datetime(2024, 1, 2, 3, 4, 6, tzinfo=timezone.utc)})
    assert later["Records"][0]["s3"]["object"]["sequencer"] > sequencer  # S3's order, compared as strings
    # S3 URL-encodes keys with + for spaces, as the sample's "Happy%20Face.jpg" is encoded.
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/a+b%2Bc"


@pytest.mark.parametrize("sample", ["aws-lambda-go/dynamodb-event.json", "powertools/dynamoStreamEvent.json"])
def test_the_stream_pollers_records_have_the_shape_of_real_ones(sample):
    """A record as boto3's GetRecords returns it, made a Lambda record by the poller."""
    boto_record = {"eventID": "e1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                   "awsRegion": "eu-west-1",
                   "dynamodb": {"ApproximateCreationDateTime": datetime(2024, 1, 2, tzinfo=timezone.utc),
                                "Keys": {"PK": {"S": "USER#u"}}, "NewImage": {"PK": {"S": "USER#u"}},
                                "SequenceNumber": "100", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    record = _lambda_record(boto_record, "arn:aws:dynamodb:eu-west-1:1:table/t/stream/x")
    real = real_json(sample)["Records"][0]
    differences = [d for d in shape_differences(record, real)
                   if not d.startswith(("$.dynamodb.Keys.", "$.dynamodb.NewImage."))]  # the items' own attributes
    # userIdentity is only on records of TTL deletions (the aws-lambda-go sample has one).
    assert [d for d in differences if d != "$.userIdentity: missing here"] == []
