"""The WAF alarms watch metrics AWS publishes, under both stacks' mocks.

AWS rules asserted here, with their sources:
- WAF: metrics in AWS/WAFV2; the `WebACL` dimension's value is the ACL's
  VisibilityConfig.MetricName ("A name of the CloudWatch metric dimension",
  https://docs.aws.amazon.com/waf/latest/APIReference/API_VisibilityConfig.html);
  CloudFront-scope ACLs publish in us-east-1 without `Region`, regional ones in their
  region with `Region` (https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html).
"""

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarms_of(run):
    return {a.inputs["name"]: a.inputs for a in run.mocks.of_type(ALARM)}


def test_each_waf_alarm_reads_its_acls_metric_name_in_the_acls_region(stack_run):
    env, found = stack_run.settings.env, alarms_of(stack_run)
    acls = stack_run.mocks.of_type("aws:wafv2/webAcl:WebAcl")
    assert {a.inputs["scope"] for a in acls} == {"CLOUDFRONT", "REGIONAL"}
    for acl in acls:
        regional = acl.inputs["scope"] == "REGIONAL"
        alarm = found[f"serenya-{env}-waf{'-regional' if regional else ''}-blocked"]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/WAFV2", "BlockedRequests")
        expected = {"WebACL": acl.inputs["visibilityConfig"]["metricName"], "Rule": "ALL"}
        assert alarm["dimensions"] == ({**expected, "Region": stack_run.settings.region} if regional else expected)
        assert alarm["dimensions"]["WebACL"] != acl.inputs["name"]  # the ACL's name is not a dimension value
        assert alarm.get("region") == (None if regional else "us-east-1") == acl.inputs.get("region")


def test_the_security_dashboard_graphs_each_acl_where_its_metrics_are(stack_run):
    import json

    body = json.loads(stack_run.mocks.one("aws:cloudwatch/dashboard:Dashboard", "-security").inputs["dashboardBody"])
    graphs = {w["properties"]["region"]: w["properties"]["metrics"] for w in body["widgets"]
              if w["type"] == "metric" and w["properties"]["title"].startswith("WAF")}
    for acl in stack_run.mocks.of_type("aws:wafv2/webAcl:WebAcl"):
        region = acl.inputs.get("region") or stack_run.settings.region
        dims = dict(zip(graphs[region][0][2::2], graphs[region][0][3::2]))
        assert dims["WebACL"] == acl.inputs["visibilityConfig"]["metricName"]
        assert ("Region" in dims) is (acl.inputs["scope"] == "REGIONAL")
