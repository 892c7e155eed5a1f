"""The functions' own metrics: Embedded Metric Format lines, parsed as CloudWatch Logs does.

In Lambda, Powertools Metrics prints one EMF JSON document per line to stdout; CloudWatch
Logs extracts the metrics from it. Locally each function's stdout is its own stream
(local/isolation.py), whose every line the local stack hands to `parse`, which applies
the specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):

- only a JSON object with an `_aws` member is EMF; any other line is an ordinary log;
- `_aws` holds `Timestamp` (an integer, milliseconds) and `CloudWatchMetrics`, an array
  of directives, each with `Namespace` (1-255 characters), `Dimensions` (an array of
  dimension sets, each an array of at most 30 keys whose root members are strings) and
  `Metrics` (at most 100 definitions: `Name`, optional `Unit`, optional
  `StorageResolution` 1 or 60) whose root members are a number or an array of at most
  100 numbers;
- every dimension set makes its own metric (an empty set: a metric without dimensions).

A document that breaks a rule yields no metric at all and counts as an
`EMFValidationErrors` (a line that looks like EMF but is not JSON: `EMFParsingErrors`) in
AWS/Logs for the function's log group, the metrics CloudWatch Logs publishes for them
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatch-Logs-Monitoring-CloudWatch-Metrics.html).
The datapoint is stamped by the store's clock when the line is written (local/metric_store.py).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100


class InvalidEmf(ValueError):
    """A document with `_aws` that breaks the specification: no metric is extracted."""


class UnparsableEmf(ValueError):
    """A line that announces EMF (`"_aws"`) but is not a JSON object."""


@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    values: tuple[float, ...]
    unit: str
    resolution: int


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise InvalidEmf(f"{what} must be a string of 1 to 255 characters")
    return value


def parse(line: str) -> list[Datum]:
    """The metrics of one log line: [] for an ordinary log line; InvalidEmf or
    UnparsableEmf for a line CloudWatch would refuse to extract metrics from."""
    text = line.strip()
    if not text.startswith("{"):
        return []
    try:
        document = json.loads(text)
    except ValueError:
        if '"_aws"' in text:
            raise UnparsableEmf("not JSON") from None
        return []
    if not isinstance(document, dict) or "_aws" not in document:
        return []
    meta = document["_aws"]
    if not isinstance(meta, dict):
        raise InvalidEmf("_aws must be an object")
    if not isinstance(meta.get("Timestamp"), int) or isinstance(meta.get("Timestamp"), bool):
        raise InvalidEmf("_aws.Timestamp must be an integer number of milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise InvalidEmf("_aws.CloudWatchMetrics must be an array")
    data: list[Datum] = []
    for directive in directives:
        if not isinstance(directive, dict):
            raise InvalidEmf("a MetricDirective must be an object")
        namespace = _text(directive.get("Namespace"), "Namespace")
        dimension_sets, metrics = directive.get("Dimensions"), directive.get("Metrics")
        if not isinstance(dimension_sets, list) or not isinstance(metrics, list):
            raise InvalidEmf("Dimensions and Metrics must be arrays")
        if len(metrics) > MAX_METRICS:
            raise InvalidEmf(f"more than {MAX_METRICS} metrics in a directive")
        resolved_sets = []
        for keys in dimension_sets:
            if not isinstance(keys, list) or len(keys) > MAX_DIMENSIONS:
                raise InvalidEmf(f"a DimensionSet is an array of at most {MAX_DIMENSIONS} keys")
            dims = {}
            for key in keys:
                _text(key, "a dimension key")
                if not isinstance(document.get(key), str):
                    raise InvalidEmf(f"dimension {key!r} must be a string member of the root")
                dims[key] = document[key]
            resolved_sets.append(dims)
        for definition in metrics:
            if not isinstance(definition, dict):
                raise InvalidEmf("a MetricDefinition must be an object")
            name = _text(definition.get("Name"), "a metric Name")
            unit = definition.get("Unit", "None")
            if unit not in UNITS:
                raise InvalidEmf(f"{unit!r} is not a CloudWatch unit")
            resolution = definition.get("StorageResolution", 60)
            if resolution not in (1, 60) or isinstance(resolution, bool):
                raise InvalidEmf("StorageResolution must be 1 or 60")
            target = document.get(name)
            values: list[Any] = target if isinstance(target, list) else [target]  # the line's JSON
            if not values or len(values) > MAX_VALUES or not all(_is_number(v) for v in values):
                raise InvalidEmf(f"metric {name!r} must be a number or an array of at most {MAX_VALUES} numbers")
            for dims in resolved_sets:
                data.append(Datum(namespace, name, dims, tuple(float(v) for v in values), unit, resolution))
    return data
