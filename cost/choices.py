"""What-if estimates: what the design's choices save, and what would lower prod.

Each alternative is priced by the same model: the program re-evaluated with other
settings or another catalog, or its resources with one input changed, or (for a change
of code) the profile or a count changed. Nothing here edits the program.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Optional

from cost.data import PriceList
from cost.graph import Graph, evaluate
from cost.pricing import (GB, MB, TB, Context, Estimate, api_document_with, athena_scanned_bytes,
                          detailed_metrics_routes, estimate, method_path, money)
from functions.catalog import CATALOG
from local.program import stack_config

GLOBAL_PROFILE_PREFIX = "global."


@dataclass(frozen=True)
class Alternative:
    title: str          # what changes
    how: str            # how it was priced
    total: Decimal      # the stack's monthly total with the change
    base: Decimal       # ... and without it
    estimate: Optional[Estimate] = None  # the estimate with the change, when it is a whole one

    @property
    def difference(self) -> Decimal:
        return self.total - self.base


def _priced(title: str, how: str, alternative: Estimate, base: Estimate) -> Alternative:
    return Alternative(title, how, alternative.total, base.total, alternative)


def _stack_with(stack: str, **overrides: Any) -> Graph:
    config = stack_config(stack)
    config.update({f"serenya:{key}": json.dumps(value) for key, value in overrides.items()})
    return evaluate(stack, config=config)


def _functions_with(graph: Graph, change: Callable[[dict], dict]) -> Graph:
    return graph.with_inputs("aws:lambda/function:Function", change)


# -- the design's choices ----------------------------------------------------------------------

def design_choices(graph: Graph, base: Estimate, profile: dict, prices: PriceList) -> list[Alternative]:
    """Each choice against the design without it (the difference is what it saves)."""
    x86 = estimate(_functions_with(graph, lambda i: {**i, "architectures": ["x86_64"]}), profile, prices)
    warm = _lambda_difference(x86, base, provisioned=True)
    found = [_priced("Lambda on arm64 (Graviton) rather than x86_64",
                     f"every function's `architectures` set to x86_64, same memory and durations (provisioned "
                     f"concurrency {usd(warm)} of it, duration {usd(_lambda_difference(x86, base, False))})",
                     x86, base),
             _warm_everywhere(graph, base, profile, prices)]
    if graph.authorizer and graph.authorizer[1]:
        uncached = api_document_with(graph, _authorizer_ttl(0))
        found.append(_priced(f"the authorizer's answers cached {graph.authorizer[1]} s per token",
                             "authorizerResultTtlInSeconds set to 0: one authorizer call per authorized request",
                             estimate(uncached, profile, prices), base))
    found.append(_parquet(graph, base, profile, prices))
    return found


def _lambda_difference(alternative: Estimate, base: Estimate, provisioned: bool) -> Decimal:
    """How much more `alternative` pays for Lambda's provisioned instances (or for the rest)."""
    def part(est: Estimate) -> Decimal:
        return sum((l.amount for l in est.lines if l.service == "Lambda"
                    and l.price.endswith(".provisioned_gb_second") == provisioned), Decimal("0"))
    return part(alternative) - part(base)


