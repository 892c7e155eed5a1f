"""Dashboards and alarms read only metrics AWS publishes (a misspelt name graphs nothing
and never alarms, silently), and the API's deployment follows its document."""

import hashlib
import json

# Metric names per AWS namespace, as AWS documents them:
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
# https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring.html
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
# https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html
# https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-cloudwatch.html (AWS/Usage)
AWS_METRICS = {
    "AWS/Lambda": {"Invocations", "Errors", "Throttles", "Duration", "IteratorAge", "ConcurrentExecutions",
                   "UnreservedConcurrentExecutions", "ProvisionedConcurrencySpilloverInvocations",
                   "ProvisionedConcurrencyUtilization", "DeadLetterErrors", "DestinationDeliveryFailures",
                   "AsyncEventAge", "AsyncEventsDropped", "AsyncEventsReceived"},
    "AWS/ApiGateway": {"4XXError", "5XXError", "Count", "IntegrationLatency", "Latency", "CacheHitCount",
                       "CacheMissCount"},
    "AWS/Bedrock": {"Invocations", "InvocationClientErrors", "InvocationServerErrors", "InvocationThrottles",
                    "InvocationLatency", "InputTokenCount", "OutputTokenCount"},
    "AWS/DynamoDB": {"ReadThrottleEvents", "WriteThrottleEvents", "ThrottledRequests", "UserErrors", "SystemErrors",
                     "ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits", "SuccessfulRequestLatency"},
    "AWS/WAFV2": {"AllowedRequests", "BlockedRequests", "CountedRequests", "PassedRequests"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent",
                "NumberOfMessagesReceived", "NumberOfMessagesDeleted", "ApproximateNumberOfMessagesNotVisible"},
    "AWS/S3": {"BucketSizeBytes", "NumberOfObjects"},
    "AWS/Usage": {"CallCount", "ResourceCount"},
}


def _dashboard_metrics(run) -> set[tuple[str, str]]:
    used = set()
    for dashboard in run.mocks.of_type("aws:cloudwatch/dashboard:Dashboard"):
        for widget in json.loads(dashboard.inputs["dashboardBody"])["widgets"]:
            for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
                if isinstance(entry[0], str) and entry[0].startswith("AWS/"):
                    used.add((entry[0], entry[1]))
    return used


def _alarm_metrics(run) -> set[tuple[str, str]]:
    used = set()
    for alarm in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        inputs = alarm.inputs
        if inputs.get("metricName"):
            used.add((inputs["namespace"], inputs["metricName"]))
        for query in inputs.get("metricQueries") or []:
            metric = query.get("metric")
            if metric:
                used.add((metric["namespace"], metric["metricName"]))
    return {(ns, name) for ns, name in used if ns.startswith("AWS/")}


def test_dashboards_read_only_metrics_aws_publishes(stack_run):
    used = _dashboard_metrics(stack_run)
    assert {ns for ns, _ in used} >= {"AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB"}
    unknown = sorted((ns, name) for ns, name in used if name not in AWS_METRICS.get(ns, set()))
    assert not unknown, f"not published by AWS: {unknown}"


def test_alarms_read_only_metrics_aws_publishes(stack_run):
    used = _alarm_metrics(stack_run)
    assert {ns for ns, _ in used} >= {"AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB"}
    unknown = sorted((ns, name) for ns, name in used if name not in AWS_METRICS.get(ns, set()))
    assert not unknown, f"not published by AWS: {unknown}"


def test_the_deployment_is_triggered_by_the_document_it_deploys(stack_run):
    body = stack_run.mocks.one("aws:apigateway/restApi:RestApi").inputs["body"]
    triggers = stack_run.mocks.one("aws:apigateway/deployment:Deployment").inputs["triggers"]
    assert triggers["document"] == hashlib.sha256(body.encode()).hexdigest()
    assert triggers["execute_api_disabled"] == str(stack_run.settings.execute_api_disabled).lower()
