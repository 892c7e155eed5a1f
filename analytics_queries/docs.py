"""docs/audit-events.md from the schema and the named queries (`make audit-docs`)."""

from analytics.schema import COLUMNS, EVENT_TYPES, PARTITION, PARTITION_DESCRIPTION, SCHEMA_VERSION, glue_type
from analytics_queries import glossary, load
from components.config import load_settings, stack_config
from components.storage import NONCURRENT_VERSION_DAYS

STACKS = ("dev", "prod")  # Pulumi.<stack>.yaml


def _per_stack() -> tuple[str, str]:
    """(PITR on which stacks, log retention days per stack) from Pulumi.<stack>.yaml."""
    stacks = {s: load_settings(stack_config(s).get, s) for s in STACKS}
    pitr = ", ".join(f"{s}: {'on' if v.point_in_time_recovery else 'off'}" for s, v in stacks.items())
    return pitr, ", ".join(f"{s}: {v.log_retention_days}" for s, v in stacks.items())


def render() -> str:
    pitr, retention = _per_stack()
    lines = [
        "# Audit events",
        "",
        f"Generated from `analytics/schema.py` (schema version {SCHEMA_VERSION}) by `make audit-docs`; a test "
        "fails when this page is stale.",
        "",
        "Every change to an account on the DynamoDB table becomes one or more audit events, written by the "
        "`stream_processor` function as ZSTD Parquet under `audit/event_date=YYYY-MM-DD/` in the events bucket "
        "and queried in Athena as `serenya_<env>.audit_events` (workgroup `serenya-<env>-analysts`). Events "
        "carry no email, names or health data.",
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{field.name}` | {glue_type(field.type)} | {text} |" for field, text in COLUMNS]
    lines += [
        f"| `{PARTITION}` | string (partition) | {PARTITION_DESCRIPTION} |",
        "",
        "## Event types",
        "",
        "| event_type | OCSF class_uid / activity_id | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{kind}` | {c} / {a} | {text} |" for kind, (c, a, text) in EVENT_TYPES.items()]
    lines += [
        "",
        "## After an erasure request",
        "",
        "Events name a person by `analytics_id`, a random id kept on the account's profile; never the "
        "app's user id. Deleting the account (DELETE /api/v1/user/profile) deletes, in this order, the "
        "person's usage records and upload tickets (`USAGE#<user id>`, which carry the analytics id for the "
        "stream), then the profile and its identity: from then on no item of the table links the two, the "
        "person's events stay, counted under an id that no longer points to anyone, and none holds a name, "
        "an email, a user id or health data. An account made before analytics ids gets one just before its "
        "deletion, so its `user_deleted` is counted. The lake keeps the events, as pseudonymised records, for "
        "statistical purposes under GDPR Art. 17(3)(d) with Art. 89(1) (erasing them would seriously impair "
        "counting registrations, deletions, retention and revenue), and the billing events "
        "(`subscription_charged`, `subscription_refunded`) also for the accounting records the law requires "
        "of the controller, Art. 17(3)(b).",
        "",
        "Where a link between the user id and the analytics id can still exist after the deletion, and for how long:",
        "",
        "- **The table's stream**: the profile's and usage records' images, user id and analytics id "
        "together, for 24 hours (DynamoDB's fixed retention); only the stream processor reads it.",
        f"- **Point-in-time recovery backups** of the table: 35 days where it is on ({pitr}). A restored "
        "table is a copy beside the live one (the restore-table procedure): accounts deleted after the "
        "restore point must be deleted again in it (DELETE's steps) before it replaces the live one.",
        f"- **Earlier versions of rewritten audit files**: the events bucket is versioned, and a replaced or "
        f"deleted file's earlier version is kept {NONCURRENT_VERSION_DAYS} days (components/storage.py), so a "
        "day rewritten from user ids keeps its old bytes that long: joined on `event_id`, the old and the new "
        "version link a user id to the id the rewrite gave it. Athena reads only current versions.",
        f"- **The functions' logs**: a request's log line names its user id and time, and the audit event its "
        f"analytics id and time, which could be matched by time; kept {retention} days (serenya:logRetentionDays).",
        "",
        "Why that is acceptable: each exists for recovery, security or the pipeline itself, is kept for a "
        "fixed time and then ends by itself, is readable only by the stack's operators, and is never used to "
        "re-identify anyone; erasing the person from each at once would destroy the backups and logs the "
        "service needs. That is within Art. 17(3)(d) and the safeguards of Art. 89(1) (pseudonymisation, "
        "data minimisation), and a restored backup has its deleted accounts erased again before use.",
        "",
        "Files written before schema 4 held user ids: compaction rewrites such a day (the "
        "rewrite-legacy-audit-days procedure in docs/runbooks.md, `aws lambda invoke --function-name "
        "serenya-<stack>-compaction --payload '{\"rewrite_legacy\": true}' --cli-binary-format "
        "raw-in-base64-out rewrite.json`, every such day in one run): each user id of an account that still "
        "exists becomes that account's analytics id, so its old history joins the new; any other becomes an "
        "HMAC under a key that lives only for that run, one id per person for the whole run, so no row of it "
        "can be linked back, and a person's days still count once.",
        "",
        "## Querying",
        "",
        "A record redelivered by the stream yields the same `event_id`: read through the deduplicating "
        "pattern every named query starts with, and always bound `event_date` so Athena reads only those "
        "partitions:",
        "",
        "```sql",
        "WITH events AS (",
        "  SELECT * FROM (",
        "    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at) AS copy",
        "    FROM audit_events WHERE event_date BETWEEN '2026-11-01' AND '2026-11-30'",
        "  ) WHERE copy = 1",
        ")",
        "SELECT event_type, count(*) FROM events GROUP BY event_type",
        "```",
        "",
        "## Running a named query in Athena",
        "",
        "Every named query takes its date range (and `user_timeline` the user id) as `?` execution "
        "parameters, positional and in order. Athena substitutes each value as SQL text, so a date or id "
        "is a string literal **with its single quotes**: `'2026-11-01'`, not `2026-11-01` (which is not a "
        'date but an arithmetic expression) and not `"2026-11-01"` (a column name). '
        "https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements.html",
        "",
        "From the console: open Athena's query editor, pick the workgroup `serenya-<env>-analysts` "
        "(results go where it says), the database `serenya_<env>`, then *Saved queries* and the query, "
        "e.g. `daily_registrations`; choose *Run*. The *Enter parameters* dialog asks for each `?` in "
        "order: type `'2026-11-01'` then `'2026-11-30'`, quotes included, and *Run*.",
        "",
        "From the AWS CLI (v2; the query text straight from this repository):",
        "",
        "```sh",
        "id=$(aws athena start-query-execution --work-group serenya-prod-analysts \\",
        "  --query-execution-context Database=serenya_prod \\",
        "  --query-string file://analytics_queries/sql/daily_registrations.sql \\",
        "  --execution-parameters \"'2026-11-01'\" \"'2026-11-30'\" \\",
        "  --query QueryExecutionId --output text)",
        'aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.State',
        'aws athena get-query-results --query-execution-id "$id" --output table',
        "```",
        "",
        "The shell's double quotes keep the SQL single quotes in the value Athena receives. "
        "https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements-running-queries-"
        "with-execution-parameters-using-the-aws-cli.html",
        "",
        "Locally, on DuckDB over a running stack's events (`make run`), the same SQL with plain values: "
        '`make analytics ARGS="daily_registrations 2026-11-01 2026-11-30"` or `python -m analytics_queries ...` '
        '(`--format csv` or `json` for other tools; `--sql "SELECT ..."` for one ad-hoc read-only '
        "query on `audit_events` and `product_prices`). An empty `user_timeline` says whether the lake "
        "knows the id at all.",
        "",
        "## Glossary",
        "",
        "One definition per number: the named queries and the executive dashboard follow these "
        "(`analytics_queries/glossary.py`; tests check that they agree).",
        "",
    ]
    lines += [f"- **{term}**: {text}" for term, text in glossary.TERMS]
    lines += [
        "",
        "## Named queries",
        "",
        "Deployed as Athena named queries; locally: `python -m analytics_queries <name> <parameters>` on DuckDB.",
        "",
    ]
    lines += [f"- `{q.name}` ({', '.join(q.parameters)}): {q.description}" for q in load()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
