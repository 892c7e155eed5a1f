"""Every metric of an AWS namespace that the stacks' alarms and dashboards read is one AWS
documents, with dimension names it is published with (tests/aws_metrics.py, from the AWS
pages it cites). A misspelt metric or dimension makes an alarm that never fires and a
dashboard graph that stays empty, silently: CloudWatch accepts any name."""

import json
import re

from tests import aws_metrics


def alarm_metrics(run) -> list[tuple[str, str, str, tuple[str, ...]]]:
    found = []
    for alarm in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        i = alarm.inputs
        if i.get("metricName"):
            found.append((f"alarm {i['name']}", i["namespace"], i["metricName"], tuple(i.get("dimensions") or {})))
        for query in i.get("metricQueries") or []:
            m = (query.get("metric") or {})
            if m:
                found.append((f"alarm {i['name']} ({query['id']})", m["namespace"], m["metricName"],
                              tuple(m.get("dimensions") or {})))
    return found


def dashboard_metrics(run) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Metric entries ([namespace, name, dim, value, ..., {options}]) and SEARCH
    expressions of the generated dashboard bodies."""
    found = []
    for dashboard in run.mocks.of_type("aws:cloudwatch/dashboard:Dashboard"):
        body = json.loads(dashboard.inputs["dashboardBody"])
        for widget in body["widgets"]:
            if widget["type"] != "metric":
                continue
            where = f"dashboard {dashboard.inputs['dashboardName']}: {widget['properties'].get('title')}"
            previous: list = []
            for entry in widget["properties"].get("metrics", []):
                plain = [x for x in entry if not isinstance(x, dict)]
                if plain and isinstance(plain[0], str):
                    # "..." and "." repeat the previous entry's values (CloudWatch's shorthand).
                    plain = [prev if x == "." else x for x, prev in zip(plain, previous + [None] * len(plain))]
                    if plain[0] == "...":
                        plain = previous[:len(previous) - (len(plain) - 1)] + plain[1:]
                    previous = plain
                    found.append((where, plain[0], plain[1], tuple(plain[2::2])))
                for option in (x for x in entry if isinstance(x, dict)):
                    for match in re.finditer(r"\{(AWS/[^,}]+)((?:,[^}]*)?)\}\s+MetricName=\"([^\"]+)\"",
                                             option.get("expression", "")):
                        dims = tuple(d.strip() for d in match[2].split(",") if d.strip())
                        found.append((where + " (SEARCH)", match[1], match[3], dims))
    return found


def aws_namespace_problems(metrics) -> list[str]:
    return [f"{where}: {p}" for where, ns, name, dims in metrics if ns.startswith("AWS/")
            for p in aws_metrics.problems(ns, name, dims)]


def test_every_table_entry_cites_its_aws_page():
    for namespace, entry in aws_metrics.NAMESPACES.items():
        assert entry["url"].startswith("https://docs.aws.amazon.com/"), namespace
        assert entry["metrics"] and entry["dimensions"], namespace


def test_alarm_metrics_are_documented_by_aws(stack_run):
    metrics = alarm_metrics(stack_run)
    assert {ns for _, ns, _, _ in metrics} >= {"AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB", "AWS/Bedrock",
                                               "AWS/SQS", "AWS/Usage", "AWS/S3", "AWS/WAFV2"}
    assert not aws_namespace_problems(metrics), "\n".join(aws_namespace_problems(metrics))


def test_dashboard_metrics_are_documented_by_aws(stack_run):
    metrics = dashboard_metrics(stack_run)
    assert {ns for _, ns, _, _ in metrics} >= {"AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB", "AWS/Bedrock",
                                               "AWS/Usage", "AWS/WAFV2"}
    assert not aws_namespace_problems(metrics), "\n".join(aws_namespace_problems(metrics))


def test_the_check_catches_a_misspelt_metric_or_dimension():
    assert not aws_metrics.problems("AWS/Lambda", "Errors", ("FunctionName",))
    assert aws_metrics.problems("AWS/Lambda", "Error", ("FunctionName",))           # metric typo
    assert aws_metrics.problems("AWS/Lambda", "Errors", ("Function",))              # dimension typo
    assert aws_metrics.problems("AWS/ApiGateway", "5xxError", ("ApiName", "Stage"))  # case matters
    assert aws_metrics.problems("AWS/DynamoDB", "UserErrors", ("TableName",))       # account-level only
    assert aws_metrics.problems("AWS/WAFV2", "BlockedRequests", ("WebACL",))        # needs Rule
    assert not aws_metrics.problems("AWS/WAFV2", "BlockedRequests", ("Region", "WebACL", "Rule"))  # a regional ACL
    assert aws_metrics.problems("AWS/Lamda", "Errors", ("FunctionName",))           # namespace typo
