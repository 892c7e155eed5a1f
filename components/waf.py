"""The web ACLs in front of the API, as data: one rule definition, rendered per scope.

A stack has a CLOUDFRONT-scope ACL on the distribution (in us-east-1) when CloudFront is
on, and a REGIONAL ACL on the API Gateway stage whenever the execute-api endpoint is on
(no custom domain): that endpoint would otherwise reach the stage without any WAF. Both
carry the same managed rule groups, count-only overrides and per-IP rate rule, taken
from `rules()`, so the two cannot drift. Pure Python: api.py renders the ACLs from it,
and alarms.py and dashboards.py read the metric dimensions from the same `WebAcl`s.

WAF publishes its metrics in AWS/WAFV2 with the ACL's `VisibilityConfig.MetricName` as
the value of the `WebACL` dimension (not the ACL's name); CloudFront-scope ACLs publish in
us-east-1 without a `Region` dimension, regional ones in their region with one:
https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.config import Settings

if TYPE_CHECKING:  # pulumi-aws's argument types, for the checker only: the module stays pure Python
    from pulumi_aws.wafv2 import (
        WebAclRuleArgsDict,
        WebAclRuleStatementManagedRuleGroupStatementArgsDict,
        WebAclRuleStatementRateBasedStatementArgsDict,
        WebAclRuleStatementRateBasedStatementScopeDownStatementArgsDict,
        WebAclRuleVisibilityConfigArgsDict,
    )

# Where CloudFront's web ACLs and their metrics live.
GLOBAL_REGION = "us-east-1"
# Requests per IP and 5-minute window before the WAF blocks.
RATE_LIMIT = 2000
# Behind CloudFront the regional ACL sees edge addresses, each shared by many viewers (whom
# the CloudFront ACL already limits one by one): a request that came through an edge is
# capped per edge address, this many times higher, so the app is never limited as a handful
# of IPs while a client that fakes CloudFront's header on the direct path is still capped.
EDGE_RATE_FACTOR = 10
# The header CloudFront adds to every request it forwards to an origin:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html
CLOUDFRONT_REQUEST_HEADER = "x-amz-cf-id"
# The common rule set blocks bodies over 8 KB; chat context and doctor reports are larger
# and are bounded by the functions themselves, so that one rule only counts.
COUNT_ONLY = ("SizeRestrictions_BODY",)
MANAGED_GROUPS = (("AWSManagedRulesCommonRuleSet", COUNT_ONLY), ("AWSManagedRulesKnownBadInputsRuleSet", ()))


@dataclass(frozen=True)
class WebAcl:
    """One web ACL of the stack: where it is, what it is called, what its metrics say."""

    key: str  # waf (CloudFront) or waf-regional (the stage)
    scope: str  # CLOUDFRONT or REGIONAL
    name: str  # the ACL's name
    metric_name: str  # its VisibilityConfig.MetricName: the WebACL dimension's value
    region: str  # where the ACL and its metrics live
    behind_cloudfront: bool = False  # a regional ACL whose stage CloudFront also reaches

    @property
    def dimensions(self) -> dict[str, str]:
        """Blocked/allowed requests of the whole ACL ("Rule": "ALL"), with "Region" only for
        a regional ACL, as WAF publishes them (module docstring)."""
        where = {} if self.scope == "CLOUDFRONT" else {"Region": self.region}
        return {**where, "WebACL": self.metric_name, "Rule": "ALL"}


def web_acls(s: Settings) -> tuple[WebAcl, ...]:
    """The stack's web ACLs: CloudFront's when CloudFront is on, the stage's while the
    execute-api endpoint is on (a custom domain turns it off: components/api.py)."""
    found = []
    if s.cloudfront:
        found.append(WebAcl("waf", "CLOUDFRONT", s.name("api"), s.name("waf"), GLOBAL_REGION))
    if not s.execute_api_disabled:
        found.append(
            WebAcl(
                "waf-regional",
                "REGIONAL",
                s.name("api", "regional"),
                s.name("waf", "regional"),
                s.region,
                behind_cloudfront=s.cloudfront,
            )
        )
    return tuple(found)


def visibility(metric_name: str) -> WebAclRuleVisibilityConfigArgsDict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric_name, "sampled_requests_enabled": True}


def _managed(priority: int, group: str, count_only: tuple[str, ...], prefix: str) -> WebAclRuleArgsDict:
    statement: WebAclRuleStatementManagedRuleGroupStatementArgsDict = {"vendor_name": "AWS", "name": group}
    if count_only:
        statement["rule_action_overrides"] = [{"name": r, "action_to_use": {"count": {}}} for r in count_only]
    return {
        "name": group,
        "priority": priority,
        "override_action": {"none": {}},
        "statement": {"managed_rule_group_statement": statement},
        "visibility_config": visibility(f"{prefix}-{group}"),
    }


def _rate(name: str, priority: int, limit: int, prefix: str, via_cloudfront: bool | None = None) -> WebAclRuleArgsDict:
    statement: WebAclRuleStatementRateBasedStatementArgsDict = {"limit": limit, "aggregate_key_type": "IP"}
    if via_cloudfront is not None:  # only requests that came through an edge, or only those that did not
        came_through: WebAclRuleStatementRateBasedStatementScopeDownStatementArgsDict = {
            "size_constraint_statement": {
                "field_to_match": {"single_header": {"name": CLOUDFRONT_REQUEST_HEADER}},
                "comparison_operator": "GT",
                "size": 0,
                "text_transformations": [{"priority": 0, "type": "NONE"}],
            }
        }
        statement["scope_down_statement"] = (
            came_through if via_cloudfront else {"not_statement": {"statement": came_through}}
        )
    return {
        "name": name,
        "priority": priority,
        "action": {"block": {}},
        "statement": {"rate_based_statement": statement},
        "visibility_config": visibility(f"{prefix}-{name}"),
    }


def rules(acl: WebAcl) -> list[WebAclRuleArgsDict]:
    """The ACL's rules: the managed groups, then the per-client-IP rate rule.

    The rate rule aggregates by the address WAF sees, which for a regional ACL behind
    CloudFront is an edge's, not the client's. Aggregating by X-Forwarded-For instead
    would let any client on the direct path pick a new "IP" per request (WAF reads the
    header's first address, which the client writes), so both rules stay on the real
    source address: rate-per-ip applies to requests without CloudFront's header (the
    direct path: one client, one address), and rate-per-edge to those with it, at
    EDGE_RATE_FACTOR times the limit (the CloudFront ACL has limited each viewer)."""
    prefix = acl.metric_name
    found = [_managed(i, group, count_only, prefix) for i, (group, count_only) in enumerate(MANAGED_GROUPS, 1)]
    after = len(found) + 1
    if not acl.behind_cloudfront:
        return found + [_rate("rate-per-ip", after, RATE_LIMIT, prefix)]
    return found + [
        _rate("rate-per-ip", after, RATE_LIMIT, prefix, via_cloudfront=False),
        _rate("rate-per-edge", after + 1, RATE_LIMIT * EDGE_RATE_FACTOR, prefix, via_cloudfront=True),
    ]
