"""Powertools logger, metrics and tracer shared by a function's modules.

Service name, namespace and log level come from the environment set by the program.
Never pass personal or medical data to the logger: log ids, codes and counts only.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
