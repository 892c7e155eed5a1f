"""Audit events from every kind of stream record."""

from datetime import datetime, timezone

import pytest

from analytics.events import derive
from analytics.schema import SCHEMA_VERSION
from tests.fixtures.stream import profile, record, usage, usage_record

U = "11111111-1111-1111-1111-111111111111"


def kinds(events):
    return sorted(e["event_type"] for e in events)


def test_insert_is_a_registration_with_its_consents():
    events = derive(record("INSERT", U, new=profile(U)))
    assert kinds(events) == ["consent_updated", "consent_updated", "user_registered"]
    registered = next(e for e in events if e["event_type"] == "user_registered")
    assert (registered["analytics_id"], registered["auth_provider"], registered["device_platform"]) == (U, "google", "ios")
    assert (registered["new_plan"], registered["class_uid"], registered["activity_id"]) == ("free", 3001, 1)
    assert {(e["consent_type"], e["consent_version"]) for e in events if e["consent_type"]} == {
        ("privacy_policy", "2025-01"), ("terms_of_service", "2025-01")}


def test_a_modify_can_yield_several_events():
    old = profile(U)
    new = profile(U, session={"id": "s1"}, current_subscription={"type": "premium", "status": "active"},
                  device={"platform": "android", "device_id": "d2"}, given_name_enc=b"\x03",
                  consents={**old["consents"], "marketing": {"version": "1", "accepted": True}},
                  updated_at="2026-03-03T00:00:00Z")
    events = {e["event_type"]: e for e in derive(record("MODIFY", U, old=old, new=new))}
    assert set(events) == {"signed_in", "subscription_changed", "device_changed", "consent_updated",
                           "profile_updated"}
    assert (events["subscription_changed"]["old_plan"], events["subscription_changed"]["new_plan"]) == ("free", "premium")
    assert events["signed_in"]["class_uid"] == 3002 and events["signed_in"]["device_platform"] == "android"
    assert events["consent_updated"]["consent_type"] == "marketing"
    assert events["profile_updated"]["changed_fields"] == ["given_name"]


def test_bookkeeping_changes_are_not_events():
    old = profile(U)
    assert derive(record("MODIFY", U, old=old, new={**old, "updated_at": "x", "last_sign_in_at": "y"})) == []


def test_remove_is_a_deletion_named_by_the_old_images_analytics_id():
    events = derive(record("REMOVE", U, old=profile(U)))
    assert kinds(events) == ["user_deleted"] and events[0]["activity_id"] == 6
    assert derive(record("REMOVE", U)) == []  # no image, no analytics id: nothing names the person


def test_records_without_images_or_of_other_items_yield_nothing():
    assert derive(record("MODIFY", U)) == []
    assert derive(record("INSERT", U, new={"user_id": U}, pk="EXTERNAL#google#123", sk="IDENTITY")) == []
    assert derive(record("INSERT", U, new={"status": "COMPLETED"}, pk="IDEMPOTENCY#subscriptions", sk="abc")) == []


def test_event_ids_are_deterministic_per_record():
    r = record("INSERT", U, new=profile(U))
    first, again = derive(r), derive(r)
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert len({e["event_id"] for e in first}) == len(first)
    assert not {e["event_id"] for e in first} & {e["event_id"] for e in derive(record("INSERT", U, new=profile(U)))}


def test_events_never_carry_personal_or_health_data():
    old = profile(U)
    new = profile(U, given_name_enc=b"\x09secret", email_enc=b"\x09other", biometric={"enabled": True})
    for event in derive(record("MODIFY", U, old=old, new=new)) + derive(record("INSERT", U, new=new)):
        text = repr(event)
        assert "sealed" not in text and "secret" not in text and "\\x" not in text
    assert derive(record("MODIFY", U, old=old, new=new))[0]["changed_fields"] == ["biometric", "email", "given_name"]


