"""The API edge under Pulumi mocks for both stacks, and the generated OpenAPI contract."""

import dataclasses
import hashlib
import json

import pytest
from openapi_spec_validator import validate

from components import openapi
from components.api import ALL_VIEWER, ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED
from components.config import ROOT, stack_config
from functions.catalog import AUTHORIZER, AUTHORIZER_CACHE_SECONDS, CATALOG, Route
from local.program import run_program


@pytest.fixture
def stack(stack_run):
    return stack_run


def document(run):
    return json.loads(run.mocks.one("aws:apigateway/restApi:RestApi").inputs["body"])


def routes(catalog=CATALOG):
    return {(r.method.lower(), r.path): (fn, r) for fn in catalog for r in fn.routes}


# -- the contract ---------------------------------------------------------------------

def test_contract_is_valid_openapi_with_every_catalog_route():
    contract = openapi.contract()
    validate(contract)
    documented = {(m, p) for p, ops in contract["paths"].items() for m in ops}
    assert documented == set(routes())


def test_contract_marks_authorized_routes_and_documents_bodies_and_errors():
    contract = openapi.contract()
    schemas = contract["components"]["schemas"]
    for (method, path), (_, route) in routes().items():
        operation = contract["paths"][path][method]
        assert ("security" in operation) is route.authorized
        assert {str(s) for s in route.success} <= set(operation["responses"])
        for status in route.success:  # every success body is a named model, with an example
            content = operation["responses"][str(status)].get("content")
            assert (content is None) is (status == 204), (method, path, status)
            if content:
                ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert schemas[ref]["type"] == "object" and content["application/json"]["example"]
        assert ("422" in operation["responses"]) is bool(route.body), (method, path)
        assert ("415" in operation["responses"]) is (method.upper() in openapi.BODY_METHODS), (method, path)
        assert ("401" in operation["responses"]) is (route.authorized or path.endswith("/webhook")
                                                     or "/auth/" in path), (method, path)
        if route.body:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in schemas
    onboarding = schemas["OnboardingRequest"]
    assert {"provider", "id_token", "device"} <= set(onboarding["required"])
    assert onboarding["additionalProperties"] is False


def _codes(operation, status):
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return set(schema["properties"]["error"]["properties"]["code"]["enum"])


def test_the_issues_missing_statuses_and_codes_are_documented_where_emitted():
    """What a client generator needs (issue 26): onboarding's 201 and 200, result's 409,
    and the codes the functions raise, each on the route and status that answers it."""
    paths = openapi.contract()["paths"]
    onboarding = paths["/api/v1/auth/oauth-onboarding"]["post"]
    assert {"200", "201"} <= set(onboarding["responses"])
    assert onboarding["responses"]["200"]["content"] == onboarding["responses"]["201"]["content"]
    assert _codes(paths["/api/v1/process/result/{job_id}"]["get"], 409) == {"not_ready"}
    assert "payload_too_large" in _codes(paths["/api/v1/chat/messages"]["post"], 413)
    assert "unknown_prompt" in _codes(paths["/api/v1/chat/messages"]["post"], 400)
    assert "validation_error" in _codes(paths["/api/v1/process/upload"]["post"], 422)
    assert _codes(paths["/api/v1/subscriptions/webhook"]["post"], 503) == {"store_unavailable"}
    assert "quota_exceeded" in _codes(paths["/api/v1/process/doctor-report"]["post"], 429)
    # A failed job's code (not an HTTP error): document_too_long is one of them.
    job_error = openapi.contract()["components"]["schemas"]["JobError"]
    assert "document_too_long" in job_error["properties"]["code"]["enum"]


