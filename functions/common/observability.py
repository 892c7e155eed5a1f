"""Powertools logger, metrics and tracer shared by a function's modules.

Service name, namespace and log level come from the environment set by the program.
Never pass personal or medical data to the logger: log ids, codes and counts only.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Most invocations publish no metric of their own; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()
tracer = Tracer()
