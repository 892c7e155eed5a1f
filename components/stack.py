"""The whole backend of one stack: settings in, layers composed, outputs out.

`__main__.py` runs this under the Pulumi engine; the local stack and the tests run the
very same function under Pulumi mocks, so what they exercise is what gets deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi_aws as aws

from components.analytics import AnalyticsArgs, AnalyticsLayer
from components.api import ApiArgs, ApiLayer
from components.config import Settings
from components.observability import ObservabilityArgs, ObservabilityLayer
from components.processing import ProcessingArgs, ProcessingLayer
from components.storage import StorageArgs, StorageLayer
from functions.catalog import Function, validate


def build_stack(settings: Settings, catalog: tuple[Function, ...], layer_dirs: Mapping[str, Path]) -> dict[str, object]:
    problems = validate(catalog)
    if problems:
        raise ValueError("function catalog is inconsistent:\n  " + "\n  ".join(problems))

    account_id = aws.get_caller_identity_output().account_id

    storage = StorageLayer(settings.name(), StorageArgs(settings=settings, account_id=account_id))
    processing = ProcessingLayer(
        settings.name(),
        ProcessingArgs(
            settings=settings, storage=storage, account_id=account_id, catalog=catalog, layer_dirs=layer_dirs
        ),
    )
    api = ApiLayer(
        settings.name(), ApiArgs(settings=settings, storage=storage, catalog=catalog, functions=processing.functions)
    )
    processing.wire_public_schedules(api.url)
    analytics = AnalyticsLayer(settings.name(), AnalyticsArgs(settings=settings, storage=storage))
    observability = ObservabilityLayer(
        settings.name(),
        ObservabilityArgs(
            settings=settings, catalog=catalog, storage=storage, processing=processing, api=api, account_id=account_id
        ),
    )

    return {
        "api_url": api.url,
        **storage.outputs,
        "functions": {name: f.function.name for name, f in processing.functions.items()},
        "dashboards": observability.dashboard_urls,
        "athena_database": analytics.database.name,
        "athena_workgroup": analytics.workgroup.name,
        "critical_topic_arn": observability.critical_topic.arn,
        "warning_topic_arn": observability.warning_topic.arn,
    }