def test_a_registration_on_a_paid_plan_records_that_plan():
    new = profile(U, current_subscription={"type": "premium", "status": "trial"})
    registered = next(e for e in derive(record("INSERT", U, new=new)) if e["event_type"] == "user_registered")
    assert (registered["new_plan"], registered["subscription_status"]) == ("premium", "trial")
    bare = {k: v for k, v in profile(U).items() if k != "current_subscription"}
    registered = next(e for e in derive(record("INSERT", U, new=bare)) if e["event_type"] == "user_registered")
    assert (registered["new_plan"], registered["subscription_status"]) == ("free", "active")


def test_a_changed_consent_records_its_new_version_and_an_unchanged_one_nothing():
    old = profile(U)
    accepted = {**old["consents"]["privacy_policy"], "version": "2026-02"}
    new = profile(U, consents={**old["consents"], "privacy_policy": accepted})
    events = derive(record("MODIFY", U, old=old, new=new))
    assert [(e["event_type"], e["consent_type"], e["consent_version"]) for e in events] == [
        ("consent_updated", "privacy_policy", "2026-02")]
    withdrawn = profile(U, consents={**old["consents"],
                                     "terms_of_service": {**old["consents"]["terms_of_service"], "accepted": False}})
    assert [e["consent_type"] for e in derive(record("MODIFY", U, old=old, new=withdrawn))] == ["terms_of_service"]


def test_consents_carry_their_answer_refused_given_and_withdrawn_are_three_distinct_rows():
    """GDPR Art. 7(1) and 7(3): what was consented to, and when it was withdrawn."""
    refused_research = {"version": "r1", "accepted": False}
    at_registration = profile(U, consents={**profile(U)["consents"], "research": refused_research})
    registered = derive(record("INSERT", U, new=at_registration))
    assert sorted((e["consent_type"], e["consent_version"], e["consent_answer"])
                  for e in registered if e["event_type"] == "consent_updated") == [
        ("privacy_policy", "2025-01", "given"), ("research", "r1", "refused"), ("terms_of_service", "2025-01", "given")]
    given = profile(U, consents={**at_registration["consents"], "marketing": {"version": "m3", "accepted": True}})
    withdrawn = profile(U, consents={**given["consents"], "marketing": {"version": "m3", "accepted": False}})
    rows = [e for e in registered if e["consent_type"] == "research"]
    rows += derive(record("MODIFY", U, old=at_registration, new=given))
    rows += derive(record("MODIFY", U, old=given, new=withdrawn))
    answers = [(e["event_type"], e["consent_type"], e["consent_version"], e["consent_answer"]) for e in rows]
    assert answers == [("consent_updated", "research", "r1", "refused"), ("consent_updated", "marketing", "m3", "given"),
                       ("consent_updated", "marketing", "m3", "withdrawn")]
    assert len({tuple(a) for a in answers}) == 3
    # Refusing again what was never given is a refusal, not a withdrawal; giving it later is given.
    refused_again = profile(U, consents={**at_registration["consents"], "research": {"version": "r2", "accepted": False}})
    assert [e["consent_answer"] for e in derive(record("MODIFY", U, old=at_registration, new=refused_again))] == [
        "refused"]
    assert all(e["consent_answer"] is None for e in registered if e["event_type"] != "consent_updated")


def test_events_name_the_person_by_the_analytics_id_on_the_item_never_the_user_id():
    linked = profile(U, analytics_id="a7c0ffee-0000-4000-8000-000000000001")
    for r in (record("INSERT", U, new=linked), record("REMOVE", U, old=linked),
              usage_record({**usage(U, "chat"), "analytics_id": "a7c0ffee-0000-4000-8000-000000000001"},
                           when="2026-03-02T10:00:00")):
        events = derive(r)
        assert events and {e["analytics_id"] for e in events} == {"a7c0ffee-0000-4000-8000-000000000001"}
        assert U not in repr(events)
    # An account made before analytics ids and not written since: nothing, rather than its user id.
    legacy = {k: v for k, v in profile(U).items() if k != "analytics_id"}
    assert derive(record("REMOVE", U, old=legacy)) == []
    assert derive(usage_record({k: v for k, v in usage(U, "chat").items() if k != "analytics_id"},
                               when="2026-03-02T10:00:00")) == []
    # Its first write gives it one: no profile_updated for that, and events from then on.
    given = derive(record("MODIFY", U, old=legacy, new=profile(U, session={"id": "s9"})))
    assert [(e["event_type"], e["analytics_id"]) for e in given] == [("signed_in", U)]


