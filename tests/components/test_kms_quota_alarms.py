"""One KMS quota alarm per quota the program's calls count against, under both stacks' mocks.

AWS rules asserted here, with their sources:
- KMS request quotas (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html):
  "Cryptographic operations (symmetric) request rate" is shared by Decrypt, Encrypt,
  GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateMac, GenerateRandom, ReEncrypt
  and VerifyMac, and "applies to cryptographic operations with symmetric encryption keys
  and HMAC keys, which are also symmetric" (lowest regional default "10,000 (shared)");
  "Cryptographic operations (ECC and SM2)" is shared by Sign and Verify (and
  DeriveSharedSecret) on ECC keys; "GetPublicKey request rate" is a quota of its own.
- Usage: AWS/Usage CallCount with Service KMS, Type API, Class None and Resource the
  shared quota's name, CryptographicOperationsSymmetric or CryptographicOperationsEcc (KMS
  publishes no per-operation metric of Decrypt or Sign), or the operation's own name outside
  a shared quota (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Usage-Metrics.html;
  the names as live accounts list them, e.g. the AWS Security Blog's "Manage your AWS KMS API
  request rates using Service Quotas and Amazon CloudWatch"); SERVICE_QUOTA takes that usage
  metric (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
"""

import re

import pytest

from local import metric_math

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# The quotas the program's calls count against, by their usage metric's Resource.
RESOURCES = {"CryptographicOperationsSymmetric", "CryptographicOperationsEcc", "GetPublicKey"}


def alarms_of(run):
    return {a.inputs["name"]: a.inputs for a in run.mocks.of_type(ALARM)}


def kms_alarms(run):
    return {n: a for n, a in alarms_of(run).items() if "-kms-" in n}


def resources(alarm) -> set[str]:
    return {q["metric"]["dimensions"]["Resource"] for q in alarm["metricQueries"] if q.get("metric")}


def test_one_kms_alarm_per_quota_on_the_quotas_own_usage_metric(stack_run):
    found = kms_alarms(stack_run)
    assert sorted(r for a in found.values() for r in resources(a)) == sorted(RESOURCES)
    for name, alarm in found.items():
        queries = alarm["metricQueries"]
        (result,) = [q for q in queries if q.get("returnData")]
        (metric_id, metric), = [(q["id"], q["metric"]) for q in queries if q.get("metric")]
        assert (metric["namespace"], metric["metricName"], metric["stat"]) == ("AWS/Usage", "CallCount", "Sum")
        assert {k: v for k, v in metric["dimensions"].items() if k != "Resource"} == \
            {"Service": "KMS", "Type": "API", "Class": "None"}
        (quota_of,) = re.findall(r"SERVICE_QUOTA\((\w+)\)", result["expression"])
        assert quota_of == metric_id, name  # a usage metric, not an expression
        assert "MAX" not in result["expression"]


def test_no_kms_alarm_reads_a_per_operation_metric_of_a_shared_quota(stack_run):
    """Decrypt, GenerateDataKey, GenerateMac and Sign count against shared quotas: KMS
    publishes their usage under the quota's name only, so a Resource=Decrypt alarm would
    watch a metric that never exists."""
    shared = {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateMac", "Sign", "Verify"}
    for alarm in kms_alarms(stack_run).values():
        assert not resources(alarm) & shared


def test_the_local_evaluator_reads_a_shared_quota_the_way_cloudwatch_does(stack_run):
    """The symmetric quota's metric at 120% of the quota breaches; at 40% it does not."""
    alarm = next(a for n, a in kms_alarms(stack_run).items() if n.endswith("-kms-symmetric-quota"))
    (result,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
    ids = [q["id"] for q in alarm["metricQueries"] if q.get("metric")]
    quota = 10_000  # the symmetric quota's lowest regional default, "10,000 (shared)"
    for share, breaching in ((1.2, True), (0.4, False)):
        value = metric_math.evaluate(metric_math.parse(result["expression"]), [0.0],
                                     lambda i, s=share: {0.0: s * quota * 60}, ids, period_of=lambda _: 60,
                                     quota_of=lambda i: quota if i in ids else None)
        assert (value.points[0.0] > alarm["threshold"]) is breaching


def test_the_local_stack_knows_the_quota_of_every_usage_metric_the_alarms_read(stack_run):
    """The local alarm engine answers SERVICE_QUOTA with each quota's lowest regional default
    (AWS's real one is unknowable offline): 10,000 shared symmetric, 1,000 shared ECC, 2,000
    GetPublicKey (request quotas page above), so every KMS alarm evaluates locally."""
    from local.metric_store import MetricStat
    from local.plugins.observability import service_quota

    defaults = {"CryptographicOperationsSymmetric": 10_000, "CryptographicOperationsEcc": 1_000,
                "GetPublicKey": 2_000}
    for alarm in kms_alarms(stack_run).values():
        for query in alarm["metricQueries"]:
            if query.get("metric"):
                m = query["metric"]
                stat = MetricStat(m["namespace"], m["metricName"], dict(m["dimensions"]), m["stat"],
                                  m["period"])
                assert service_quota(stat) == defaults[m["dimensions"]["Resource"]]


@pytest.mark.parametrize("operation, resource", [("Decrypt", "CryptographicOperationsSymmetric"),
                                                 ("GenerateMac", "CryptographicOperationsSymmetric"),
                                                 ("Sign", "CryptographicOperationsEcc"),
                                                 ("GetPublicKey", "GetPublicKey")])
def test_the_local_stack_publishes_kms_usage_as_kms_does(operation, resource):
    from local.runtime import acting_as
    from local.telemetry import Telemetry

    class Store:
        puts = []

        def put(self, *args, **_):
            self.puts.append(args)

    class Model:
        name = operation

    store = Store()
    telemetry = Telemetry.__new__(Telemetry)
    telemetry.store = store
    with acting_as("process"):
        telemetry._kms(Model())
    (put,) = store.puts
    assert put[:3] == ("AWS/Usage", "CallCount", {"Service": "KMS", "Type": "API", "Resource": resource,
                                                  "Class": "None"})


def test_the_kms_calls_widget_tells_the_quotas_apart(stack_run):
    """Every line of the widget is the same metric, CallCount: without a label of its own each
    legend would read "CallCount"."""
    import json

    body = json.loads(stack_run.mocks.one("aws:cloudwatch/dashboard:Dashboard", "-security").inputs["dashboardBody"])
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title") == "KMS calls per minute"]
    lines = widget["properties"]["metrics"]
    labels = [next((x["label"] for x in entry if isinstance(x, dict) and "label" in x), None) for entry in lines]
    assert len(set(labels)) == len(labels) == len(RESOURCES)
    assert {dict(zip(entry[2::2], entry[3::2]))["Resource"] for entry in lines} == RESOURCES
