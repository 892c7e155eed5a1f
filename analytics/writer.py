"""Parquet files of audit events: ZSTD, timestamps in ms UTC, one file per partition."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from analytics.events import event_date
from analytics.schema import PARTITION, SCHEMA

PREFIX = "audit/"


def table(events: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(events, schema=SCHEMA)


def parquet_bytes(data: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(data, sink, compression="zstd", coerce_timestamps="ms", allow_truncated_timestamps=True)
    return sink.getvalue()


def by_partition(events: list[dict]) -> dict[str, list[dict]]:
    partitions: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        partitions[event_date(event)].append(event)
    return dict(partitions)


def partition_prefix(day: str) -> str:
    return f"{PREFIX}{PARTITION}={day}/"


def is_legacy(data: bytes) -> bool:
    """A file from before schema 4: its rows name people by the app's user id."""
    return "user_id" in pq.read_schema(io.BytesIO(data)).names


def legacy_user_ids(data: bytes) -> set[str]:
    """The user ids a file from before schema 4 names (none for a newer file)."""
    if not is_legacy(data):
        return set()
    return {u for u in pq.read_table(io.BytesIO(data), columns=["user_id"]).column("user_id").to_pylist() if u}


def read(data: bytes, pseudonym: Callable[[str], str] | None = None) -> pa.Table:
    """The file's rows in this schema (columns it lacks are null). A file from before
    schema 4 holds user ids: each becomes `pseudonym(user_id)`, and no user id is kept."""
    if not is_legacy(data):
        return pq.read_table(io.BytesIO(data), schema=SCHEMA)
    if pseudonym is None:
        raise ValueError("a file from before schema 4 holds user ids: read it with a pseudonym")
    legacy = pq.read_table(io.BytesIO(data))
    ids = pa.array([pseudonym(u) for u in legacy.column("user_id").to_pylist()], pa.string())
    legacy = legacy.drop_columns(["user_id"]).append_column("analytics_id", ids)
    columns = [
        legacy.column(f.name).cast(f.type) if f.name in legacy.column_names else pa.nulls(legacy.num_rows, f.type)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)
