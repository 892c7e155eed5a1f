"""ProcessingLayer: every Lambda function of the catalog, with its role, logs and triggers.

One `ServerlessFunction` per catalog entry; nothing here names a particular function.
What an entry touches decides its IAM statements (components/iam.py) and its
environment; its trigger decides the wiring (S3 notification, stream mapping, schedule).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import iam, packaging
from components.alarms import NAMESPACE
from components.config import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LIVE_ALIAS, Settings
from components.lambda_limits import DIRECT_UPLOAD_MAX_BYTES
from components.queries import function_log_group
from components.storage import LifecycleRule, SecureBucket, SecureBucketArgs, StorageLayer
from functions.catalog import Function, S3Trigger, ScheduleTrigger, StreamTrigger, TableAccess

# Lambda copies a layer's archive when it publishes the version, so an archive object is
# only needed while its version is created; this sweeps what a failed deployment leaves.
ARTIFACT_DAYS = 30


# The table's TTL deletes (usage records after two days) reach the stream with
# userIdentity {"type": "Service", "principalId": "dynamodb.amazonaws.com"}; the app's own
# writes and deletes (an account's DELETE) carry no userIdentity. The audit events need
# nothing of an expiry, so the mapping delivers only records without that identity: no
# invocation for a batch of expiries. Lambda delivers a record that matches any filter.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html#filtering-syntax
STREAM_FILTERS: tuple[dict, ...] = (
    {"userIdentity": {"type": [{"exists": False}]}},
    {"userIdentity": {"principalId": [{"anything-but": ["dynamodb.amazonaws.com"]}]}},
)


def function_environment(
    fn: Function, settings: Settings, resources: Mapping[str, pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """Environment of one function: Powertools settings plus only the resources it touches.

    `resources` maps TABLE_NAME, TEMP_BUCKET, EVENTS_BUCKET, DATA_KEY_ARN (the storage key),
    PII_KEY_ARN, EMAIL_MAC_KEY_ARN, SIGNING_KEY_ARN and SECRET_ARN to their values (plain strings or Outputs)."""
    a = fn.access
    env: dict[str, pulumi.Input[str]] = {
        "SERENYA_ENV": settings.env,
        "POWERTOOLS_SERVICE_NAME": settings.project,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,  # what the alarms and dashboards read
        "POWERTOOLS_LOG_LEVEL": "DEBUG" if settings.detailed_logging else "INFO",
        # Events carry tokens and personal data: they are never logged.
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }
    wanted = {
        "TABLE_NAME": fn.table_access is not TableAccess.NONE or a.canary_account,
        "TEMP_BUCKET": bool(a.temp_read or a.temp_write or a.temp_delete),
        # Objects are written SSE-KMS under the storage key, named in the request.
        "DATA_KEY_ARN": bool(a.temp_write or a.events_write),
        "PII_KEY_ARN": a.pii_key is not None,
        "EMAIL_MAC_KEY_ARN": a.email_mac,
        "EVENTS_BUCKET": a.events_read or a.events_write,
        "SIGNING_KEY_ARN": a.signing_key is not None,
        "CANARY_SIGNING_KEY_ARN": a.canary_signing_key is not None,
        "SECRET_ARN": a.secrets,
    }
    env.update({key: resources[key] for key, needed in wanted.items() if needed})
    if a.bedrock:
        env["BEDROCK_MODEL_ID"] = settings.bedrock_model_id
    if fn.routes:
        env["ALLOWED_ORIGINS"] = ",".join(settings.allowed_origins)
    if a.quota or a.quota_view:
        env["QUOTAS"] = settings.quotas
    if a.quota:  # the functions that start model work: on-call's switch (serenya:newJobsPaused)
        env["NEW_JOBS_PAUSED"] = "true" if settings.new_jobs_paused else "false"
    if a.stores and settings.stores:
        st = settings.stores
        env.update(
            {
                "APPLE_BUNDLE_ID": st.apple_bundle_id,
                "APPLE_ENVIRONMENT": st.apple_environment,
                "APPLE_ROOT_SHA256": st.apple_root_sha256,
                "GOOGLE_PACKAGE_NAME": st.google_package_name,
                "GOOGLE_PUBSUB_AUDIENCE": st.google_pubsub_audience,
                "GOOGLE_PUBSUB_SERVICE_ACCOUNT": st.google_pubsub_service_account,
                "PREMIUM_PRODUCTS": ",".join(st.premium_products),
            }
        )
        if st.play_api_base_url:
            env["PLAY_API_BASE_URL"] = st.play_api_base_url
    if a.oauth:
        env["GOOGLE_CLIENT_IDS"] = ",".join(settings.google_client_ids)
        env["APPLE_CLIENT_IDS"] = ",".join(settings.apple_client_ids)
    return env


@dataclass(frozen=True)
class FunctionArgs:
    spec: Function
    settings: Settings
    storage: StorageLayer
    account_id: pulumi.Input[str]
    layers: tuple[pulumi.Input[str], ...]


class ServerlessFunction(pulumi.ComponentResource):
    """One catalog entry as a Lambda function: role, policy, log group, optional failure
    queue, the function itself and, where it should stay warm, an alias with provisioned
    concurrency. `target_arn` is what triggers and the API invoke."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:processing:Function", name, None, opts)
        fn, s, storage = args.spec, args.settings, args.storage
        child = pulumi.ResourceOptions(parent=self)
        self.function_name = s.name(fn.name)

        self.role = aws.iam.Role(
            name,
            name=self.function_name,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(_lambda_trust_policy(account))
            ),
            opts=child,
        )

        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=function_log_group(s, fn.name),
            retention_in_days=s.log_retention_days,
            kms_key_id=storage.data_key.arn,
            opts=child,
        )

        # Failures of asynchronous and stream invocations land in a queue, never nowhere.
        self.failure_queue: aws.sqs.Queue | None = None
        if fn.trigger is not None:
            self.failure_queue = aws.sqs.Queue(
                f"{name}-failures",
                name=s.name(fn.name, "failures"),
                message_retention_seconds=14 * 24 * 3600,
                sqs_managed_sse_enabled=True,
                opts=child,
            )

        arns = pulumi.Output.all(
            region=s.region,
            account_id=args.account_id,
            log_group=self.log_group.arn,
            table=storage.table.arn,
            table_stream=storage.table.stream_arn,
            temp_bucket=storage.temp_bucket.arn,
            events_bucket=storage.events_bucket.arn,
            data_key=storage.data_key.arn,
            signing_key=storage.signing_key.arn,
            canary_signing_key=storage.canary_signing_key.arn,
            secret=storage.secret.arn,
            failure_queue=self.failure_queue.arn if self.failure_queue else "",
            pii_key=storage.pii_key.arn,
            email_mac_key=storage.email_mac_key.arn,
        ).apply(lambda v: iam.StackArns(bedrock_model_id=s.bedrock_model_id, **v))
        self.policy = aws.iam.RolePolicy(
            name, role=self.role.id, policy=arns.apply(lambda a: json.dumps(iam.policy_document(fn, a))), opts=child
        )

        environment = function_environment(
            fn,
            s,
            {
                "TABLE_NAME": storage.table.name,
                "TEMP_BUCKET": storage.temp_bucket.name,
                "EVENTS_BUCKET": storage.events_bucket.name,
                "DATA_KEY_ARN": storage.data_key.arn,
                "PII_KEY_ARN": storage.pii_key.arn,
                "EMAIL_MAC_KEY_ARN": storage.email_mac_key.arn,
                "SIGNING_KEY_ARN": storage.signing_key.arn,
                "CANARY_SIGNING_KEY_ARN": storage.canary_signing_key.arn,
                "SECRET_ARN": storage.secret.arn,
            },
        )
        warm = s.live_alias(fn) is not None
        self.function = aws.lambda_.Function(
            name,
            name=self.function_name,
            description=fn.description,
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler=fn.handler,
            code=packaging.function_archive(fn.name, fn.bundles),
            memory_size=fn.memory_mb,
            timeout=fn.timeout_s,
            layers=list(args.layers),
            # A stack value set as a secret stays one in state (the environment holds settings).
            environment={"variables": pulumi.Output.secret(environment) if s.secret_keys else environment},
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "log_group": self.log_group.name,
                "application_log_level": s.application_log_level,
                "system_log_level": s.system_log_level,
            },
            reserved_concurrent_executions=s.reserved_for(fn.name),
            dead_letter_config=(
                {"target_arn": self.failure_queue.arn} if self.failure_queue and fn.invoked_asynchronously else None
            ),
            publish=warm,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]),
        )

        self.target_arn: pulumi.Output[str] = self.function.arn
        self.invoke_arn: pulumi.Output[str] = self.function.invoke_arn
        # Lambda permissions name the function and the alias apart (see `permission`).
        self.qualifier: str | None = None
        if warm:
            self.alias = aws.lambda_.Alias(
                name,
                name=LIVE_ALIAS,
                function_name=self.function.name,
                function_version=self.function.version,
                opts=child,
            )
            aws.lambda_.ProvisionedConcurrencyConfig(
                name,
                function_name=self.function.name,
                qualifier=self.alias.name,
                provisioned_concurrent_executions=s.provisioned_concurrency,
                opts=child,
            )
            self.target_arn, self.invoke_arn = self.alias.arn, self.alias.invoke_arn
            self.qualifier = LIVE_ALIAS

        if isinstance(fn.trigger, (S3Trigger, ScheduleTrigger)):  # fn.invoked_asynchronously, narrowed
            retries = fn.trigger.retries
            aws.lambda_.FunctionEventInvokeConfig(
                name,
                function_name=self.function.name,
                qualifier=LIVE_ALIAS if warm else "$LATEST",
                maximum_retry_attempts=retries.attempts,
                maximum_event_age_in_seconds=retries.max_age_s,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.alias] if warm else []),
            )

        self.register_outputs({"name": self.function.name, "target_arn": self.target_arn})


