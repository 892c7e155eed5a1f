"""The procedures of the runbooks, as the exact commands for one stack.

Names come from the same Settings and catalog the program builds its resources from
(function, queue, table and key alias names are set by the program, never generated),
so the commands name the stack's real resources; what only exists after a deployment
(queue URLs, the stream ARN) is looked up by the commands themselves. Alarms list the
procedures their runbook section spells out (`AlarmSpec.procedures`):

- `rollback:<function>`: point the function's `live` alias back at its previous version
  (warm functions where the stack keeps them warm), or redeploy the previous release;
- `redrive:<function>`: replay what its failure queue holds through the function;
- `restore-table`: restore the table to a point in time, beside the live one;
- what the critical alarms' playbooks (components/runbook_text.Playbook) run: the first
  command of their first five minutes (`alarms-firing`, `errors:<function>`,
  `duration:<function>`, `unhandled-errors`, `check-table`) and the mitigations of their
  causes (`switch-model`, `pause-jobs`).

Lambda's failure queues are not SQS dead-letter queues of another queue, so SQS's own
redrive (`aws sqs start-message-move-task`) refuses them: "Non-SQS queue sources of
dead-letter queues, such as Lambda or Amazon SNS topics, are currently not supported"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
An asynchronous invocation's failure is the event itself, with the error in message
attributes (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
it is replayed by invoking the function with it. A stream batch's failure is a record of
the batch's shard and sequence numbers, not its records
(https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html): the records
are read back from the stream, which keeps them 24 hours
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.config import DEFAULT_BEDROCK_MODELS, Settings
from functions.catalog import Function, S3Trigger, ScheduleTrigger, StreamTrigger

RESTORE_TABLE = "restore-table"
# Another model's inference profile of the same geography, to move to while the configured
# one is throttled or down: a separate quota, another model's capacity. Not a `global.`
# profile: serenya:bedrockModelId refuses those, data stays in its geography
# (components/config.PROFILE_GEOGRAPHIES). Sonnet 4.5 costs about 3 times Haiku 4.5 per token.
FALLBACK_MODELS = {
    "eu": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
}
# The GNU date of the last half hour, for the CLI's metric commands.
_SINCE = '--start-time "$(date -u -d \'-30 minutes\' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)"'


@dataclass(frozen=True)
class Procedure:
    key: str  # rollback:auth, redrive:process, restore-table
    title: str
    when: str  # what it does and when to use it
    commands: str  # a shell block: bash with the AWS CLI v2 (and jq for the redrives)

    @property
    def anchor(self) -> str:
        return self.key.replace(":", "-")


# What `aws dynamodbstreams get-records` printed as an ISO 8601 time in UTC, as epoch
# seconds again: the stream record Lambda delivered (and the audit events are dated by).
_EPOCH_SECONDS = (
    '.dynamodb.ApproximateCreationDateTime |= (if type == "string" then '
    '(sub("\\\\.[0-9]+"; "") | sub("\\\\+00:00$"; "Z") | fromdateiso8601) else . end)'
)


def _aws(settings: Settings, service: str, command: str) -> str:
    return f"aws {service} {command} --region {settings.region}"


def rollback(fn: Function, settings: Settings) -> Procedure:
    name, alias = settings.name(fn.name), settings.live_alias(fn)
    if alias:
        get_alias = _aws(settings, "lambda", f"get-alias --function-name {name} --name {alias}")
        versions = _aws(settings, "lambda", f"list-versions-by-function --function-name {name}")
        update = _aws(settings, "lambda", f"update-alias --function-name {name} --name {alias}")
        return Procedure(
            f"rollback:{fn.name}",
            f"Roll back {fn.name} through its `{alias}` alias",
            f"Everything invokes {name} through `{alias}`, which points at a published version: pointing it at "
            f"the previous one rolls the code back at once (provisioned concurrency follows the alias within "
            f"minutes). The next `pulumi up --stack {settings.env}` points it at the program's version again: "
            f"revert the release in git first.",
            "\n".join(
                [
                    f"CURRENT=$({get_alias} --query FunctionVersion --output text)",
                    f"PREVIOUS=$({versions} --query \"Versions[?Version!='\\$LATEST'].Version\" --output text "
                    "| tr '\\t' '\\n' | sort -n | awk -v current=\"$CURRENT\" '$1 < current' | tail -1)",
                    f'echo "{alias}: version $CURRENT -> $PREVIOUS"',
                    f'{update} --function-version "$PREVIOUS"',
                ]
            ),
        )
    return Procedure(
        f"rollback:{fn.name}",
        f"Roll back {fn.name} by redeploying the previous release",
        f"{name} has no alias in the {settings.env} stack (it is invoked unqualified and publishes no versions): "
        f"roll back by reverting the release in git and deploying it.",
        "\n".join(
            [
                f"git log --oneline -10 -- functions/{fn.name} functions/common components"
                "   # the releases that changed it",
                "git revert --no-edit <commit of the bad release>",
                f"pulumi up --stack {settings.env}",
            ]
        ),
    )


def redrive(fn: Function, settings: Settings) -> Procedure:
    name, queue, alias = settings.name(fn.name), settings.name(fn.name, "failures"), settings.live_alias(fn)
    target = f"--function-name {name}" + (f" --qualifier {alias}" if alias else "")
    queue_url = _aws(settings, "sqs", f"get-queue-url --queue-name {queue}")
    receive = _aws(settings, "sqs", 'receive-message --queue-url "$QUEUE"')
    delete = _aws(settings, "sqs", 'delete-message --queue-url "$QUEUE"')
    if isinstance(fn.trigger, StreamTrigger):
        iterator = _aws(settings, "dynamodbstreams", "get-shard-iterator")
        records = _aws(settings, "dynamodbstreams", 'get-records --shard-iterator "$ITERATOR"')
        invoke = _aws(settings, "lambda", f"invoke {target} --payload fileb://event.json response.json")
        return Procedure(
            f"redrive:{fn.name}",
            f"Replay the failed stream batches of {fn.name}",
            f"Each message of {queue} describes one batch of the table's stream that failed after every retry "
            f"(its shard and first sequence number, not the records). Fix the cause first. Then, one message at "
            f"a time, read the batch back from the stream and invoke {name} with it: the audit files are named "
            f"after the shard and sequence numbers, so a replay overwrites rather than duplicates. The stream "
            f"keeps records 24 hours: an older batch's audit events are lost (the table keeps the current state).",
            "\n".join(
                [
                    f"QUEUE=$({queue_url} --query QueueUrl --output text)",
                    f"{receive} --max-number-of-messages 1 --visibility-timeout 900 > message.json",
                    "jq -r '.Messages[0].Body' message.json | jq '.DDBStreamBatchInfo' > batch.json"
                    "   # shard, sequence numbers",
                    f'ITERATOR=$({iterator} --stream-arn "$(jq -r .streamArn batch.json)" '
                    '--shard-id "$(jq -r .shardId batch.json)" --shard-iterator-type AT_SEQUENCE_NUMBER '
                    '--sequence-number "$(jq -r .startSequenceNumber batch.json)" --query ShardIterator --output text)',
                    # The CLI prints times in ISO 8601 (v2's cli_timestamp_format), in the local
                    # zone; Lambda delivers epoch seconds, which the audit events are dated by.
                    f'TZ=UTC {records} --limit "$(jq -r .batchSize batch.json)" > records.json',
                    'jq --arg arn "$(jq -r .streamArn batch.json)" '
                    f"'{{Records: [.Records[] | . + {{eventSourceARN: $arn}} | {_EPOCH_SECONDS}]}}' "
                    "records.json > event.json",
                    f'{invoke} && cat response.json   # {{"batchItemFailures": []}}: every record written',
                    f"{delete} --receipt-handle \"$(jq -r '.Messages[0].ReceiptHandle' message.json)\"",
                ]
            ),
        )
    what = {S3Trigger: "S3 notification", ScheduleTrigger: "scheduled event"}.get(type(fn.trigger), "event")
    invoke = _aws(settings, "lambda", f"invoke {target} --invocation-type Event")
    return Procedure(
        f"redrive:{fn.name}",
        f"Replay the failed events of {fn.name}",
        f"Each message of {queue} is a {what} that {name} failed on after its retries, unchanged, with the error in "
        f"its ErrorCode and ErrorMessage attributes. Fix the cause first (the errors tell which), then invoke the "
        f"function with each event again, asynchronously as its trigger does, and delete the message once "
        f"accepted. The function is idempotent for a repeated event.",
        "\n".join(
            [
                f"QUEUE=$({queue_url} --query QueueUrl --output text)",
                f"{receive} --max-number-of-messages 10 --visibility-timeout 600 --message-attribute-names All "
                "> messages.json",
                "jq -r '.Messages[] | .MessageAttributes.ErrorMessage.StringValue' messages.json   # why each failed",
                "jq -c '.Messages[]' messages.json | while read -r message; do",
                f"  {invoke} --cli-binary-format raw-in-base64-out "
                '--payload "$(jq -r .Body <<<"$message")" /dev/null \\',
                f'  && {delete} --receipt-handle "$(jq -r .ReceiptHandle <<<"$message")"',
                "done   # repeat while messages.json has messages",
            ]
        ),
    )


def restore_table(settings: Settings) -> Procedure:
    table = settings.name()
    title = f"Restore {table} to a point in time"
    backups = (
        _aws(settings, "dynamodb", f"describe-continuous-backups --table-name {table}")
        + " --query ContinuousBackupsDescription.PointInTimeRecoveryDescription"
    )
    if not settings.point_in_time_recovery:
        return Procedure(
            RESTORE_TABLE,
            title,
            f"Point-in-time recovery is off in the {settings.env} stack (serenya:pointInTimeRecovery): there is "
            f"nothing to restore from. Check that it is still off:",
            backups,
        )
    restore = _aws(settings, "dynamodb", f"restore-table-to-point-in-time --source-table-name {table}")
    return Procedure(
        RESTORE_TABLE,
        title,
        f"When a release wrote bad items. DynamoDB restores into a new table: the stack keeps using {table}, so "
        f"restore beside it, compare, and copy the damaged items back, then delete the copy. The copy is encrypted "
        f"with the stack's storage key like the table; it has no stream, TTL or point-in-time recovery. Pick a "
        f"UTC time before the damage within the restorable window the first command shows.",
        "\n".join(
            [
                f"{backups}   # EarliestRestorableDateTime, LatestRestorableDateTime",
                f"RESTORED={table}-restored-$(date -u +%Y%m%d%H%M)",
                f'{restore} --target-table-name "$RESTORED" --restore-date-time <UTC time before the damage> '
                f"--sse-specification-override Enabled=true,SSEType=KMS,KMSMasterKeyId=alias/{table}",
                _aws(settings, "dynamodb", 'wait table-exists --table-name "$RESTORED"'),
                f"# ...compare and copy the damaged items back into {table}, then:",
                _aws(settings, "dynamodb", 'delete-table --table-name "$RESTORED"'),
            ]
        ),
    )


def alarms_firing(settings: Settings) -> Procedure:
    describe = _aws(
        settings, "cloudwatch", f"describe-alarms --state-value ALARM --alarm-name-prefix {settings.name()}-"
    )
    return Procedure(
        "alarms-firing",
        "List the stack's alarms in ALARM, oldest first",
        "The first to fire is usually the cause, the later ones its consequences.",
        f"{describe} --query 'sort_by(MetricAlarms, &StateUpdatedTimestamp)[].[StateUpdatedTimestamp, AlarmName]' "
        "--output table",
    )


def function_errors(fn: Function, settings: Settings) -> Procedure:
    group = f"/aws/lambda/{settings.name(fn.name)}"
    return Procedure(
        f"errors:{fn.name}",
        f"Tail the errors of {fn.name}",
        f"The last 15 minutes of ERROR lines of {group} (error_type, error_code, the traceback): no personal "
        "data is logged, so they can be shared in the incident channel.",
        _aws(settings, "logs", f"tail {group} --since 15m --format short --filter-pattern '{{ $.level = \"ERROR\" }}'"),
    )


def function_duration(fn: Function, settings: Settings) -> Procedure:
    return Procedure(
        f"duration:{fn.name}",
        f"Duration p99 of {fn.name} over the last half hour",
        f"Per 5 minutes: did {fn.name} itself get slower (then its dependencies or its release), or is the time "
        "spent in the gateway (compare the saved query's integrationLatency with responseLatency)?",
        _aws(
            settings,
            "cloudwatch",
            f"get-metric-statistics --namespace AWS/Lambda --metric-name Duration "
            f"--dimensions Name=FunctionName,Value={settings.name(fn.name)} --extended-statistics p99 --period 300 "
            f"{_SINCE} --query 'sort_by(Datapoints, &Timestamp)[].[Timestamp, ExtendedStatistics.p99]' --output table",
        ),
    )


def unhandled_errors(settings: Settings) -> Procedure:
    # The resolver answers an exception with a 500 (functions/common/http.py), so Lambda's
    # Errors stay 0: UnhandledErrors, per function, is where an API-wide 5XX shows.
    search = (
        f'SEARCH(\'{{Serenya,service,stack,function}} MetricName="UnhandledErrors" '
        f'service="{settings.project}" stack="{settings.env}"\', \'Sum\', 300)'
    )
    query = json.dumps([{"Id": "unhandled", "Expression": search}])
    return Procedure(
        "unhandled-errors",
        "Which API functions answered 500 in the last half hour",
        "The API's functions answer an unexpected exception with a 500 `internal_error` and count it in "
        "UnhandledErrors; Lambda's Errors stay 0 for them. The function with the most is where to look first.",
        "\n".join(
            [
                "cat > unhandled.json <<'EOF'",
                query,
                "EOF",
                _aws(settings, "cloudwatch", f"get-metric-data --metric-data-queries file://unhandled.json {_SINCE}")
                + " --query 'MetricDataResults[].[Label, sum(Values)]' --output table",
            ]
        ),
    )


def check_table(settings: Settings) -> Procedure:
    table = settings.name()
    return Procedure(
        "check-table",
        f"Check {table} and its key",
        f"The table should be ACTIVE with its encryption ENABLED; INACCESSIBLE_ENCRYPTION_CREDENTIALS means the "
        f"stack's storage key (alias/{table}) is disabled or scheduled for deletion, which fails every request: "
        f"`aws kms enable-key` or `aws kms cancel-key-deletion` on it. The key should be Enabled.",
        "\n".join(
            [
                _aws(settings, "dynamodb", f"describe-table --table-name {table}")
                + " --query 'Table.[TableStatus, SSEDescription.Status]' --output text",
                _aws(settings, "kms", f"describe-key --key-id alias/{table}") + " --query KeyMetadata.KeyState",
            ]
        ),
    )


def switch_model(settings: Settings) -> Procedure:
    current = settings.bedrock_model_id
    candidates = (FALLBACK_MODELS.get(current.partition(".")[0]), DEFAULT_BEDROCK_MODELS.get(settings.region[:2]))
    fallback = next((m for m in candidates if m and m != current), "<another inference profile of the geography>")
    stack = settings.env
    return Procedure(
        "switch-model",
        "Move the analyses to another model's inference profile",
        f"While {current} is throttled or down: another model's profile of the same geography has its own quota "
        f"and capacity. Preflight checks the account may invoke it before the deployment moves the process role "
        f"and the functions to it; replies are validated as before. Commit the stack file, and move back once "
        f"Bedrock has recovered (the second line).",
        "\n".join(
            [
                f"pulumi config set serenya:bedrockModelId {fallback} --stack {stack} "
                f"&& make preflight STACK={stack} && pulumi up --stack {stack}",
                f"pulumi config set serenya:bedrockModelId {current} --stack {stack} && pulumi up --stack {stack}"
                "   # back, after recovery",
            ]
        ),
    )


def pause_jobs(settings: Settings) -> Procedure:
    stack = settings.env
    return Procedure(
        "pause-jobs",
        "Pause new model jobs (serenya:newJobsPaused)",
        "While the model cannot answer, new documents, chat messages and doctor reports would each burn their "
        "retries and end failed (and count against the user's quota). Paused, the functions that start model "
        "work answer 503 `jobs_paused` with Retry-After at once, which the app shows as a clear message; jobs "
        "already started finish or fail as before. The 503s are API 5XX: api-5xx and the availability burn "
        "alarms stay in ALARM while paused, as they should (users cannot start work). Resume once the model "
        "answers again (the second line).",
        "\n".join(
            [
                f"pulumi config set serenya:newJobsPaused true --stack {stack} && pulumi up --stack {stack}",
                f"pulumi config set serenya:newJobsPaused false --stack {stack} && pulumi up --stack {stack}"
                "   # resume",
            ]
        ),
    )


REWRITE_LEGACY = "rewrite-legacy-audit-days"


def rewrite_legacy(fn: Function, settings: Settings) -> Procedure:
    name = settings.name(fn.name)
    invoke = _aws(
        settings,
        "lambda",
        f"invoke --function-name {name} --payload '{{\"rewrite_legacy\": true}}' "
        "--cli-binary-format raw-in-base64-out --cli-read-timeout 0 rewrite.json",
    )
    return Procedure(
        REWRITE_LEGACY,
        "Rewrite the audit days written before schema 4 (user ids) in one run",
        "Once, after the upgrade to schema 4, and again after restoring audit files from before it: every "
        "day that still names people by the app's user id is rewritten, each user id becoming the account's "
        "current analytics id while the account exists, else one random id per person for the whole run "
        "(its key is never stored), so that person's days still join up. The run stops a minute before its "
        "timeout with `complete: false`: the loop runs it again for the rest (the ids of deleted accounts then differ "
        "between the two runs' days). Safe to re-run: a rewritten day is not touched again.",
        "\n".join(
            [
                f"for run in 1 2 3 4 5; do {invoke} >/dev/null || break; "
                "jq -e .complete rewrite.json && break; cat rewrite.json; done",
                "jq '{days, compacted: (.compacted | length), account_lookups}' rewrite.json",
            ]
        ),
    )


def all_procedures(catalog: tuple[Function, ...], settings: Settings) -> dict[str, Procedure]:
    found = [rollback(fn, settings) for fn in catalog]
    found += [redrive(fn, settings) for fn in catalog if fn.trigger is not None]
    found.append(restore_table(settings))
    found.append(alarms_firing(settings))
    found += [function_errors(fn, settings) for fn in catalog]
    found += [function_duration(fn, settings) for fn in catalog if any(r.latency_p99_ms for r in fn.routes)]
    if any(fn.routes for fn in catalog):
        found.append(unhandled_errors(settings))
    found.append(check_table(settings))
    found += [rewrite_legacy(fn, settings) for fn in catalog if fn.access.analytics_ids and fn.access.events_write]
    if any(fn.access.bedrock for fn in catalog):
        found += [switch_model(settings), pause_jobs(settings)]
    return {p.key: p for p in found}