def usd(value: Decimal) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _authorizer_ttl(seconds: int) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        for scheme in document["components"]["securitySchemes"].values():
            if "x-amazon-apigateway-authorizer" in scheme:
                scheme["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] = seconds
    return change


def _warm_everywhere(graph: Graph, base: Estimate, profile: dict, prices: PriceList) -> Alternative:
    """Provisioned concurrency on every API function rather than on the catalog's
    latency-critical (`warm`) ones: the program evaluated with such a catalog."""
    catalog = tuple(dataclasses.replace(f, warm=True) if f.routes or f.is_authorizer else f for f in CATALOG)
    everywhere = evaluate(graph.stack, catalog=catalog)
    return _priced(f"provisioned concurrency on the {sum(1 for f in CATALOG if f.warm)} latency-critical "
                   f"functions only", f"the catalog with every API function `warm` "
                                      f"({sum(1 for f in catalog if f.warm)})",
                   estimate(everywhere, profile, prices), base)


def _parquet(graph: Graph, base: Estimate, profile: dict, prices: PriceList) -> Alternative:
    """Audit events as ZSTD Parquet, one object per stream batch and day, against the
    original design's one JSON object per event: S3 PUTs, Athena's scanned bytes (no
    column pruning in JSON) and storage in month `months_in_operation`, which is all
    that differs."""
    usage, spec = base.usage, profile["stream"]
    context = Context(graph, usage, profile, prices)
    events = usage.stream_records
    extra_puts = events - usage.stream_batches
    scanned = {fmt: athena_scanned_bytes(context, spec[f"{fmt}_bytes_per_event"], share)
               for fmt, share in (("parquet", profile["analytics"]["scanned_share"]), ("json", 1.0))}
    extra_tb = (scanned["json"] - scanned["parquet"]) / TB
    stored_gb = events * profile["months_in_operation"] * (spec["json_bytes_per_event"]
                                                           - spec["parquet_bytes_per_event"]) / GB
    extra = (money(Decimal(f"{extra_puts:.6f}") * prices["s3.put_request"])
             + money(Decimal(f"{extra_tb:.9f}") * prices["athena.tb_scanned"])
             + money(Decimal(f"{stored_gb:.6f}") * prices["s3.standard.gb_month"]))
    return Alternative("audit events as Parquet batches rather than one JSON object per event",
                       f"{extra_puts:,.0f} more PUTs, {extra_tb * TB / MB:,.0f} MB more scanned by the queries, "
                       f"{stored_gb:.2f} GB more stored (kept in S3 Standard: an upper bound)",
                       base.total + extra, base.total)


# -- what would lower prod ------------------------------------------------------------------------

def lowering(graph: Graph, base: Estimate, profile: dict, prices: PriceList) -> list[Alternative]:
    """Changes that would lower the stack's bill, each priced alone, then together."""
    no_warm = _stack_with(graph.stack, provisionedConcurrency=0)
    one_warm = _stack_with(graph.stack, provisionedConcurrency=1)
    found = [_priced("no provisioned concurrency (`serenya:provisionedConcurrency: 0`)",
                     "the program evaluated with that setting", estimate(no_warm, profile, prices), base)]
    one = estimate(one_warm, profile, prices)
    if one.total < base.total:  # only where the stack keeps more than one warm instance
        found.append(_priced("one provisioned instance per latency-critical function "
                             "(`serenya:provisionedConcurrency: 1`)", "the program evaluated with that setting",
                             one, base))
    targeted = _detailed_metrics_where_alarmed(graph)
    if targeted is not None:
        found.append(_priced("API Gateway detailed metrics only on the routes with a latency alarm",
                             "MethodSettings `*/*` without metricsEnabled, one MethodSettings with it per route a "
                             "per-route latency alarm reads", estimate(targeted, profile, prices), base))
    no_breakdown = copy.deepcopy(profile)
    no_breakdown["metrics"]["breakdown_streams"] = False
    found.append(_priced("custom metrics without their breakdown streams (a change to "
                         "functions/common/observability.py: totals only)",
                         "the profile priced without breakdown streams", estimate(graph, no_breakdown, prices), base))
    global_model = _global_model(graph, prices)
    if global_model is not None:
        found.append(_priced("Bedrock through the global inference profile (requests may leave the EU)",
                             "BEDROCK_MODEL_ID set to the global. profile of the same model",
                             estimate(global_model, profile, prices), base))
    together = _detailed_metrics_where_alarmed(no_warm) or no_warm
    together = _global_model(together, prices) or together
    found.append(_priced("all of the above together, with no provisioned concurrency", "combined",
                         estimate(together, no_breakdown, prices), base))
    return found


def _detailed_metrics_where_alarmed(graph: Graph) -> Optional[Graph]:
    routes = detailed_metrics_routes(graph)
    if not routes:
        return None
    alarmed = set()
    for alarm in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        metrics = [alarm.inputs] + [q["metric"] for q in alarm.inputs.get("metricQueries") or [] if q.get("metric")]
        for metric in metrics:
            dimensions = metric.get("dimensions") or {}
            if metric.get("namespace") == "AWS/ApiGateway" and "Resource" in dimensions:
                alarmed.add(f"{dimensions['Method']} {dimensions['Resource']}")
    settings = [r for r in graph.resources if r.type == "aws:apigateway/methodSettings:MethodSettings"]
    if len(settings) != 1:
        return None
    template = settings[0]
    per_route = tuple(dataclasses.replace(template, name=f"{template.name}-{r.method}-{r.path}", inputs={
        **template.inputs, "methodPath": method_path(r), "settings": {**template.inputs["settings"],
                                                                       "metricsEnabled": True}})
        for r in graph.routes if r.key in alarmed)
    off = dataclasses.replace(template, inputs={**template.inputs, "settings": {**template.inputs["settings"],
                                                                                "metricsEnabled": False}})
    return dataclasses.replace(graph, resources=tuple(off if r is template else r for r in graph.resources) + per_route)


def _global_model(graph: Graph, prices: PriceList) -> Optional[Graph]:
    def change(inputs: dict) -> dict:
        variables = dict((inputs.get("environment") or {}).get("variables", {}))
        model = variables.get("BEDROCK_MODEL_ID", "")
        if "." in model and not model.startswith(GLOBAL_PROFILE_PREFIX):
            candidate = GLOBAL_PROFILE_PREFIX + model.split(".", 1)[1]
            if candidate in prices.models:
                variables["BEDROCK_MODEL_ID"] = candidate
        return {**inputs, "environment": {**(inputs.get("environment") or {}), "variables": variables}}

    changed = _functions_with(graph, change)
    return changed if changed != graph else None
