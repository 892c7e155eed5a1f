"""boto3 clients and resources, created once per container and reused across invocations."""

from __future__ import annotations

from functools import lru_cache

import boto3
from botocore.config import Config

# Fail fast inside a function's timeout; the standard mode retries throttling with backoff.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.client(service, config=_CONFIG)


@lru_cache(maxsize=None)
def table(name: str):
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset() -> None:
    """Forget cached clients (tests and the local stack point them at a new endpoint)."""
    client.cache_clear()
    table.cache_clear()
