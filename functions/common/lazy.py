"""Modules a function needs only once a request asks for them (pydantic models, JWT and
X.509 code), loaded on first use instead of at cold start.

Where Lambda runs the init ahead of any request (provisioned concurrency, SnapStart)
the import costs no request anything, so `preload` loads them there at init; an
on-demand cold start leaves them to the first request that needs them.
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
(AWS_LAMBDA_INITIALIZATION_TYPE: on-demand, provisioned-concurrency or snap-start)
"""

from __future__ import annotations

import importlib
import os

PREPAID_INITS = ("provisioned-concurrency", "snap-start")


def preload(*modules: str) -> None:
    """Imports `modules` now when this init is paid ahead of requests; otherwise nothing."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in PREPAID_INITS:
        for name in modules:
            importlib.import_module(name)
