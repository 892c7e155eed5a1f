"""After a full user journey on the local stack, no email, name or lab data is in the
logs, the metrics, the table or the audit events."""

import io
import logging
import sys
import time

import boto3
import pyarrow.parquet as pq
import requests

from analytics_queries import local
from local.moto_stack import aws_client
from tests.e2e.conftest import CONSENTS, DEVICE
from tests.fixtures.lab_reports import TABLE

EMAIL, GIVEN, FAMILY = "zoe.quartermain@example.org", "Zoebelle", "Quartermain"
SECRETS = (EMAIL, GIVEN, FAMILY, "Hemoglobin", "Potassium", "What does my potassium mean")


def test_a_full_journey_leaves_no_personal_or_health_data_behind(client, stack, tmp_path):
    from functions.common.observability import logger

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        token_id = client.id_token("google", "journey-pii", email=EMAIL, name=f"{GIVEN} {FAMILY}")
        body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
            "provider": "google", "id_token": token_id, "device": DEVICE, "consents": CONSENTS,
            "given_name": GIVEN, "family_name": FAMILY})[1]
        token, user_id = body["access_token"], body["user"]["id"]
        ticket = client.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf",
                                                                "file_size": len(TABLE.pdf())}, token=token)[1]
        requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                      files={"file": ("r.pdf", TABLE.pdf(), "application/pdf")}, timeout=10)
        deadline = time.monotonic() + 10
        while client.call("GET", f"/api/v1/process/status/{ticket['job_id']}", token=token)[1]["status"] not in (
                "completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.05)
        result = client.call("GET", f"/api/v1/process/result/{ticket['job_id']}", token=token)[1]["result"]
        chat = client.call("POST", "/api/v1/chat/messages", {"message": "What does my potassium mean?",
                                                             "context": {"results": [result]}}, token=token)[1]
        client.call("POST", "/local/store/google/notify", {"user_id": user_id, "notification_type": 4})
        client.call("PUT", "/api/v1/user/profile", {"family_name": FAMILY + "-Smith"}, token=token)
        # Everything written so far delivered: two full polls of every trigger stand-in.
        assert all(poller.wait_polled(2) for poller in stack.pollers)
        client.call("GET", f"/api/v1/chat/status/{chat['job_id']}", token=token)
        emitted = sink.getvalue() + sys.stdout.getvalue()
    finally:
        sys.stdout = real_stdout
        logger.removeHandler(handler)

    assert "job finished" in emitted and "Registrations" in emitted  # the capture saw the journey
    items = (boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                            aws_access_key_id="local", aws_secret_access_key="local").Table("serenya-dev").scan()["Items"])
    table = repr(items)
    analytics_id = next(i["analytics_id"] for i in items if i.get("user_id") == user_id and i["SK"] == "PROFILE")
    root = local.download(aws_client("s3", stack.aws_endpoint_url, "eu-west-1"),
                          stack.program.outputs["events_bucket"], tmp_path)
    audit = repr([pq.read_table(f).to_pylist() for f in root.rglob("*.parquet")])
    # The journey's events are there under the account's analytics id; no Parquet file holds the user id.
    assert analytics_id in audit and analytics_id != user_id and user_id not in audit
    assert "document_processed" in audit and "subscription_charged" in audit  # usage and billing included
    for place, text in (("logs and metrics", emitted), ("table", table), ("audit events", audit)):
        for secret in SECRETS:
            assert secret not in text, (place, secret)