def test_a_plan_change_records_old_and_new_plan_and_status():
    old = profile(U, current_subscription={"type": "premium", "status": "active"})
    new = profile(U, current_subscription={"type": "premium", "status": "expired"})
    [changed] = derive(record("MODIFY", U, old=old, new=new))
    assert (changed["event_type"], changed["old_plan"], changed["new_plan"], changed["subscription_status"]) == (
        "subscription_changed", "premium", "premium", "expired")


def test_a_finished_job_is_a_document_processed_event_without_its_content():
    item = usage(U, "lab_report", "failed", "unreadable_document", model_id="m", latency_ms=1234,
                 input_tokens=10, output_tokens=0)
    events = derive(usage_record(item, when="2026-03-02T10:00:00"))
    assert kinds(events) == ["document_processed"]
    event = events[0]
    assert (event["analytics_id"], event["job_kind"], event["outcome"], event["error_code"], event["model_id"]) == (
        U, "lab_report", "failed", "unreadable_document", "m")
    assert (event["latency_ms"], event["input_tokens"], event["output_tokens"]) == (1234, 10, 0)
    assert (event["class_uid"], event["activity_id"]) == (6003, 99)
    assert event["auth_provider"] is None and event["new_plan"] is None


@pytest.mark.parametrize("found", [16, 0])
def test_a_lab_reports_event_says_its_file_type_pages_and_how_many_values_were_recognised(found):
    """Issue 26: a document read with nothing recognised completes, and analysts can count it."""
    item = usage(U, "lab_report", input_type="pdf", page_count=2, observation_count=found)
    [event] = derive(usage_record(item, when="2026-03-02T10:00:00"))
    assert (event["outcome"], event["input_type"], event["page_count"], event["observation_count"]) == (
        "completed", "pdf", 2, found)
    assert event["schema_version"] == SCHEMA_VERSION >= 3


def test_a_chats_event_has_no_document_fields():
    [event] = derive(usage_record(usage(U, "chat"), when="2026-03-02T10:00:00"))
    assert (event["input_type"], event["page_count"], event["observation_count"]) == (None, None, None)


def test_a_doctor_report_is_also_a_premium_feature_use():
    events = derive(usage_record(usage(U, "doctor_report"), when="2026-03-02T10:00:00"))
    assert kinds(events) == ["document_processed", "premium_feature_used"]
    assert {e["job_kind"] for e in events} == {"doctor_report"} and len({e["event_id"] for e in events}) == 2
    assert kinds(derive(usage_record(usage(U, "chat"), when="2026-03-02T10:00:00"))) == ["document_processed"]


def test_a_retried_jobs_overwrite_and_the_records_expiry_yield_nothing():
    item = usage(U, "lab_report")
    assert derive(usage_record(item, when="2026-03-02T10:00:00", event_name="MODIFY", old=item)) == []
    assert derive(usage_record(item, when="2026-03-04T10:00:00", event_name="REMOVE", old=item)) == []


def test_a_store_billing_and_refund_are_events_with_the_price_when_sent():
    entry = {"type": "premium", "status": "active", "provider": "apple", "product_id": "p.monthly"}
    old = profile(U, subscriptions={"apple:o1": {**entry, "charged_ms": 1, "price_milli": 9990, "currency": "EUR"}})
    renewed = profile(U, subscriptions={"apple:o1": {**entry, "charged_ms": 2, "price_milli": 9990,
                                                     "currency": "EUR"}})
    charged = derive(record("MODIFY", U, old=old, new=renewed))
    assert kinds(charged) == ["subscription_charged"]  # a renewal changes no plan
    assert (charged[0]["store"], charged[0]["product_id"], charged[0]["price_milli"], charged[0]["currency"]) == (
        "apple", "p.monthly", 9990, "EUR")
    refund = profile(U, subscriptions={"apple:o1": {**entry, "refunded_ms": 3}})
    refunded = derive(record("MODIFY", U, old=renewed, new=refund))
    assert kinds(refunded) == ["subscription_refunded"] and refunded[0]["price_milli"] is None
    assert derive(record("MODIFY", U, old=renewed, new=renewed)) == []  # the same stamp is not billed twice


