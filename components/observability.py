"""ObservabilityLayer: alarms, routing, dashboards and saved queries, generated, never hand-listed.

The definitions come from components/alarms.py (one list for the whole stack); this
layer renders them: every alarm mails the warning topic; critical alarms also feed
one composite alarm that pages through the critical topic, so an incident pages once.
The windows of a burn rate notify nobody: their AND composite does, like any alarm.
Both topics are encrypted with the storage key. Each web ACL's alarm lives where WAF
publishes its metrics (components/waf.py): CloudFront's in us-east-1, with its own topic
and key there, the stage's regional one in the stack's region. The saved Logs Insights
queries of the runbooks (components/queries.py) are query definitions over the
functions' and the API's log groups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components import alarms, dashboards, queries
from components.alarms import COMPOSITE_RULE_LIMIT, Expression, Metric, composite_rule  # noqa: F401 (re-exported)
from components.api import STAGE, ApiLayer
from components.config import Settings
from components.processing import ProcessingLayer
from components.runbooks import RUNBOOKS_PATH
from components.storage import StorageLayer, account_statement, alarms_statement
from components.waf import GLOBAL_REGION
from functions.catalog import Function

# The statistics PutMetricAlarm takes as `Statistic`; any other (p99, PR(:200), TC(...))
# is an `ExtendedStatistic`:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass(frozen=True)
class ObservabilityArgs:
    settings: Settings
    catalog: tuple[Function, ...]
    storage: StorageLayer
    processing: ProcessingLayer
    api: ApiLayer
    account_id: pulumi.Input[str]


class _AlarmSource(TypedDict, total=False):
    """What a MetricAlarm watches: one metric, or metric math over several."""

    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    period: int
    statistic: str
    extended_statistic: str
    metric_queries: Sequence[aws.cloudwatch.MetricAlarmMetricQueryArgsDict]


def _metric_args(m: Metric) -> _AlarmSource:
    args: _AlarmSource = {
        "namespace": m.namespace,
        "metric_name": m.name,
        "dimensions": dict(m.dimensions),
        "period": m.period_s,
    }
    if m.statistic in STATISTICS:
        args["statistic"] = m.statistic
    else:
        args["extended_statistic"] = m.statistic
    return args


def _query_args(source: Expression) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgsDict]:
    queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgsDict] = [
        {"id": "result", "expression": source.expression, "label": source.label, "return_data": True}
    ]
    for key, m in source.metrics.items():
        queries.append(
            {
                "id": key,
                "return_data": False,
                "metric": {
                    "namespace": m.namespace,
                    "metric_name": m.name,
                    "dimensions": dict(m.dimensions),
                    "period": m.period_s,
                    "stat": m.statistic,
                },
            }
        )
    return queries


class ObservabilityLayer(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:observability:ObservabilityLayer", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        account = pulumi.Output.from_input(args.account_id)
        self._email = s.alert_email
        if not s.alert_email:  # the alarms still fire and publish; only a subscription makes anyone hear them
            pulumi.log.warn(
                f"{s.name('critical')} and {s.name('warning')}: no serenya:alertEmail, so alarms publish "
                f"to SNS topics nobody reads; set serenya:alertEmail in Pulumi.{s.env}.yaml to be told "
                "(docs/configuration.md)",
                resource=self,
            )

        self.critical_topic = self._topic(
            f"{name}-critical", s.name("critical"), args.storage.data_key.arn, account, s.region, child
        )
        self.warning_topic = self._topic(
            f"{name}-warning", s.name("warning"), args.storage.data_key.arn, account, s.region, child
        )
        names = alarms.StackNames(
            table=s.name(),
            temp_bucket=args.storage.temp_bucket.name,
            api=s.name("api"),
            stage=STAGE,
            web_acls=args.api.acls,
            failure_queues={
                n: s.name(n, "failures") for n, f in args.processing.functions.items() if f.failure_queue is not None
            },
        )
        self.specs = alarms.all_alarms(args.catalog, s, names, detailed=s.detailed_alarms)
        self.composite_specs = alarms.composite_alarms(args.catalog, s, names, detailed=s.detailed_alarms)

        # CloudFront's web ACL reports in us-east-1: its alarm needs a topic (and key) there.
        # Each names its region (pulumi-aws 7): the stack's one provider, with its
        # credentials and allowed accounts, manages them.
        self.global_warning_topic: aws.sns.Topic | None = None
        if any(spec.region == GLOBAL_REGION for spec in self.specs):
            global_key = aws.kms.Key(
                f"{name}-alarms-us-east-1",
                description=f"Serenya {s.env}: alarm topic in us-east-1",
                enable_key_rotation=True,
                deletion_window_in_days=30 if s.deletion_protection else 7,
                policy=account.apply(lambda a: json.dumps(_alarm_topic_key_policy(a))),
                region=GLOBAL_REGION,
                opts=child,
            )
            self.global_warning_topic = self._topic(
                f"{name}-warning-us-east-1",
                s.name("warning"),
                global_key.arn,
                account,
                GLOBAL_REGION,
                child,
                pinned=True,
            )

        def dashboard(spec: alarms.AlarmSpec | alarms.CompositeSpec) -> str:
            return dashboards.dashboard_url(s, s.name(spec.dashboard))

        # A link where serenya:runbookBaseUrl says where the runbooks are published, else their path.
        runbook = s.runbook_base_url or RUNBOOKS_PATH
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec in self.specs:
            regional = spec.region is None
            topic = self.warning_topic if regional else self.global_warning_topic
            if topic is None:  # made above for us-east-1 only: another region would need its own
                raise ValueError(f"{spec.key}: no alarm topic in {spec.region}")
            # A burn rate's window notifies nobody: its composite does (components/alarms.CompositeSpec).
            actions = [] if spec.part_of else [topic.arn]
            source: _AlarmSource = (
                {"metric_queries": _query_args(spec.source)}
                if isinstance(spec.source, Expression)
                else _metric_args(spec.source)
            )
            self.alarms[spec.key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=spec.name(s),
                alarm_description=alarms.description(spec, s, dashboard(spec), runbook),
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.periods,
                datapoints_to_alarm=spec.datapoints,
                treat_missing_data=spec.missing,
                alarm_actions=actions,
                ok_actions=actions,
                tags={
                    "severity": spec.severity,
                    "runbook": spec.key,  # the section's anchor: "#" is not a tag character
                    **({"part-of": spec.part_of} if spec.part_of else {}),
                },
                **source,
                region=spec.region,  # None: the stack's region
                opts=child,
            )

        # Composites after the alarms they name, each only once those exist (CloudWatch
        # refuses a rule naming an alarm it does not know).
        self.composites: dict[str, aws.cloudwatch.CompositeAlarm] = {}
        for composite in self.composite_specs:
            topic = self.critical_topic if composite.pages else self.warning_topic
            inputs = [self.alarms.get(key) or self.composites[key] for key in composite.inputs]
            self.composites[composite.key] = aws.cloudwatch.CompositeAlarm(
                f"{name}-{composite.key}",
                alarm_name=composite.name(s),
                alarm_rule=composite.rule(s),
                alarm_description=alarms.description(composite, s, dashboard(composite), runbook),
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                # The section's anchor: "#" is not a tag character (tests/components/test_tags.py).
                tags={"severity": composite.severity, "runbook": composite.key},
                opts=pulumi.ResourceOptions(parent=self, depends_on=inputs),
            )
        self.composite = self.composites[alarms.COMPOSITE]

        # The runbooks' saved Logs Insights queries, over the log groups the program creates.
        # Named through the resources' outputs, so each definition follows its log groups.
        groups = {queries.function_log_group(s, fn): f.log_group.name for fn, f in args.processing.functions.items()}
        groups[queries.access_log_group(s)] = args.api.access_logs.name
        self.query_definitions = [
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{query.key}",
                name=query.name(s),
                query_string=query.text,
                log_group_names=[groups[group] for group in query.log_groups],
                opts=child,
            )
            for query in queries.saved_queries(args.catalog, s)
        ]

        arns = account.apply(
            lambda a: (
                [
                    (f"arn:aws:cloudwatch:{s.region}:{a}:alarm:{spec.name(s)}", spec.severity)
                    for spec in self.specs
                    if spec.region is None
                ]
                + [(f"arn:aws:cloudwatch:{s.region}:{a}:alarm:{c.name(s)}", c.severity) for c in self.composite_specs]
            )
        )
        bodies = {
            "executive": pulumi.Output.from_input(dashboards.executive(args.catalog, s, names)),
            "operations": arns.apply(lambda alarm_arns: dashboards.operations(args.catalog, s, names, alarm_arns)),
            "security": pulumi.Output.from_input(dashboards.security(args.catalog, s, names)),
        }
        self.dashboard_urls = {}
        for kind, body in bodies.items():
            aws.cloudwatch.Dashboard(
                f"{name}-{kind}", dashboard_name=s.name(kind), dashboard_body=body.apply(json.dumps), opts=child
            )
            self.dashboard_urls[kind] = dashboards.dashboard_url(s, s.name(kind))

        self.register_outputs(
            {
                "dashboards": self.dashboard_urls,
                "critical_topic": self.critical_topic.arn,
                "warning_topic": self.warning_topic.arn,
            }
        )

    def _topic(
        self,
        resource: str,
        topic_name: str,
        key_arn: pulumi.Input[str],
        account: pulumi.Output,
        region: str,
        opts: pulumi.ResourceOptions,
        pinned: bool = False,
    ) -> aws.sns.Topic:
        where = region if pinned else None  # outside the stack's region: named on each resource
        topic = aws.sns.Topic(resource, name=topic_name, kms_master_key_id=key_arn, region=where, opts=opts)
        aws.sns.TopicPolicy(
            resource,
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account).apply(lambda v: json.dumps(_topic_policy(v[0], v[1], region))),
            region=where,
            opts=opts,
        )
        if self._email:
            aws.sns.TopicSubscription(
                resource, topic=topic.arn, protocol="email", endpoint=self._email, region=where, opts=opts
            )
        return topic


def _topic_policy(topic_arn: str, account: str, region: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThisAccountsAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:*"},
                },
            }
        ],
    }


def _alarm_topic_key_policy(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [account_statement(account), alarms_statement(account)]}
