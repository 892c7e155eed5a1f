"""Powertools logger, metrics and tracer shared by a function's modules, and the
decorator every handler wears.

Custom metrics (namespace Serenya) are declared per function in the catalog and sent
as two streams: totals with dimensions (service, stack, function), which alarms watch,
and, when the metric has a breakdown, (service, stack, function, <breakdown...>) for
dashboards. `stack` (SERENYA_ENV) keeps stacks sharing an account apart: dev's failures
never move prod's alarms.
Never pass personal or medical data to the logger: ids, codes and counts only.
"""

import hashlib
import os
import warnings
from contextvars import ContextVar
from functools import wraps

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import jmespath_utils

# Most invocations publish no metric of their own; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Serenya")
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "serenya")

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer()
_function: ContextVar[str] = ContextVar("function", default="unknown")


def _emit(name: str, value: float, unit: MetricUnit, dimensions: dict[str, str]) -> None:
    stack = os.environ.get("SERENYA_ENV", "local")
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE, "stack": stack}
    ) as metric:
        metric.add_dimension(name="function", value=_function.get())
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=str(dimension))


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **breakdown: str) -> None:
    """Publishes a value now: the totals stream, and the breakdown stream when given
    (bounded values only: codes and kinds, never ids)."""
    _emit(name, value, unit, {})
    if breakdown:
        _emit(name, value, unit, breakdown)


def job_ref(job_id: str) -> str:
    """What the logs call a job: the first 16 hex digits of its id's SHA-256. Job ids stay
    out of every log like tokens do (tests/e2e/test_hardening.py); whoever holds one finds
    its lines with `printf %s "$JOB_ID" | sha256sum | cut -c1-16`."""
    return hashlib.sha256(job_id.encode()).hexdigest()[:16]


def log_job(job_id: str, kind: str) -> None:
    """Names the job on every further line of this invocation (the runbooks' `job-story`
    query follows a job by it across functions), by its reference, never its id."""
    logger.append_keys(job_ref=job_ref(job_id), job_kind=kind)


def instrumented(correlation_id_path: str = ""):
    """Logging context, tracing without responses, metrics flush, and the `function`
    dimension (the catalog name, from the Lambda context) for every handler.

    The keys of an invocation (Lambda context, correlation id, then route, user, job) are
    the invocation's own: cleared when it starts and when it ends, since a warm container
    keeps the logger, and its keys, for the function's next request
    (tests/functions/test_request_isolation.py). `cold_start` is true on the first
    invocation of this handler, which is the container's first (Powertools sets its own
    flag only in `inject_lambda_context`, which this replaces)."""

    def decorate(handler):
        warm = False

        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        @wraps(handler)
        def measured(event, context):
            return handler(event, context)

        @wraps(handler)
        def wrapped(event, context):
            nonlocal warm
            physical = getattr(context, "function_name", "") or ""
            _function.set(physical.removeprefix(f"{SERVICE}-{os.environ.get('SERENYA_ENV', '')}-"))
            keys = {"cold_start": not warm, **build_lambda_context_model(context).__dict__}
            warm = True
            if correlation_id_path:
                keys["correlation_id"] = jmespath_utils.query(envelope=correlation_id_path, data=event)
            logger.clear_state()
            logger.append_keys(**keys)
            try:
                return measured(event, context)
            finally:
                logger.clear_state()

        return wrapped

    return decorate
