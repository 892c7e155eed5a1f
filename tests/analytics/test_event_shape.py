"""Properties of every derived audit event: exactly the schema's columns (a misspelt
column would be dropped or fail the Parquet write), a stable 32-hex id per record and
change (a retried batch overwrites itself, a different change never collides), and
stream values read as DynamoDB wrote them."""

import re

import pytest

from functions.common.usage import ticket

from analytics.events import _plain, derive
from analytics.schema import EVENT_TYPES, SCHEMA
from tests.fixtures.stream import profile, record, usage, usage_record

U = "11111111-1111-1111-1111-111111111111"


def every_kind_of_event():
    old = profile(U)
    new = profile(U, session={"id": "s1"}, current_subscription={"type": "premium", "status": "active"},
                  device={"platform": "android", "device_id": "d2"}, given_name_enc=b"\x03",
                  consents={**old["consents"], "marketing": {"version": "1", "accepted": True}},
                  updated_at="2026-03-03T00:00:00Z")
    billed = profile(U, subscriptions={"apple:o1": {"provider": "apple", "product_id": "p", "charged_ms": 1}})
    refunded = profile(U, subscriptions={"apple:o1": {"provider": "apple", "product_id": "p", "refunded_ms": 2}})
    return (derive(record("INSERT", U, new=profile(U))) + derive(record("MODIFY", U, old=old, new=new))
            + derive(record("REMOVE", U, old=old)) + derive(record("MODIFY", U, old=old, new=billed))
            + derive(record("MODIFY", U, old=billed, new=refunded))
            + derive(usage_record(usage(U, "doctor_report"), when="2026-03-02T10:00:00"))
            + derive(usage_record(ticket(U, "t1", "application/pdf", now=1772445600, analytics_id=U),
                                 when="2026-03-02T10:00:00")))


def test_every_event_has_exactly_the_schemas_columns():
    events = every_kind_of_event()
    assert {e["event_type"] for e in events} == {"user_registered", "consent_updated", "signed_in",
                                                 "subscription_changed", "device_changed", "profile_updated",
                                                 "user_deleted", "subscription_charged", "subscription_refunded",
                                                 "document_processed", "premium_feature_used",
                                                 "upload_ticket_issued"}
    assert {e["event_type"] for e in events} == set(EVENT_TYPES)  # every documented kind is derived
    columns = set(SCHEMA.names) - {"event_date"}
    for event in events:
        assert set(event) == columns, event["event_type"]


def test_fields_an_event_kind_does_not_carry_are_null():
    deleted = next(e for e in every_kind_of_event() if e["event_type"] == "user_deleted")
    for column in ("old_plan", "new_plan", "subscription_status", "consent_type", "consent_version",
                   "changed_fields", "store", "product_id", "price_milli", "currency", "job_kind", "outcome",
                   "error_code", "model_id", "latency_ms", "input_tokens", "output_tokens"):
        assert deleted[column] is None, column


def test_event_ids_are_stable_32_hex_and_distinct():
    records = [record("INSERT", U, new=profile(U)), record("MODIFY", U, old=profile(U), new=profile(
        U, session={"id": "s9"}, device={"platform": "android", "device_id": "d9"})), record("REMOVE", U, old=profile(U))]
    ids = [e["event_id"] for r in records for e in derive(r)]
    assert ids == [e["event_id"] for r in records for e in derive(r)]  # a retried batch writes the same ids
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_the_stream_event_id_and_sequence_both_make_the_id():
    base = record("REMOVE", U, old=profile(U))
    other_id = {**base, "eventID": "another-event"}
    other_sequence = {**base, "dynamodb": {**base["dynamodb"], "SequenceNumber": "999"}}
    ids = {derive(r)[0]["event_id"] for r in (base, other_id, other_sequence)}
    assert len(ids) == 3


@pytest.mark.parametrize("value, plain", [
    ({"S": "x"}, "x"), ({"N": "42"}, 42), ({"N": "-1.5"}, -1.5), ({"NULL": True}, None), ({"BOOL": False}, False),
    ({"L": [{"N": "1"}, {"S": "a"}, {"L": [{"NULL": True}]}]}, [1, "a", [None]]),
    ({"M": {"a": {"N": "2.0"}, "b": {"M": {"c": {"L": []}}}}}, {"a": 2.0, "b": {"c": []}}),
    ({"SS": ["a", "b"]}, ["a", "b"]),
])
def test_stream_values_read_as_dynamodb_wrote_them(value, plain):
    result = _plain(value)
    assert result == plain and type(result) is type(plain)
