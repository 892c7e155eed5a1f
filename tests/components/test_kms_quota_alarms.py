"""One KMS quota alarm per quota the program's calls count against, under both stacks' mocks.

AWS rules asserted here, with their sources:
- KMS request quotas (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html):
  "Cryptographic operations (symmetric) request rate" is shared by Decrypt, Encrypt,
  GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateMac, GenerateRandom, ReEncrypt
  and VerifyMac, and "applies to cryptographic operations with symmetric encryption keys
  and HMAC keys, which are also symmetric" (lowest regional default "10,000 (shared)");
  "Cryptographic operations (ECC and SM2)" is shared by Sign and Verify (and
  DeriveSharedSecret) on ECC keys; "GetPublicKey request rate" is a quota of its own.
- Usage: AWS/Usage CallCount with Service KMS, Type API, Resource the operation, Class None
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Usage-Metrics.html);
  SERVICE_QUOTA takes such a usage metric (metric math functions:
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html), and
  the usage metrics of the operations that share a quota are summed against it (AWS Security
  Blog: https://aws.amazon.com/blogs/security/manage-your-aws-kms-api-request-rates-using-service-quotas-and-amazon-cloudwatch/).
"""

import re

from local import metric_math

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# The shared quotas of the operations the program calls (functions/common crypto, users,
# tokens; S3, DynamoDB and Secrets Manager call Decrypt and GenerateDataKey on its behalf).
SHARED = ({"Decrypt", "GenerateDataKey", "GenerateMac"}, {"Sign"}, {"GetPublicKey"})


def alarms_of(run):
    return {a.inputs["name"]: a.inputs for a in run.mocks.of_type(ALARM)}


def kms_alarms(run):
    return {n: a for n, a in alarms_of(run).items() if "-kms-" in n}


def operations(alarm) -> set[str]:
    return {q["metric"]["dimensions"]["Resource"] for q in alarm["metricQueries"] if q.get("metric")}


def test_one_kms_alarm_per_quota_summing_the_operations_that_share_it(stack_run):
    found = kms_alarms(stack_run)
    assert sorted(map(frozenset, (operations(a) for a in found.values())), key=len) == \
        sorted(map(frozenset, SHARED), key=len)
    for name, alarm in found.items():
        queries = alarm["metricQueries"]
        (result,) = [q for q in queries if q.get("returnData")]
        metrics = {q["id"]: q["metric"] for q in queries if q.get("metric")}
        for metric in metrics.values():
            assert (metric["namespace"], metric["metricName"], metric["stat"]) == ("AWS/Usage", "CallCount", "Sum")
            assert {k: v for k, v in metric["dimensions"].items() if k != "Resource"} == \
                {"Service": "KMS", "Type": "API", "Class": "None"}
        summed = re.search(r"SUM\(\[(.*?)\]\)", result["expression"])[1]
        assert set(re.findall(r"m_\w+", summed)) == set(metrics), name  # every operation of the quota
        (quota_of,) = re.findall(r"SERVICE_QUOTA\((\w+)\)", result["expression"])
        assert quota_of in metrics, name  # a usage metric, not an expression
        assert "MAX" not in result["expression"]


def test_the_local_evaluator_sums_a_shared_quota_the_way_cloudwatch_does(stack_run):
    """Three operations each at 40% of the symmetric quota are 120% of it together: the
    alarm breaches (taking the busiest one alone, 40%, would not)."""
    alarm = next(a for n, a in kms_alarms(stack_run).items() if n.endswith("-kms-symmetric-quota"))
    (result,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
    ids = [q["id"] for q in alarm["metricQueries"] if q.get("metric")]
    quota = 10_000  # the symmetric quota's lowest regional default, "10,000 (shared)"
    per_minute = 0.4 * quota * 60
    value = metric_math.evaluate(metric_math.parse(result["expression"]), [0.0],
                                 lambda i: {0.0: per_minute}, ids, period_of=lambda _: 60,
                                 quota_of=lambda i: quota if i in ids else None)
    assert round(value.points[0.0]) == 120 > alarm["threshold"]


def test_the_local_stack_knows_the_quota_of_every_operation_the_alarms_read(stack_run):
    """The local alarm engine answers SERVICE_QUOTA with each quota's lowest regional default
    (AWS's real one is unknowable offline): 10,000 shared symmetric, 1,000 shared ECC, 2,000
    GetPublicKey (request quotas page above), so every KMS alarm evaluates locally."""
    from local.metric_store import MetricStat
    from local.server import _service_quota

    defaults = {"Decrypt": 10_000, "GenerateDataKey": 10_000, "GenerateMac": 10_000, "Sign": 1_000,
                "GetPublicKey": 2_000}
    for alarm in kms_alarms(stack_run).values():
        for query in alarm["metricQueries"]:
            if query.get("metric"):
                m = query["metric"]
                stat = MetricStat(m["namespace"], m["metricName"], dict(m["dimensions"]), m["stat"],
                                  m["period"])
                assert _service_quota(stat) == defaults[m["dimensions"]["Resource"]]


def test_the_kms_calls_widget_tells_the_operations_apart(stack_run):
    """Every line of the widget is the same metric, CallCount: without a label of its own each
    legend would read "CallCount"."""
    import json

    body = json.loads(stack_run.mocks.one("aws:cloudwatch/dashboard:Dashboard", "-security").inputs["dashboardBody"])
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title") == "KMS calls per minute"]
    lines = widget["properties"]["metrics"]
    labels = [next((x["label"] for x in entry if isinstance(x, dict) and "label" in x), None) for entry in lines]
    operations = [dict(zip(entry[2::2], entry[3::2]))["Resource"] for entry in lines]
    assert len(set(labels)) == len(labels) == len(set().union(*SHARED))
    assert all(label.startswith(op) for label, op in zip(labels, operations))
