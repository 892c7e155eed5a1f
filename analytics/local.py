"""Named queries on DuckDB over local Parquet: the Athena (Trino) SQL is translated by
sqlglot, the table is a view over the Hive-partitioned files, so the same `.sql` files
run here and in Athena."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import duckdb
import sqlglot

from analytics.queries import NamedQuery


def to_duckdb(sql: str) -> str:
    return sqlglot.transpile(sql, read="trino", write="duckdb")[0]


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `audit_events` over `<root>/audit/event_date=*/**.parquet`."""
    connection = duckdb.connect()
    files = sorted((root / "audit").glob("event_date=*/*.parquet"))
    if files:
        pattern = str(root / "audit" / "event_date=*" / "*.parquet").replace("'", "''")
        connection.execute(
            f"CREATE VIEW audit_events AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "hive_types = {'event_date': VARCHAR})")
    else:  # no events yet: an empty table of the right shape
        from analytics.schema import SCHEMA
        import pyarrow as pa

        empty = pa.Table.from_pylist([], schema=SCHEMA).append_column("event_date", pa.array([], pa.string()))
        connection.register("audit_events", empty)
    return connection


def run(query: NamedQuery, parameters: Sequence[str], root: Path) -> tuple[list[str], list[tuple]]:
    if len(parameters) != len(query.parameters):
        raise ValueError(f"{query.name} takes {', '.join(query.parameters)}")
    # The dedup CTE takes the date range; other parameters follow in order.
    result = connect(root).execute(to_duckdb(query.sql), list(parameters))
    return [d[0] for d in result.description], result.fetchall()


def download(s3, bucket: str, into: Path | None = None) -> Path:
    """Copies the events bucket's audit/ prefix to a local folder."""
    root = into or Path(tempfile.mkdtemp(prefix="serenya-audit-"))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="audit/"):
        for obj in page.get("Contents", []):
            target = root / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
    return root


def render(columns: list[str], rows: list[tuple]) -> str:
    cells = [columns] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)"