@pytest.mark.parametrize("updated_at, millisecond", [
    ("2026-03-02T10:00:00.123Z", 123),   # within the stream's second: its milliseconds
    ("2026-03-02T10:00:00.000Z", 0),
    ("2026-03-02T10:00:00.999Z", 999),   # the second's last millisecond is still in it
    ("2026-03-02T10:00:01.000Z", 0),     # the next second's first is not
    ("2026-03-02T09:59:59.900Z", 0),     # stale (a write that did not touch it): the stream's second
    ("2026-03-02T10:00:01.500Z", 0),     # skewed into the next second: the stream's second
    ("not a time", 0),
])
def test_event_times_take_the_items_milliseconds_within_the_streams_second(updated_at, millisecond):
    old = profile(U)
    event = derive(record("MODIFY", U, old=old, new={**old, "session": {"id": "s9"}, "updated_at": updated_at},
                          when="2026-03-02T10:00:00"))[0]
    assert event["event_time"] == datetime(2026, 3, 2, 10, 0, 0, millisecond * 1000, tzinfo=timezone.utc)


def test_a_finished_jobs_event_takes_the_milliseconds_of_its_finish_and_every_event_names_its_source():
    item = usage(U, "lab_report", finished_at="2026-03-02T10:00:00.456Z")
    [event] = derive(usage_record(item, when="2026-03-02T10:00:00"))
    assert event["event_time"] == datetime(2026, 3, 2, 10, 0, 0, 456_000, tzinfo=timezone.utc)
    profile_events = derive(record("INSERT", U, new=profile(U)))
    assert {e["source"] for e in profile_events + [event]} == {"dynamodb_stream"}


def test_an_account_created_with_a_charged_subscription_is_billed_at_once():
    """A registration's image can already hold a store entry (the app buys before its first
    profile write completes): its charge is an event like a renewal's."""
    entry = {"type": "premium", "status": "active", "provider": "google", "product_id": "p.yearly",
             "charged_ms": 5, "price_milli": 59990, "currency": "EUR"}
    events = derive(record("INSERT", U, new=profile(U, subscriptions={"google:t1": entry})))
    assert "subscription_charged" in kinds(events) and "user_registered" in kinds(events)


def test_a_plan_appearing_on_an_account_without_one_was_a_change_from_free():
    """An image without current_subscription (an item written before it existed, or edited
    by hand) is on the free plan, as the API reads it."""
    old = {k: v for k, v in profile(U).items() if k != "current_subscription"}
    new = profile(U, current_subscription={"type": "premium", "status": "active"})
    [changed] = derive(record("MODIFY", U, old=old, new=new))
    assert (changed["event_type"], changed["old_plan"], changed["new_plan"]) == ("subscription_changed", "free",
                                                                                 "premium")


def test_an_account_deletions_removal_of_its_usage_records_and_tickets_yields_nothing_and_counts_nothing():
    """DELETE removes USAGE#<user id> (functions/common/users.py): unlike a TTL expiry, the stream
    mapping's filter lets these REMOVEs through; they are neither events nor unattributed."""
    from functions.common import usage as records

    job = usage(U, "lab_report")
    ticket = records.ticket(U, "result_x", "application/pdf", now=1772445600, analytics_id=U)
    dropped = []
    for item in (job, ticket):
        removal = usage_record(item, when="2026-03-02T11:00:00", event_name="REMOVE", old=item)
        assert "userIdentity" not in removal  # a user's delete, not the TTL service's
        assert derive(removal, unattributed=dropped.append) == []
    assert dropped == []
    # the analytics id given just before a deletion (a MODIFY of that attribute only) is no event either
    legacy = {k: v for k, v in profile(U).items() if k != "analytics_id"}
    assert derive(record("MODIFY", U, old=legacy, new=profile(U)), unattributed=dropped.append) == []
    assert dropped == []