def permission(
    resource: str,
    target: ServerlessFunction,
    principal: str,
    source_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    source_account: pulumi.Input[str] | None = None,
) -> aws.lambda_.Permission:
    """Lets `principal` invoke what the trigger calls (the `live` alias of a warm function).

    The function is given by name and the alias as `qualifier`: Lambda stores a permission
    on an alias that way, and the provider reads it back so, so a qualified ARN in
    `function` would differ from state on every `pulumi up` and replace the permission
    (https://github.com/hashicorp/terraform-provider-aws/issues/38558;
    https://www.pulumi.com/registry/packages/aws/api-docs/lambda/permission/)."""
    return aws.lambda_.Permission(
        resource,
        action="lambda:InvokeFunction",
        principal=principal,
        function=target.function.name,
        qualifier=target.qualifier,
        source_arn=source_arn,
        source_account=source_account,
        opts=opts,
    )


def _lambda_trust_policy(account_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


@dataclass(frozen=True)
class ProcessingArgs:
    settings: Settings
    storage: StorageLayer
    account_id: pulumi.Input[str]
    catalog: tuple[Function, ...]
    layer_dirs: Mapping[str, Path]  # from packaging.layer_paths()


def needs_s3(archive: Path) -> bool:
    """Whether a built layer archive is over Lambda's direct-upload limit. An archive not
    built (the program under mocks, which never builds) has no size to go by."""
    return archive.is_file() and archive.stat().st_size >= DIRECT_UPLOAD_MAX_BYTES


class ProcessingLayer(pulumi.ComponentResource):
    """All functions of the catalog and the triggers that invoke them."""

    def __init__(self, name: str, args: ProcessingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:processing:ProcessingLayer", name, None, opts)
        s, storage = args.settings, args.storage
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)

        archives = {layer: packaging.layer_archive(path) for layer, path in args.layer_dirs.items()}
        # Measured once: the bucket exists exactly when an archive is to go through it.
        through_s3 = {layer for layer, archive in archives.items() if needs_s3(archive)}
        self.artifacts: SecureBucket | None = None
        if through_s3:
            # Its own bucket, made only when an archive needs it: the temp bucket holds
            # health data for 2 days, the events bucket the 7-year audit trail, and the
            # Athena one expires everything in a week; deploy artifacts fit none of them.
            self.artifacts = SecureBucket(
                f"{name}-artifacts",
                SecureBucketArgs(
                    bucket_name=pulumi.Output.from_input(args.account_id).apply(
                        lambda account: f"{s.name('artifacts')}-{account}"
                    ),
                    kms_key_arn=storage.data_key.arn,
                    lifecycle=[LifecycleRule("expire-layers", "layers/", ARTIFACT_DAYS)],
                ),
                opts=child,
            )
        layers = {
            layer: self._layer_version(name, layer, archive, s, self.artifacts if layer in through_s3 else None)
            for layer, archive in archives.items()
        }

        self.functions: dict[str, ServerlessFunction] = {}
        for fn in args.catalog:
            own = tuple(layers[layer].arn for layer in packaging.layers_of(fn, layers))
            self.functions[fn.name] = ServerlessFunction(
                f"{name}-{fn.name}",
                FunctionArgs(
                    spec=fn,
                    settings=s,
                    storage=storage,
                    account_id=args.account_id,
                    layers=(s.powertools_layer_arn, *own),
                ),
                opts=child,
            )

        self._wire_s3(name, args, child)
        for fn in args.catalog:
            target = self.functions[fn.name]
            if isinstance(fn.trigger, StreamTrigger):
                self._wire_stream(name, fn, fn.trigger, target, storage, child)
            elif isinstance(fn.trigger, ScheduleTrigger) and not fn.trigger.public_url:
                self._wire_schedule(name, fn, fn.trigger, target, args.account_id, child)

        self.register_outputs({"functions": {n: f.function.name for n, f in self.functions.items()}})

    def _layer_version(
        self, name: str, layer: str, archive: Path, s: Settings, artifacts: SecureBucket | None
    ) -> aws.lambda_.LayerVersion:
        """The layer's version, its archive uploaded directly or, over the direct-upload
        limit, through `artifacts`."""
        opts = pulumi.ResourceOptions(parent=self)
        if artifacts is None:
            # A .zip FileArchive reaches Lambda byte for byte: the size measured is the size sent.
            return aws.lambda_.LayerVersion(
                f"{name}-layer-{layer}",
                layer_name=s.name("layer", layer),
                compatible_runtimes=[LAMBDA_RUNTIME],
                compatible_architectures=[LAMBDA_ARCHITECTURE],
                code=pulumi.FileArchive(str(archive)),
                opts=opts,
            )
        # Over the direct-upload limit: Lambda reads the archive from S3 instead. The key
        # names the build (the layer directory is named by its recipe's hash), so a new
        # build is a new object and a new layer version.
        obj = aws.s3.BucketObjectv2(
            f"{name}-layer-{layer}",
            bucket=artifacts.bucket.id,
            key=f"layers/{archive.parent.name}/{archive.name}",
            source=pulumi.FileAsset(str(archive)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[artifacts.encryption]),
        )
        return aws.lambda_.LayerVersion(
            f"{name}-layer-{layer}",
            layer_name=s.name("layer", layer),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            s3_bucket=obj.bucket,
            s3_key=obj.key,
            opts=opts,
        )

    def _wire_s3(self, name: str, args: ProcessingArgs, child: pulumi.ResourceOptions) -> None:
        # A bucket has exactly one notification configuration: all S3 triggers go in it.
        triggered = [(fn, fn.trigger) for fn in args.catalog if isinstance(fn.trigger, S3Trigger)]
        if not triggered:
            return
        bucket = args.storage.temp_bucket
        permissions = [
            permission(
                f"{name}-{fn.name}-s3",
                self.functions[fn.name],
                "s3.amazonaws.com",
                bucket.arn,
                child,
                source_account=args.account_id,
            )
            for fn, _ in triggered
        ]
        aws.s3.BucketNotification(
            f"{name}-temp-notifications",
            bucket=bucket.bucket.id,
            lambda_functions=[
                {
                    "lambda_function_arn": self.functions[fn.name].target_arn,
                    "events": ["s3:ObjectCreated:*"],
                    "filter_prefix": trigger.prefix,
                }
                for fn, trigger in triggered
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=permissions),
        )

    def _wire_stream(
        self,
        name: str,
        fn: Function,
        trigger: StreamTrigger,
        target: ServerlessFunction,
        storage: StorageLayer,
        child: pulumi.ResourceOptions,
    ) -> None:
        if target.failure_queue is None:  # ServerlessFunction gives every triggered function one
            raise ValueError(f"{fn.name}: a stream-triggered function without a failure queue")
        aws.lambda_.EventSourceMapping(
            f"{name}-{fn.name}-stream",
            event_source_arn=storage.table.stream_arn,
            function_name=target.target_arn,
            starting_position="TRIM_HORIZON",
            batch_size=trigger.batch_size,
            maximum_batching_window_in_seconds=trigger.batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=trigger.maximum_retry_attempts,
            maximum_record_age_in_seconds=trigger.maximum_record_age_seconds,
            destination_config={"on_failure": {"destination_arn": target.failure_queue.arn}},
            filter_criteria={"filters": [{"pattern": json.dumps(p)} for p in STREAM_FILTERS]},
            opts=child,
        )

    def wire_public_schedules(self, public_url: pulumi.Input[str]) -> None:
        """The schedules whose event names the stack's public URL (the canary's): wired
        once the API exists, which is made after the functions it routes to."""
        child = pulumi.ResourceOptions(parent=self)
        for fn in self._args.catalog:
            if isinstance(fn.trigger, ScheduleTrigger) and fn.trigger.public_url:
                target = self.functions[fn.name]
                self._wire_schedule(self._name, fn, fn.trigger, target, self._args.account_id, child, public_url)

    def _wire_schedule(
        self,
        name: str,
        fn: Function,
        trigger: ScheduleTrigger,
        target: ServerlessFunction,
        account_id: pulumi.Input[str],
        child: pulumi.ResourceOptions,
        public_url: pulumi.Input[str] | None = None,
    ) -> None:
        rule = aws.cloudwatch.EventRule(
            f"{name}-{fn.name}-schedule",
            name=target.function_name,
            schedule_expression=self._args.settings.schedule_expression(fn),
            opts=child,
        )
        permission(f"{name}-{fn.name}-schedule", target, "events.amazonaws.com", rule.arn, child)
        event = (
            pulumi.Output.from_input(public_url).apply(lambda url: json.dumps({"public_url": url}))
            if public_url is not None
            else None
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{fn.name}-schedule", rule=rule.name, arn=target.target_arn, input=event, opts=child
        )
