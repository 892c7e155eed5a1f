"""Audit analytics, what the audit functions run: the event schema, how events are
derived from the table's stream, and the Parquet writer. Shipped in the stream
processor's and compaction's archives, so nothing here imports the tooling
(analytics_queries/: the named queries, their DuckDB runner and CLI, the docs)."""
