"""Powertools logger, metrics and tracer shared by a function's modules.

Service name, namespace and log level come from the environment set by the program.
Never pass personal or medical data to the logger: log ids, codes and counts only.
"""

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# Most invocations publish no metric of their own; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Serenya")

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer()


def count(name: str, **dimensions: str) -> None:
    """Publishes one count now, with its own dimensions (bounded values only: codes, not ids)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
