"""Audit analytics: the event schema, how events are derived from the table's stream,
the named queries (Athena SQL), and a local runner on DuckDB."""
