"""ApiLayer: API Gateway REST from the generated OpenAPI document, the WAF, CloudFront.

Request path: client -> CloudFront (HTTPS only, nothing cached, WAF attached) -> API
Gateway stage (throttling, JSON access logs, X-Ray) -> token authorizer (cached per
token) -> the route's function. The API itself is one OpenAPI document generated from
the catalog (components/openapi.py), so routes cannot drift from the functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import openapi, waf
from components.alarms import route_slug, routes_read_per_method
from components.config import Settings
from components.processing import ServerlessFunction, permission
from components.queries import access_log_group
from components.storage import StorageLayer
from functions.catalog import AUTHORIZER, Function, Route

STAGE = "v1"
# AWS managed CloudFront policies (stable, documented ids).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # forwards Authorization when not caching
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"  # the same, with Host (for a custom-domain origin)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorMessage": "$context.error.message",
    "errorType": "$context.error.responseType",
    "authorizerError": "$context.authorizer.error",
    "authorizerLatency": "$context.authorizer.latency",
    "userAgent": "$context.identity.userAgent",
}  # no user ids, no bodies, no query strings: paths are templates ($context.resourcePath)
# The verdict of a web ACL associated with the stage itself; one on CloudFront only never
# sets it: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html
WAF_STATUS_FIELD = {"wafStatus": "$context.waf.status"}


def access_log_format(regional_waf: bool) -> str:
    """The stage's JSON access log line; `wafStatus` only where a regional ACL exists."""
    return json.dumps({**ACCESS_LOG_FIELDS, **(WAF_STATUS_FIELD if regional_waf else {})})


@dataclass(frozen=True)
class ApiArgs:
    settings: Settings
    storage: StorageLayer
    catalog: tuple[Function, ...]
    functions: Mapping[str, ServerlessFunction]


