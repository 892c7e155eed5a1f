"""ObservabilityLayer: alarms, routing and dashboards, generated, never hand-listed.

The definitions come from components/alarms.py (one list for the whole stack); this
layer renders them: every alarm mails the warning topic; critical alarms also feed
one composite alarm that pages through the critical topic, so an incident pages once.
Both topics are encrypted with the storage key. The WAF alarm lives in us-east-1 with
CloudFront's WAF metrics, with its own topic and key there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import alarms, dashboards
from components.alarms import Expression, Metric
from components.api import GLOBAL_REGION, STAGE, ApiLayer
from components.config import Settings
from components.processing import ProcessingLayer
from components.runbooks import COMPOSITE, RUNBOOKS_PATH
from components.storage import StorageLayer, account_statement, alarms_statement
from functions.catalog import Function

COMPOSITE_RULE_LIMIT = 10_240


@dataclass(frozen=True)
class ObservabilityArgs:
    settings: Settings
    catalog: tuple[Function, ...]
    storage: StorageLayer
    processing: ProcessingLayer
    api: ApiLayer
    account_id: pulumi.Input[str]


def _metric_args(m: Metric) -> dict:
    args = {"namespace": m.namespace, "metric_name": m.name, "dimensions": dict(m.dimensions), "period": m.period_s}
    args["extended_statistic" if m.statistic.startswith("p") else "statistic"] = m.statistic
    return args


def _query_args(source: Expression) -> list[dict]:
    queries = [{"id": "result", "expression": source.expression, "label": source.label, "return_data": True}]
    for key, m in source.metrics.items():
        queries.append({"id": key, "return_data": False, "metric": {
            "namespace": m.namespace, "metric_name": m.name, "dimensions": dict(m.dimensions),
            "period": m.period_s, "stat": m.statistic}})
    return queries


class ObservabilityLayer(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("serenya:observability:ObservabilityLayer", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        account = pulumi.Output.from_input(args.account_id)
        self._email = s.alert_email

        self.critical_topic = self._topic(f"{name}-critical", s.name("critical"), args.storage.data_key.arn,
                                          account, s.region, child)
        self.warning_topic = self._topic(f"{name}-warning", s.name("warning"), args.storage.data_key.arn,
                                         account, s.region, child)
        names = alarms.StackNames(
            table=s.name(), temp_bucket=args.storage.temp_bucket.name, api=s.name("api"), stage=STAGE,
            web_acl=s.name("api") if s.cloudfront else None,
            failure_queues={n: s.name(n, "failures") for n, f in args.processing.functions.items()
                            if f.failure_queue is not None})
        self.specs = alarms.all_alarms(args.catalog, s, names, detailed=s.detailed_alarms)

        # CloudFront's WAF reports in us-east-1: its alarm needs a topic (and key) there.
        # Each names its region (pulumi-aws 7): the stack's one provider, with its
        # credentials and allowed accounts, manages them.
        self.global_warning_topic = None
        if any(spec.region == GLOBAL_REGION for spec in self.specs):
            global_key = aws.kms.Key(
                f"{name}-alarms-us-east-1", description=f"Serenya {s.env}: alarm topic in us-east-1",
                enable_key_rotation=True, deletion_window_in_days=30 if s.deletion_protection else 7,
                policy=account.apply(lambda a: json.dumps(_alarm_topic_key_policy(a))),
                region=GLOBAL_REGION, opts=child)
            self.global_warning_topic = self._topic(f"{name}-warning-us-east-1", s.name("warning"), global_key.arn,
                                                    account, GLOBAL_REGION, child, pinned=True)
        operations_url = dashboards.dashboard_url(s, s.name("operations"))

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec in self.specs:
            regional = spec.region is None
            topic = self.warning_topic if regional else self.global_warning_topic
            source = {"metric_queries": _query_args(spec.source)} if isinstance(spec.source, Expression) \
                else _metric_args(spec.source)
            self.alarms[spec.key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=spec.name(s),
                alarm_description=alarms.description(spec, s, operations_url, RUNBOOKS_PATH),
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.periods,
                datapoints_to_alarm=spec.datapoints,
                treat_missing_data=spec.missing,
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                tags={"severity": spec.severity, "runbook": f"{RUNBOOKS_PATH}#{spec.key}"},
                **source,
                **({} if regional else {"region": spec.region}),
                opts=child)

        critical = [spec for spec in self.specs if spec.severity == alarms.CRITICAL and spec.region is None]
        self.composite = aws.cloudwatch.CompositeAlarm(
            f"{name}-{COMPOSITE}",
            alarm_name=s.name(COMPOSITE),
            alarm_rule=composite_rule([spec.name(s) for spec in critical]),
            alarm_description=(f"[PAGE] Serenya {s.env} is degraded: a critical alarm fired. Open the operations "
                               f"dashboard ({operations_url}), find the critical alarm in ALARM and follow its "
                               f"runbook section. Runbook: {RUNBOOKS_PATH}#{COMPOSITE}"),
            alarm_actions=[self.critical_topic.arn],
            ok_actions=[self.critical_topic.arn],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.alarms[c.key] for c in critical]))

        arns = account.apply(lambda a: [f"arn:aws:cloudwatch:{s.region}:{a}:alarm:{spec.name(s)}"
                                        for spec in self.specs if spec.region is None]
                             + [f"arn:aws:cloudwatch:{s.region}:{a}:alarm:{s.name(COMPOSITE)}"])
        bodies = {
            "executive": pulumi.Output.from_input(dashboards.executive(args.catalog, s)),
            "operations": arns.apply(lambda alarm_arns: dashboards.operations(args.catalog, s, names, alarm_arns)),
            "security": pulumi.Output.from_input(dashboards.security(args.catalog, s, names)),
        }
        self.dashboard_urls = {}
        for kind, body in bodies.items():
            aws.cloudwatch.Dashboard(f"{name}-{kind}", dashboard_name=s.name(kind),
                                     dashboard_body=body.apply(json.dumps), opts=child)
            self.dashboard_urls[kind] = dashboards.dashboard_url(s, s.name(kind))

        self.register_outputs({"dashboards": self.dashboard_urls, "critical_topic": self.critical_topic.arn,
                               "warning_topic": self.warning_topic.arn})

    def _topic(self, resource: str, topic_name: str, key_arn: pulumi.Input[str], account: pulumi.Output,
               region: str, opts: pulumi.ResourceOptions, pinned: bool = False) -> aws.sns.Topic:
        where = {"region": region} if pinned else {}  # outside the stack's region: named on each resource
        topic = aws.sns.Topic(resource, name=topic_name, kms_master_key_id=key_arn, **where, opts=opts)
        aws.sns.TopicPolicy(resource, arn=topic.arn, policy=pulumi.Output.all(topic.arn, account).apply(
            lambda v: json.dumps(_topic_policy(v[0], v[1], region))), **where, opts=opts)
        if self._email:
            aws.sns.TopicSubscription(resource, topic=topic.arn, protocol="email", endpoint=self._email,
                                      **where, opts=opts)
        return topic


def composite_rule(alarm_names: list[str]) -> str:
    rule = " OR ".join(f'ALARM("{n}")' for n in alarm_names)
    if len(rule) > COMPOSITE_RULE_LIMIT:
        raise ValueError(f"composite alarm rule is {len(rule)} characters, over CloudWatch's {COMPOSITE_RULE_LIMIT}")
    return rule


def _topic_policy(topic_arn: str, account: str, region: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "ThisAccountsAlarmsPublish", "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": topic_arn,
        "Condition": {"StringEquals": {"aws:SourceAccount": account},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:*"}}}]}


def _alarm_topic_key_policy(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [account_statement(account), alarms_statement(account)]}
