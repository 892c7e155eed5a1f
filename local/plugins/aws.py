"""moto, provisioned by the Pulumi program, with the rules of AWS it does not enforce."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack

import boto3

from local import aws_rules
from local.moto_server import MotoServer
from local.moto_stack import ACCESS_KEY_ID, SECRET_ACCESS_KEY, MotoMocks, aws_client
from local.plugins import StackContext, StandIn
from local.program import ProgramRun, run_program, stack_config


class MotoPlugin(StandIn):
    """An in-process moto server, emptied, with the resources the program creates in it.
    `config` replaces keys of Pulumi.<stack>.yaml (values as Pulumi passes them)."""

    name = "moto"
    program: ProgramRun
    endpoint_url: str
    region: str

    def __init__(self, config: Mapping[str, str]):
        super().__init__()
        self._config = dict(config)

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        # The local S3 checks presigned POSTs as S3 does (local/s3_post_upload.py), for the
        # buckets' region and the credentials the functions sign with.
        config = stack_config(context.stack)
        region = config["aws:region"]
        # On loopback whatever HOST is: clients upload through the stack's own port
        # (local/plugins/uploads.py), and moto answers any request unauthenticated.
        server = MotoServer("127.0.0.1", region, {ACCESS_KEY_ID: SECRET_ACCESS_KEY}).start()
        undo.callback(server.stop)
        self.s3_post_policy = server.post_policy
        moto_host, moto_port = server.get_host_and_port()
        self.endpoint_url = f"http://{moto_host}:{moto_port}"
        # moto keeps its state per process, not per server: start from nothing.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST"), timeout=10
        ).close()
        self.program = run_program(
            context.stack,
            MotoMocks(self.endpoint_url, region),
            catalog=context.catalog,
            config={**config, **self._config},
        )
        self.region = self.program.settings.region
        # The functions' SDK clients come from the default session: the rules hook it.
        events = boto3._get_default_session().events
        aws_rules.attach(events)
        undo.callback(aws_rules.detach, events)

    def client(self, service: str):
        """A client of moto with the stack's credentials (not a function's role)."""
        return aws_client(service, self.endpoint_url, self.region)