class ApiLayer(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:api:ApiLayer", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        routed = [fn for fn in args.catalog if fn.routes or fn.name == AUTHORIZER]
        self.acls = waf.web_acls(s)

        names = [fn.name for fn in routed]
        document = pulumi.Output.all(*[args.functions[n].invoke_arn for n in names]).apply(
            lambda arns: json.dumps(
                openapi.for_api_gateway(
                    args.catalog, dict(zip(names, arns, strict=True)), s.name("api"), s.allowed_origins
                ),
                sort_keys=True,
            )
        )
        # The execute-api endpoint bypasses CloudFront. It can only be turned off where
        # CloudFront reaches the API another way: through the API's regional custom domain
        # (the stack's apiDomain, see _origin_domain). A disabled endpoint answers CloudFront
        # 403 too, so without a domain it stays on, behind a regional web ACL of its own
        # (components/waf.py):
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-disable-default-endpoint.html
        self.rest_api = aws.apigateway.RestApi(
            name,
            name=s.name("api"),
            body=document,
            endpoint_configuration={"types": "REGIONAL"},
            disable_execute_api_endpoint=s.execute_api_disabled,
            opts=child,
        )

        for fn in routed:
            # An authorizer is invoked by the API's authorizers, a route's function by its methods.
            pattern = "{}/authorizers/*" if fn.name == AUTHORIZER else "{}/*/*/*"
            permission(
                f"{name}-{fn.name}",
                args.functions[fn.name],
                "apigateway.amazonaws.com",
                self.rest_api.execution_arn.apply(pattern.format),
                child,
            )

        self.deployment = aws.apigateway.Deployment(
            name,
            rest_api=self.rest_api.id,
            # Turning the endpoint off "takes effect when you update ... the deployment on the stage".
            triggers={
                "document": document.apply(lambda d: hashlib.sha256(d.encode()).hexdigest()),
                "execute_api_disabled": str(s.execute_api_disabled).lower(),
            },
            opts=child,
        )

        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access",
            name=access_log_group(s),
            retention_in_days=s.log_retention_days,
            kms_key_id=args.storage.data_key.arn,
            opts=child,
        )
        # Execution logging writes to a group API Gateway would otherwise create itself,
        # unencrypted and kept forever; declared first, it is encrypted and expires.
        self.execution_logs = aws.cloudwatch.LogGroup(
            f"{name}-execution",
            name=self.rest_api.id.apply(lambda api_id: execution_log_group(api_id, STAGE)),
            retention_in_days=s.log_retention_days,
            kms_key_id=args.storage.data_key.arn,
            opts=child,
        )
        self.stage = aws.apigateway.Stage(
            name,
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=STAGE,
            xray_tracing_enabled=True,
            access_log_settings={
                "destination_arn": self.access_logs.arn,
                "format": access_log_format(any(a.scope == "REGIONAL" for a in self.acls)),
            },
            # Access logging needs the region's API Gateway logging role, which the account
            # stack sets (components/account.py) and `make preflight` checks.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.execution_logs]),
        )

        # CloudWatch bills every detailed (per-method) metric: they are on only for the
        # routes whose per-route metrics an alarm or a dashboard reads. A method's own
        # settings replace the stage's, so each repeats the throttling and logging.
        def method_settings(metrics: bool) -> aws.apigateway.MethodSettingsSettingsArgsDict:
            return {
                "throttling_rate_limit": s.api_throttle.rate_limit,
                "throttling_burst_limit": s.api_throttle.burst_limit,
                "metrics_enabled": metrics,
                "logging_level": "INFO" if s.detailed_logging else "ERROR",
                "data_trace_enabled": False,
            }  # never log bodies: they carry health data

        stage_settings = aws.apigateway.MethodSettings(
            name,
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=method_settings(False),
            opts=child,
        )
        for route in routes_read_per_method(args.catalog):
            aws.apigateway.MethodSettings(
                f"{name}-{route_slug(route)}",
                rest_api=self.rest_api.id,
                stage_name=self.stage.stage_name,
                method_path=method_path(route),
                settings=method_settings(True),
                # one stage update at a time: API Gateway answers concurrent ones with a conflict
                opts=pulumi.ResourceOptions(parent=self, depends_on=[stage_settings]),
            )

        self.web_acl: aws.wafv2.WebAcl | None = None  # CloudFront's
        self.regional_web_acl: aws.wafv2.WebAcl | None = None  # the stage's own
        for acl in self.acls:
            if acl.scope == "REGIONAL":
                self.regional_web_acl = self._web_acl(name, acl)
                # The execute-api endpoint is on: without its own ACL it would reach the stage
                # past CloudFront's WAF. Stage ARN format:
                # https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html
                aws.wafv2.WebAclAssociation(
                    f"{name}-waf-regional",
                    resource_arn=pulumi.Output.concat(
                        "arn:aws:apigateway:",
                        s.region,
                        "::/restapis/",
                        self.rest_api.id,
                        "/stages/",
                        self.stage.stage_name,
                    ),
                    web_acl_arn=self.regional_web_acl.arn,
                    opts=child,
                )
            else:
                self.web_acl = self._web_acl(name, acl)
        self.distribution: aws.cloudfront.Distribution | None = None
        self.origin_domain: aws.apigateway.DomainName | None = None
        if s.execute_api_disabled:
            self.origin_domain = self._origin_domain(name, s, child)
        if s.cloudfront:
            self.distribution = self._distribution(name, s)
            self.url = pulumi.Output.concat("https://", self.distribution.domain_name)
        else:  # an account AWS has not verified for CloudFront yet: the stage itself
            self.url = self.stage.invoke_url
        self.register_outputs({"url": self.url, "rest_api_id": self.rest_api.id})

    def _origin_domain(self, name: str, s: Settings, child: pulumi.ResourceOptions) -> aws.apigateway.DomainName:
        """The API's regional custom domain, named like the CloudFront alias: CloudFront
        connects to its regional endpoint and forwards the viewer's Host (the apiDomain),
        which API Gateway and the regional certificate answer to. Viewers resolve the
        domain to CloudFront, so this path is CloudFront's alone."""
        domain = aws.apigateway.DomainName(
            f"{name}-origin",
            domain_name=s.api_domain,
            regional_certificate_arn=s.api_origin_certificate_arn,
            endpoint_configuration={"types": "REGIONAL"},
            security_policy="TLS_1_2",
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            f"{name}-origin",
            domain_name=domain.domain_name,
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            opts=child,
        )
        return domain

    def _web_acl(self, name: str, acl: waf.WebAcl) -> aws.wafv2.WebAcl:
        # CloudFront's lives in us-east-1 whatever the stack's region. The resource names its
        # region (pulumi-aws 7) rather than using a provider of its own, which would drop the
        # stack's aws:profile, aws:assumeRoles and aws:allowedAccountIds:
        # https://www.pulumi.com/registry/packages/aws/how-to-guides/multi-region/
        return aws.wafv2.WebAcl(
            f"{name}-{acl.key}",
            name=acl.name,
            scope=acl.scope,
            default_action={"allow": {}},
            rules=waf.rules(acl),
            visibility_config=waf.visibility(acl.metric_name),
            region=acl.region if acl.scope == "CLOUDFRONT" else None,  # None: the stack's region
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _distribution(self, name: str, s: Settings) -> aws.cloudfront.Distribution:
        if self.web_acl is None:  # waf.web_acls gives CloudFront's ACL whenever CloudFront is on
            raise ValueError(f"{s.env}: CloudFront without its web ACL")
        if self.origin_domain is not None:  # the stage is mapped at the domain's root
            origin, path, request_policy = self.origin_domain.regional_domain_name, "", ALL_VIEWER
        else:  # API Gateway answers 403 to a forwarded Host on its execute-api domain
            origin = pulumi.Output.concat(self.rest_api.id, ".execute-api.", s.region, ".amazonaws.com")
            path, request_policy = f"/{STAGE}", ALL_VIEWER_EXCEPT_HOST
        return aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class="PriceClass_100",
            comment=f"Serenya {s.env} API",
            origins=[
                {
                    "origin_id": "api",
                    "domain_name": origin,
                    "origin_path": path,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "https-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                    },
                }
            ],
            default_cache_behavior={
                "target_origin_id": "api",
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_DISABLED,
                "origin_request_policy_id": request_policy,
                # no `compress`: CloudFront compresses only with a cache policy that enables Gzip
                # or Brotli, and CachingDisabled enables neither:
                # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            aliases=[s.api_domain] if s.api_domain else None,
            viewer_certificate=_certificate(s),
            web_acl_id=self.web_acl.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )


def execution_log_group(rest_api_id: str, stage: str) -> str:
    """The group API Gateway's execution logging writes to (a name it chooses itself):
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html"""
    return f"API-Gateway-Execution-Logs_{rest_api_id}/{stage}"


def _certificate(s: Settings) -> aws.cloudfront.DistributionViewerCertificateArgsDict:
    """TLS 1.2 (2021 ciphers) at least, on the stack's domain. CloudFront's default
    certificate cannot pin a minimum version, so without a domain it is the fallback."""
    if s.api_certificate_arn:
        return {
            "acm_certificate_arn": s.api_certificate_arn,
            "ssl_support_method": "sni-only",
            "minimum_protocol_version": "TLSv1.2_2021",
        }
    return {"cloudfront_default_certificate": True}


def method_path(route: Route) -> str:
    """A route's key in the stage's method settings: `{resource_path}/{http_method}` with
    every "/" of the resource path, the leading one too, escaped as "~1"
    ("/api/v1/x" -> "~1api~1v1~1x/GET"), the key `aws apigateway get-stage` shows and the
    provider passes on unchanged (tests/components/test_api_detailed_metrics.py cites both)."""
    return f"{route.path.replace('/', '~1')}/{route.method}"