def test_every_example_is_valid_against_its_model_and_the_document():
    from openapi_schema_validator import OAS30Validator

    from functions import responses
    contract = openapi.contract()
    checked = 0
    for path, operations in contract["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media in response.get("content", {}).values():
                    schema = {**media["schema"], "components": contract["components"]}
                    OAS30Validator(schema).validate(media["example"])
                    if "$ref" in media["schema"]:
                        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                        getattr(responses, name).model_validate(media["example"])
                    checked += 1
    assert checked >= 100
    # and a wrong body is refused: the schemas do constrain the answers
    wrong = {**responses.EXAMPLES["JobStatus"], "status": "lost"}
    with pytest.raises(Exception):
        OAS30Validator({"$ref": "#/components/schemas/JobStatus", "components": contract["components"]}).validate(wrong)


def test_a_status_without_a_description_or_a_code_not_in_snake_case_is_refused():
    from functions.catalog import Function
    with pytest.raises(ValueError, match="no description for status"):
        openapi.contract((Function("x", "x", routes=(
            Route("GET", "/api/v1/x", authorized=False, response="functions.responses:Accepted",
                  errors=((418, "teapot"),)),)),))
    with pytest.raises(ValueError, match="snake_case"):
        openapi.contract((Function("x", "x", routes=(
            Route("GET", "/api/v1/x", authorized=False, response="functions.responses:Accepted",
                  errors=((409, "Not-Ready"),)),)),))


def test_docs_openapi_json_is_up_to_date():
    """Regenerate with `make openapi`."""
    assert json.loads((ROOT / "docs" / "openapi.json").read_text()) == openapi.contract()


# -- API Gateway ----------------------------------------------------------------------

def test_every_route_is_a_proxy_integration_of_its_function(stack):
    doc = document(stack)
    functions = {f.inputs["name"]: f for f in stack.mocks.of_type("aws:lambda/function:Function")}
    aliases = {a.inputs["functionName"]: a for a in stack.mocks.of_type("aws:lambda/alias:Alias")}
    for (method, path), (fn, _) in routes().items():
        integration = doc["paths"][path][method]["x-amazon-apigateway-integration"]
        physical = f"serenya-{stack.settings.env}-{fn.name}"
        target = aliases.get(physical) or functions[physical]  # warm functions through their alias
        assert integration["type"] == "aws_proxy" and integration["uri"] == target.state["invokeArn"]
        assert integration["timeoutInMillis"] <= 29_000


def test_authorizer_caches_per_token_and_rejects_non_bearer_headers(stack):
    scheme = document(stack)["components"]["securitySchemes"][openapi.AUTHORIZER_SCHEME]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom" and scheme["name"] == "Authorization"
    assert authorizer["type"] == "token"
    assert authorizer["authorizerResultTtlInSeconds"] == AUTHORIZER_CACHE_SECONDS
    assert authorizer["authorizerUri"].endswith(f"serenya-{stack.settings.env}-{AUTHORIZER}"
                                                + (":live/invocations" if stack.settings.provisioned_concurrency
                                                   else "/invocations"))
    import re
    pattern = re.compile(authorizer["identityValidationExpression"])
    assert pattern.match("Bearer eyJ.abc-_.xyz") and not pattern.match("Basic dXNlcg==")


def test_requests_are_validated_and_errors_keep_the_contract_format(stack):
    doc = document(stack)
    validator = doc["x-amazon-apigateway-request-validators"][doc["x-amazon-apigateway-request-validator"]]
    assert validator == {"validateRequestBody": True, "validateRequestParameters": True}
    responses = doc["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert responses["UNAUTHORIZED"]["statusCode"] == "401" and responses["ACCESS_DENIED"]["statusCode"] == "403"
    for kind, response in responses.items():
        body = json.loads(response["responseTemplates"]["application/json"])
        assert set(body["error"]) == {"code", "message", "request_id"}, kind
        assert body["error"]["request_id"] == "$context.requestId"
    assert responses["THROTTLED"]["statusCode"] == "429"


def test_undefined_methods_answer_405_and_preflight_is_unauthenticated(stack):
    for operations in document(stack)["paths"].values():
        any_method = operations["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert any_method["type"] == "mock"
        assert json.loads(any_method["responses"]["default"]["responseTemplates"]["application/json"])[
            "error"]["code"] == "method_not_allowed"
        assert "security" not in operations["options"]


def test_stage_logs_json_traces_and_throttles_from_settings(stack):
    stage = stack.mocks.one("aws:apigateway/stage:Stage").inputs
    assert stage["xrayTracingEnabled"] is True
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format["requestId"] == "$context.requestId" and "status" in log_format
    assert not any("principalId" in v or "body" in v.lower() for v in log_format.values())
    group = stack.mocks.one("aws:cloudwatch/logGroup:LogGroup", "-access").inputs
    assert stage["accessLogSettings"]["destinationArn"].endswith(group["name"])
    assert group["retentionInDays"] == stack.settings.log_retention_days
    # every method's settings, the stage's `*/*` and each override (which replaces it)
    for method in stack.mocks.of_type("aws:apigateway/methodSettings:MethodSettings"):
        settings = method.inputs["settings"]
        assert settings["throttlingRateLimit"] == stack.settings.api_throttle.rate_limit
        assert settings["throttlingBurstLimit"] == stack.settings.api_throttle.burst_limit
        assert settings["dataTraceEnabled"] is False
        assert settings["loggingLevel"] == ("INFO" if stack.settings.detailed_logging else "ERROR")


def test_execution_logs_go_to_an_encrypted_expiring_group_declared_before_the_stage(stack):
    # API Gateway creates API-Gateway-Execution-Logs_{restApiId}/{stage} itself, unencrypted
    # and never expiring, unless it exists first:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
    api_id = stack.mocks.one("aws:apigateway/restApi:RestApi").id
    recorded = [r for r in stack.mocks.resources]
    group = next(r for r in recorded if r.type == "aws:cloudwatch/logGroup:LogGroup"
                 and r.inputs["name"] == f"API-Gateway-Execution-Logs_{api_id}/v1")
    assert group.inputs["retentionInDays"] == stack.settings.log_retention_days
    assert group.inputs["kmsKeyId"] == stack.mocks.one("aws:kms/key:Key", "-data").state["arn"]
    stage = stack.mocks.one("aws:apigateway/stage:Stage")
    assert recorded.index(group) < recorded.index(stage)


def test_a_stack_without_cloudfront_serves_the_stage_behind_its_regional_web_acl():
    """`serenya:cloudFront: false` serves the app at the stage: no CloudFront ACL, the
    regional one with the per-IP rate rule on every request (clients connect directly)."""
    run = run_program("dev", config={**stack_config("dev"), "serenya:cloudFront": "false"})
    for type_ in ("aws:cloudfront/distribution:Distribution", "pulumi:providers:aws"):
        assert not run.mocks.of_type(type_), type_
    assert acl_of(run, "CLOUDFRONT") is None
    rules = rules_of(acl_of(run, "REGIONAL"))
    assert "rate-per-edge" not in rules
    assert "scopeDownStatement" not in rules["rate-per-ip"]["statement"]["rateBasedStatement"]
    api_id = run.mocks.one("aws:apigateway/restApi:RestApi").id
    assert run.mocks.one(ASSOCIATION).inputs["resourceArn"].endswith(f"/restapis/{api_id}/stages/v1")
    alarms = {a.inputs["name"] for a in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {n for n in alarms if n.endswith("-blocked")} == {"serenya-dev-waf-regional-blocked"}
    assert run.outputs["api_url"] == f"https://{api_id}.execute-api.eu-west-1.amazonaws.com/v1"


def test_api_gateway_may_invoke_only_this_apis_routes(stack):
    execution_arn = stack.mocks.one("aws:apigateway/restApi:RestApi").state["executionArn"]
    permissions = [p.inputs for p in stack.mocks.of_type("aws:lambda/permission:Permission")
                   if p.inputs["principal"] == "apigateway.amazonaws.com"]
    assert len(permissions) == len([fn for fn in CATALOG if fn.routes or fn.name == AUTHORIZER])
    for permission in permissions:
        assert permission["sourceArn"] in (f"{execution_arn}/*/*/*", f"{execution_arn}/authorizers/*")


def test_deployment_follows_the_document(stack):
    deployment = stack.mocks.one("aws:apigateway/deployment:Deployment").inputs
    body = stack.mocks.one("aws:apigateway/restApi:RestApi").inputs["body"]
    assert deployment["triggers"]["document"] == hashlib.sha256(body.encode()).hexdigest()


def test_a_changed_api_document_triggers_a_new_deployment(fake_code):
    """A new route (or any change of the document) must redeploy the stage, or API
    Gateway keeps serving the old API; the same document must not (a needless redeploy).
    https://www.pulumi.com/registry/packages/aws/api-docs/apigateway/deployment/"""
    from local.program import run_program
    from tests.conftest import SAMPLE_CATALOG

    def trigger(catalog):
        run = run_program("dev", catalog=catalog)
        return (run.mocks.one("aws:apigateway/deployment:Deployment").inputs["triggers"]["document"],
                run.mocks.one("aws:apigateway/restApi:RestApi").inputs["body"])

    echo = next(fn for fn in SAMPLE_CATALOG if fn.name == "echo")
    more = dataclasses.replace(echo, routes=echo.routes + (Route("DELETE", "/api/v1/echo/{item_id}"),))
    changed = tuple(more if fn is echo else fn for fn in SAMPLE_CATALOG)
    first, again, other = trigger(SAMPLE_CATALOG), trigger(SAMPLE_CATALOG), trigger(changed)
    assert first == again
    assert other[1] != first[1] and "delete" in json.loads(other[1])["paths"]["/api/v1/echo/{item_id}"]
    assert other[0] != first[0]


# -- WAF and CloudFront ---------------------------------------------------------------

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"


def acl_of(run, scope):
    found = [a for a in run.mocks.of_type(WEB_ACL) if a.inputs["scope"] == scope]
    assert len(found) <= 1, [a.name for a in found]
    return found[0] if found else None


def rules_of(acl):
    return {r["name"]: r for r in acl.inputs["rules"]}


def test_waf_has_managed_rules_and_a_rate_limit(stack):
    acl = acl_of(stack, "CLOUDFRONT").inputs
    assert acl["defaultAction"] == {"allow": {}}
    rules = {r["name"]: r for r in acl["rules"]}
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    assert [o["name"] for o in common["ruleActionOverrides"]] == ["SizeRestrictions_BODY"]
    assert "AWSManagedRulesKnownBadInputsRuleSet" in rules
    rate = rules["rate-per-ip"]
    assert rate["action"] == {"block": {}} and rate["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"
    assert "scopeDownStatement" not in rate["statement"]["rateBasedStatement"]  # CloudFront sees the client
    assert all(r["visibilityConfig"]["cloudwatchMetricsEnabled"] for r in acl["rules"])
    assert acl["region"] == "us-east-1"  # CloudFront web ACLs exist only in us-east-1


def test_the_execute_api_endpoint_is_behind_a_regional_web_acl_of_its_own(stack):
    """Without a custom domain the execute-api endpoint is on, and anyone with its URL skips
    CloudFront: the stage itself is associated with a REGIONAL web ACL in the stack's region,
    by the stage ARN arn:aws:apigateway:{region}::/restapis/{id}/stages/{stage} (WAF API
    reference, AssociateWebACL: https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html;
    a regional ACL for API Gateway lives in the API's region:
    https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html)."""
    assert stack.mocks.one("aws:apigateway/restApi:RestApi").inputs["disableExecuteApiEndpoint"] is False
    regional = acl_of(stack, "REGIONAL")
    assert regional is not None and "region" not in regional.inputs  # the stack's own region
    assert f":{stack.settings.region}:" in regional.state["arn"] and ":regional/webacl/" in regional.state["arn"]
    association = stack.mocks.one(ASSOCIATION).inputs
    api_id = stack.mocks.one("aws:apigateway/restApi:RestApi").id
    assert association["resourceArn"] == f"arn:aws:apigateway:{stack.settings.region}::/restapis/{api_id}/stages/v1"
    assert association["webAclArn"] == regional.state["arn"]


def test_both_web_acls_carry_the_same_protections(stack):
    """Built from one definition (components/waf.py): the same managed groups with the same
    count-only overrides, and the same per-IP rate rule, limit and key."""
    cloudfront, regional = rules_of(acl_of(stack, "CLOUDFRONT")), rules_of(acl_of(stack, "REGIONAL"))
    managed = {n: r["statement"] for n, r in cloudfront.items() if "managedRuleGroupStatement" in r["statement"]}
    assert len(managed) == 2
    assert {n: regional[n]["statement"] for n in managed} == managed
    assert {n: regional[n]["priority"] for n in managed} == {n: cloudfront[n]["priority"] for n in managed}
    rate = {k: v for k, v in regional["rate-per-ip"]["statement"]["rateBasedStatement"].items()
            if k != "scopeDownStatement"}
    assert rate == cloudfront["rate-per-ip"]["statement"]["rateBasedStatement"]
    assert regional["rate-per-ip"]["action"] == cloudfront["rate-per-ip"]["action"] == {"block": {}}


def test_behind_cloudfront_the_regional_rate_rules_key_on_the_real_source_address(stack):
    """Through CloudFront the regional ACL sees edge addresses, each carrying many viewers.
    X-Forwarded-For is not a way out: WAF reads its first address, which any client on the
    direct path writes itself (forwarded IP: https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-forwarded-ip-address.html).
    So both rules count the real source address: per client (2,000) for requests without the
    x-amz-cf-id header CloudFront adds to every origin request
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html),
    per edge address at ten times that for those with it, which the CloudFront ACL has
    already limited per viewer. Faking the header on the direct path only moves a client
    to the higher cap of its own address."""
    from components import waf

    rules = rules_of(acl_of(stack, "REGIONAL"))
    assert [r["name"] for r in sorted(rules.values(), key=lambda r: r["priority"])][-2:] == \
        ["rate-per-ip", "rate-per-edge"]
    client, edge = (rules[n]["statement"]["rateBasedStatement"] for n in ("rate-per-ip", "rate-per-edge"))
    assert client["aggregateKeyType"] == edge["aggregateKeyType"] == "IP"
    assert "forwardedIpConfig" not in client and "forwardedIpConfig" not in edge
    header = {"sizeConstraintStatement": {"fieldToMatch": {"singleHeader": {"name": "x-amz-cf-id"}},
                                          "comparisonOperator": "GT", "size": 0,
                                          "textTransformations": [{"priority": 0, "type": "NONE"}]}}
    assert edge["scopeDownStatement"] == header
    assert client["scopeDownStatement"] == {"notStatement": {"statement": header}}
    assert client["limit"] == waf.RATE_LIMIT and edge["limit"] == waf.RATE_LIMIT * waf.EDGE_RATE_FACTOR


def test_web_acls_and_their_rules_publish_metrics_under_names_of_their_own(stack):
    """The WebACL dimension is the ACL's VisibilityConfig.MetricName ("A name of the
    CloudWatch metric dimension", WAF API reference:
    https://docs.aws.amazon.com/waf/latest/APIReference/API_VisibilityConfig.html), so two
    ACLs with one metric name would mix their counts."""
    acls = stack.mocks.of_type(WEB_ACL)
    names = [a.inputs["visibilityConfig"]["metricName"] for a in acls]
    assert len(set(names)) == len(names) == 2
    for acl in acls:
        rules = [r["visibilityConfig"]["metricName"] for r in acl.inputs["rules"]]
        assert len(set(rules)) == len(rules) and not set(rules) & set(names)
        assert all(len(n) <= 128 and n not in ("All", "Default_Action") for n in rules + names)


def test_no_provider_of_its_own_drops_the_stacks_credential_settings(stack):
    """A provider created with a region only ignores aws:profile, aws:assumeRoles and
    aws:allowedAccountIds; resources outside the stack's region name their own `region`
    (pulumi-aws 7) and use the stack's default provider."""
    assert not stack.mocks.of_type("pulumi:providers:aws")
    assert not any(o.provider for o in stack.mocks.options.values())
    pinned = [r for r in stack.mocks.resources if r.inputs.get("region")]
    assert {r.inputs["region"] for r in pinned} == {"us-east-1"}
    assert {r.type for r in pinned} == {
        "aws:wafv2/webAcl:WebAcl", "aws:kms/key:Key", "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        *(["aws:sns/topicSubscription:TopicSubscription"] if stack.settings.alert_email else [])}
    waf_alarm = next(r for r in pinned if r.type.endswith("MetricAlarm"))
    assert waf_alarm.inputs["namespace"] == "AWS/WAFV2"
    topic = next(r for r in pinned if r.type == "aws:sns/topic:Topic")
    assert waf_alarm.inputs["alarmActions"] == [topic.state["arn"]] and ":us-east-1:" in topic.state["arn"]


def test_cloudfront_is_https_only_uncached_and_forwards_authorization(stack):
    cdn = stack.mocks.one("aws:cloudfront/distribution:Distribution").inputs
    behaviour = cdn["defaultCacheBehavior"]
    assert behaviour["viewerProtocolPolicy"] == "https-only"
    assert behaviour["cachePolicyId"] == CACHING_DISABLED
    assert behaviour["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert {"POST", "PUT", "DELETE", "OPTIONS"} <= set(behaviour["allowedMethods"])
    origin, = cdn["origins"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert origin["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]
    assert origin["originPath"] == "/v1" and ".execute-api.eu-west-1.amazonaws.com" in origin["domainName"]
    assert cdn["webAclId"] == acl_of(stack, "CLOUDFRONT").state["arn"]
    assert stack.outputs["api_url"].startswith("https://") and stack.outputs["api_url"].endswith(".cloudfront.net")


def test_cloudfront_does_not_pretend_to_compress_what_it_never_caches(stack):
    """CloudFront compresses only objects it caches, under a cache policy with Gzip or
    Brotli enabled; CachingDisabled enables neither, so `compress` would do nothing
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html)."""
    behaviour = stack.mocks.one("aws:cloudfront/distribution:Distribution").inputs["defaultCacheBehavior"]
    assert behaviour["cachePolicyId"] == CACHING_DISABLED and not behaviour.get("compress")


def test_the_access_log_records_the_stage_web_acls_verdict(stack):
    """$context.waf.status is the verdict of a web ACL associated with the stage (API Gateway
    access logging variables:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html);
    CloudFront's ACL never reaches that variable. The stage has one here, so it is logged."""
    assert acl_of(stack, "REGIONAL") is not None
    log_format = json.loads(stack.mocks.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]["format"])
    assert log_format["wafStatus"] == "$context.waf.status"


DOMAIN_CONFIG = {"serenya:apiDomain": "api.serenya.health",
                 "serenya:apiCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                              "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
                 "serenya:apiOriginCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
                                                    "1c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"}


@pytest.fixture(scope="module")
def domain_run():
    return run_program("prod", config={**stack_config("prod"), **DOMAIN_CONFIG})


def test_a_custom_domain_pins_modern_tls(domain_run):
    cdn = domain_run.mocks.one("aws:cloudfront/distribution:Distribution").inputs
    assert cdn["aliases"] == ["api.serenya.health"]
    assert cdn["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert cdn["viewerCertificate"]["sslSupportMethod"] == "sni-only"


def test_with_a_domain_cloudfront_reaches_the_api_through_its_regional_custom_domain_only(domain_run):
    """The execute-api endpoint is off (it bypasses CloudFront and the WAF); CloudFront's
    origin is the API's regional custom domain, with the viewer's Host (the domain) forwarded
    so API Gateway and the regional certificate answer it:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-disable-default-endpoint.html"""
    mocks = domain_run.mocks
    api = mocks.one("aws:apigateway/restApi:RestApi")
    assert api.inputs["disableExecuteApiEndpoint"] is True
    domain = mocks.one("aws:apigateway/domainName:DomainName")
    assert domain.inputs["domainName"] == "api.serenya.health"
    assert domain.inputs["endpointConfiguration"] == {"types": "REGIONAL"}
    assert domain.inputs["regionalCertificateArn"] == DOMAIN_CONFIG["serenya:apiOriginCertificateArn"]
    assert domain.inputs["securityPolicy"] == "TLS_1_2"
    mapping = mocks.one("aws:apigateway/basePathMapping:BasePathMapping").inputs
    assert (mapping["restApi"], mapping["stageName"], mapping["domainName"]) == (api.id, "v1", "api.serenya.health")
    cdn = mocks.one("aws:cloudfront/distribution:Distribution").inputs
    origin, = cdn["origins"]
    assert origin["domainName"] == domain.state["regionalDomainName"] and origin["originPath"] == ""
    assert ".execute-api." in origin["domainName"] and not origin["domainName"].startswith(api.id)
    assert cdn["defaultCacheBehavior"]["originRequestPolicyId"] == ALL_VIEWER
    deployment = mocks.one("aws:apigateway/deployment:Deployment").inputs
    assert deployment["triggers"]["execute_api_disabled"] == "true"  # the change needs a deployment


def test_with_a_domain_no_regional_web_acl_is_needed_and_none_is_logged(domain_run):
    """The endpoint is off, so every request comes through CloudFront and its ACL: no
    regional ACL, association or alarm, and no wafStatus (it would always be empty)."""
    mocks = domain_run.mocks
    assert [a.inputs["scope"] for a in mocks.of_type(WEB_ACL)] == ["CLOUDFRONT"]
    assert not mocks.of_type(ASSOCIATION)
    log_format = json.loads(mocks.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]["format"])
    assert "wafStatus" not in log_format and log_format["requestId"] == "$context.requestId"
    alarms = {a.inputs["name"] for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {n for n in alarms if n.endswith("-blocked")} == {"serenya-prod-waf-blocked"}


def test_without_a_domain_the_endpoint_stays_on_for_cloudfront_or_the_app(stack):
    """CloudFront without a custom domain can reach only the execute-api domain, and
    `serenya:cloudFront: false` serves the app there: both keep it on (and nothing else exists)."""
    assert stack.mocks.one("aws:apigateway/restApi:RestApi").inputs["disableExecuteApiEndpoint"] is False
    assert not stack.mocks.of_type("aws:apigateway/domainName:DomainName")
    cdn = stack.mocks.one("aws:cloudfront/distribution:Distribution").inputs
    assert cdn["defaultCacheBehavior"]["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST


def test_permissions_name_the_function_and_the_alias_apart(stack):
    """A qualified ARN in `function` is read back as name plus qualifier and replaces the
    permission on every `pulumi up` (hashicorp/terraform-provider-aws#38558)."""
    names = {f.inputs["name"] for f in stack.mocks.of_type("aws:lambda/function:Function")}
    warm = {f"serenya-{stack.settings.env}-{fn.name}" for fn in CATALOG
            if fn.warm and stack.settings.provisioned_concurrency > 0}
    permissions = stack.mocks.of_type("aws:lambda/permission:Permission")
    assert len(permissions) >= 14
    for p in permissions:
        assert p.inputs["function"] in names, p.name  # a plain function name, never an ARN
        assert p.inputs.get("qualifier") == ("live" if p.inputs["function"] in warm else None), p.name
    if stack.settings.is_production:
        assert {p.inputs["function"] for p in permissions if p.inputs.get("qualifier")} == warm
        assert len(warm) == 5
