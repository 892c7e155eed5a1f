"""Starting and stopping the local stack leaves the process as it found it."""

import os

import pulumi
import pytest

from components import packaging
from local.server import LocalStack
from tests.conftest import SAMPLE_CATALOG


def test_stopping_restores_the_environment():
    before = os.environ.get("AWS_ENDPOINT_URL")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packaging, "function_archive", lambda name, *_: pulumi.AssetArchive({}))
        local = LocalStack(port=0, catalog=SAMPLE_CATALOG, resolve=lambda fn: (lambda event, context: None), background=False).start()
    assert os.environ["AWS_ENDPOINT_URL"] == local.aws_endpoint_url
    local.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before
