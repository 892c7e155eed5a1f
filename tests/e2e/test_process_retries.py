"""The process function's S3 failures reach Lambda's retries and its dead-letter queue in
the local stack too: as many attempts as the program's FunctionEventInvokeConfig allows
(the catalog's S3Trigger.retries), one request id across them (the job's claim is keyed by
it), then the event in the queue the function's DeadLetterConfig names.
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"""

import json
import threading

import boto3
import requests
from botocore.awsrequest import AWSResponse

from local.runtime import current_function
from tests.fixtures.lab_reports import LIPIDS


def test_an_s3_failure_of_process_is_retried_then_dead_lettered(client, stack):
    token = client.onboard("google", "dana-s3-failure")[1]["access_token"]
    physical = stack.program.outputs["functions"]["process"]
    config = next(c.inputs for c in stack.program.mocks.of_type(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig") if c.inputs["functionName"] == physical)
    dlq_arn = next(f.inputs["deadLetterConfig"]["targetArn"] for f in stack.program.mocks.of_type(
        "aws:lambda/function:Function") if f.inputs["name"] == physical)
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
                       aws_access_key_id="local", aws_secret_access_key="local")
    queue = sqs.get_queue_url(QueueName=dlq_arn.rsplit(":", 1)[-1])["QueueUrl"]

    failed_reads, lock, job = [], threading.Lock(), {}

    def s3_fails(params, **_):
        """S3 answers 500 InternalError to process's GET of this job's upload (`params`:
        the request as serialised, the key in its path)."""
        if current_function() == "process" and job and params["url_path"].endswith(f"/incoming/{job['id']}"):
            with lock:
                failed_reads.append(params["url_path"])
            return (AWSResponse("https://s3", 500, {}, None),
                    {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"},
                     "ResponseMetadata": {"HTTPStatusCode": 500}})

    s3 = stack.functions.module("process", "functions.common.aws").client("s3")  # the function's own client
    s3.meta.events.register_first("before-call.s3.GetObject", s3_fails)
    try:
        status, ticket = client.call("POST", "/api/v1/process/upload",
                                     {"content_type": "application/pdf", "file_size": len(LIPIDS.pdf())}, token=token)
        job["id"] = ticket["job_id"]
        response = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                                 files={"file": ("report", LIPIDS.pdf(), "application/pdf")}, timeout=10)
        assert response.status_code == 204
        messages = []
        for _ in range(10):  # bounded: each receive waits at most 2 s for the dispatcher
            messages = [m for m in sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                MessageAttributeNames=["All"]).get("Messages", [])
                if json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"] == f"incoming/{job['id']}"]
            if messages:
                break
    finally:
        s3.meta.events.unregister("before-call.s3.GetObject", s3_fails)
    assert len(messages) == 1, "the event never reached the dead-letter queue"
    assert len(failed_reads) == 1 + config["maximumRetryAttempts"]
    # A dead-letter queue gets the S3 notification itself, unchanged, and the failure in
    # the RequestID, ErrorCode and ErrorMessage attributes; no destination-style record.
    event, attributes = json.loads(messages[0]["Body"]), messages[0]["MessageAttributes"]
    assert set(event) == {"Records"} and event["Records"][0]["eventSource"] == "aws:s3"
    assert set(attributes) == {"RequestID", "ErrorCode", "ErrorMessage"}
    assert attributes["ErrorCode"]["DataType"] == "Number"
    assert "InternalError" in attributes["ErrorMessage"]["StringValue"]
    # The request id the job's claim was keyed by: a redrive with it is recognised.
    assert attributes["RequestID"]["StringValue"]
