"""What an alarm is, as data: a metric or metric-math source, the metric alarm over it
(`AlarmSpec`), the composite alarm over other alarms' states (`CompositeSpec`), and the
stack's physical names they watch. Pure Python, no Pulumi: the builders
(components/alarm_builders.py, components/slo.py) make them, components/observability.py
renders them as CloudWatch alarms, components/runbooks.py as docs/runbooks.md, and the
local stack evaluates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from components.config import Settings
from components.runbook_text import Playbook
from components.waf import WebAcl

if TYPE_CHECKING:
    import pulumi

CRITICAL, WARNING = "critical", "warning"
NAMESPACE = "Serenya"  # the functions' POWERTOOLS_METRICS_NAMESPACE (components/processing.py)
MINUTE, HOUR, DAY = 60, 3600, 86_400
FIVE_MINUTES = 5 * MINUTE
DESCRIPTION_LIMIT = 1024  # CloudWatch's limit for an alarm description
COMPOSITE = "service-degraded"  # the stack's one paging alarm (key of its CompositeSpec)
# Saved Logs Insights queries (components/queries.py) an alarm's runbook section offers.
ERRORS_BY_REQUEST, SLOWEST_REQUESTS, USER_REQUESTS, JOB_STORY = (
    "errors-by-request",
    "slowest-requests",
    "user-requests",
    "job-story",
)
# A physical name an alarm watches: a string, or in the program a Pulumi Output of one (the
# temp bucket's name ends in the account id), which Pulumi resolves in the alarm's inputs.
# The runbooks and the local stack only ever hold strings.
Name = Union[str, "pulumi.Output[str]"]


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, Name]
    statistic: str = "Sum"  # Sum, Average, Maximum, p99...
    period_s: int = FIVE_MINUTES
    region: str | None = None  # a metric published in another region (WAF for CloudFront)


@dataclass(frozen=True)
class Expression:
    """Metric math over named metrics, e.g. 100 * errors / invocations."""

    expression: str
    metrics: Mapping[str, Metric]
    label: str


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch metric alarm: `source` compared with `threshold`, `datapoints` out of
    `periods` periods (each the source's `period_s`) breaching."""

    resource: str  # what it watches: a function name, "api", "table", "bedrock"...
    signal: str  # what about it: errors, throttles, duration-p99...
    title: str  # one line for humans
    source: Metric | Expression
    threshold: float
    impact: str
    checks: tuple[str, str, str]
    severity: str = WARNING
    comparison: str = "GreaterThanThreshold"
    periods: int = 1
    datapoints: int = 1
    missing: str = "notBreaching"
    detailed: bool = False  # only where the stack turns detailed alarms on
    region: str | None = None
    # The key of the CompositeSpec this alarm is an input of (one window of a burn rate):
    # it notifies nobody by itself and never feeds the paging alarm directly; the composite does.
    part_of: str | None = None
    dashboard: str = "operations"  # executive, operations or security: linked from description and runbook
    queries: tuple[str, ...] = ()  # saved Logs Insights queries its runbook section offers (components/queries.py)
    procedures: tuple[str, ...] = ()  # procedures its runbook section spells out (components/procedures.py)
    playbook: Playbook | None = None  # every critical alarm's: its runbook, cause by cause

    @property
    def key(self) -> str:
        return f"{self.resource}-{self.signal}"

    def name(self, settings: Settings) -> str:
        return settings.name(self.resource, self.signal)


@dataclass(frozen=True)
class CompositeSpec:
    """One CloudWatch composite alarm: in ALARM when its rule over other alarms' states holds.

    The rule joins ALARM("<name>") of every input (the keys of AlarmSpecs or of composites
    listed before it) with one `operator`: AND (all at once: a burn rate's long and short
    window) or OR (any: the paging alarm). `rule()` renders it in CloudWatch's composite
    grammar (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html).
    Severity works as for metric alarms: every composite mails the warning topic, a critical
    one also feeds the paging composite, and the paging composite (`pages`) alone notifies
    the critical topic."""

    resource: str
    signal: str
    title: str
    inputs: tuple[str, ...]
    operator: str  # "AND" or "OR"
    impact: str
    checks: tuple[str, str, str]
    severity: str = WARNING
    pages: bool = False
    dashboard: str = "operations"
    queries: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()
    playbook: Playbook | None = None

    @property
    def key(self) -> str:
        return f"{self.resource}-{self.signal}"

    def name(self, settings: Settings) -> str:
        return settings.name(self.resource, self.signal)

    def rule(self, settings: Settings) -> str:
        return composite_rule([settings.name(key) for key in self.inputs], self.operator)


COMPOSITE_RULE_LIMIT = 10_240  # characters: PutCompositeAlarm's AlarmRule


def composite_rule(alarm_names: list[str], operator: str = "OR") -> str:
    if operator not in ("AND", "OR") or not alarm_names:
        raise ValueError(f"a composite rule joins at least one alarm with AND or OR, not {operator!r}")
    rule = f" {operator} ".join(f'ALARM("{n}")' for n in alarm_names)
    if len(rule) > COMPOSITE_RULE_LIMIT:
        raise ValueError(f"composite alarm rule is {len(rule)} characters, over CloudWatch's {COMPOSITE_RULE_LIMIT}")
    return rule


@dataclass(frozen=True)
class StackNames:
    """Physical names the alarms watch (strings, but for the temp bucket's in the program: `Name`)."""

    table: str
    temp_bucket: Name
    api: str
    stage: str
    web_acls: tuple[WebAcl, ...] = ()  # components/waf.web_acls: CloudFront's, the stage's
    failure_queues: Mapping[str, str] = field(default_factory=dict)  # function -> queue name
