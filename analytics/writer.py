"""Parquet files of audit events: ZSTD, timestamps in ms UTC, one file per partition."""

from __future__ import annotations

import io
from collections import defaultdict

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


def read(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data), schema=SCHEMA)
