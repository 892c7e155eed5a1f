"""docs/audit-events.md from the schema and the named queries (`make audit-docs`)."""

from analytics.schema import COLUMNS, EVENT_TYPES, PARTITION, PARTITION_DESCRIPTION, SCHEMA_VERSION, glue_type
from analytics_queries import load


def render() -> str:
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
        "Events name a person by `analytics_id`, a random id kept on the account and nowhere else; never the "
        "app's user id. Deleting the account (DELETE /api/v1/user/profile) deletes the profile and with it the "
        "only link between the two: the person's events stay, counted under an id that no longer points to "
        "anyone, and none holds a name, an email, a user id or health data. The lake keeps them, as "
        "pseudonymised records, for statistical purposes under GDPR Art. 17(3)(d) with Art. 89(1) "
        "(erasing them would seriously impair counting registrations, deletions, retention and revenue), and "
        "the billing events (`subscription_charged`, `subscription_refunded`) also for the accounting records "
        "the law requires of the controller, Art. 17(3)(b). Files written before schema 4 held user ids: "
        "compaction rewrites such a day, each user id replaced by an HMAC under a key that lives only for that "
        "run, so no row of it can be linked back either.",
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
        "## Named queries",
        "",
        "Deployed as Athena named queries; locally: `python -m analytics_queries <name> <parameters>` on DuckDB.",
        "",
    ]
    lines += [f"- `{q.name}` ({', '.join(q.parameters)}): {q.description}" for q in load()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
