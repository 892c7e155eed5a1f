"""`make preflight STACK=dev` against the running local stack: moto answers what it
implements (Secrets Manager, SNS, API Gateway, STS); what it lacks (Lambda account
settings and layers, Bedrock model access) is answered by stubbed real clients."""

import boto3

from preflight.__main__ import main
from tests.preflight.test_checks import (LAYER_DESCRIPTION, USE_CASE, account_settings, availability, layer,
                                         profile, stubbed)


def test_preflight_prints_its_table_against_the_local_stack(stack, capsys):
    stand_ins = {
        "lambda": stubbed("lambda", ("get_account_settings", account_settings(1000, 1000)),
                          ("get_layer_version_by_arn", layer(LAYER_DESCRIPTION))),
        "bedrock": stubbed("bedrock", ("get_inference_profile", profile()),
                           ("get_foundation_model_availability", availability()), USE_CASE),
    }

    def client(service):
        return stand_ins.get(service) or boto3.client(
            service, endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
            aws_access_key_id="testing", aws_secret_access_key="testing")

    status = main(["--stack", "dev"], client=client)
    # The stack's functions keep running in the background (the stream poller), and what
    # they print (JSON log and EMF lines) goes to this process's stdout too: preflight's
    # own lines are the others.
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert lines[0] == "preflight of stack dev in eu-west-1"
    assert lines[-1] == "preflight: FAILED: 1 of 7 checks failed"
    by_check = {line.split()[1]: line.split()[0] for line in lines[1:-1] if not line.startswith(" ")}
    assert by_check == {"lambda-concurrency": "ok", "bedrock-model": "ok", "powertools-layer": "ok",
                        "third-party-secret": "ok",      # the local stack stores its Play service account
                        "apple-root-pin": "ok",
                        "api-gateway-logging": "fail",   # dev leaves the account's logging role to prod
                        "alert-email": "ok"}
    assert status == 1
