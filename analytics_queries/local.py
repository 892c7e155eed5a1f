"""Named queries on DuckDB over local Parquet: the Athena (Trino) SQL is translated by
sqlglot, the table is a view over the Hive-partitioned files, so the same `.sql` files
run here and in Athena. `product_prices` is registered from the stack's list prices.

The events bucket is mirrored into one cache folder per bucket (`download`): a run
fetches only what changed since the last and removes what the bucket no longer holds
(compaction replaces a day's files), so a stale file never counts twice."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot

from analytics_queries import NamedQuery, prices

CACHE = Path(__file__).resolve().parent.parent / "build" / "audit-cache"
_MANIFEST = ".etags.json"


def to_duckdb(sql: str) -> str:
    return sqlglot.transpile(sql, read="trino", write="duckdb")[0]


def connect(
    root: Path, list_prices: prices.ListPrices = (), commission_percent: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `audit_events` over `<root>/audit/event_date=*/**.parquet`
    (files of older schema versions read by column name, missing columns null) and
    `product_prices` from `list_prices` and the stores' `commission_percent`."""
    import pyarrow as pa

    from analytics.schema import SCHEMA

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # as Athena: weeks and days in UTC, whatever the machine's zone
    files = sorted((root / "audit").glob("event_date=*/*.parquet"))
    if files:
        pattern = str(root / "audit" / "event_date=*" / "*.parquet").replace("'", "''")
        # Every schema column, even when no file has it yet (a query may name it).
        columns = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in SCHEMA)
        connection.execute(
            f"CREATE VIEW audit_events AS SELECT * FROM (SELECT {columns}, NULL::VARCHAR AS event_date LIMIT 0) "
            f"UNION ALL BY NAME SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "union_by_name = true, hive_types = {'event_date': VARCHAR})"
        )
    else:  # no events yet: an empty table of the right shape
        empty = pa.Table.from_pylist([], schema=SCHEMA).append_column("event_date", pa.array([], pa.string()))
        connection.register("audit_events", empty)
    connection.register(prices.TABLE, prices.table(list_prices, commission_percent))
    # The lake's folder and nothing else: an ad-hoc query (--sql) may not read the machine's
    # files (read_csv('/etc/passwd'), read_text...), attach databases or change this.
    folder = str(root.resolve()).replace("'", "''")
    connection.execute(f"SET allowed_directories = ['{folder}/']")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


_DUCK_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "timestamp": "TIMESTAMPTZ"}


def _duck_type(data_type) -> str:
    import pyarrow as pa

    from analytics.schema import glue_type

    if pa.types.is_list(data_type):
        return f"{_duck_type(data_type.value_type)}[]"
    return _DUCK_TYPES[glue_type(data_type)]


def check_dates(from_date: str, to_date: str) -> None:
    """ValueError naming the problem when the range is not two yyyy-MM-dd dates in order:
    such a range would otherwise answer "(0 rows)" as if nothing had happened."""
    parsed = []
    for name, value in (("from_date", from_date), ("to_date", to_date)):
        try:
            if len(value) != 10:
                raise ValueError
            parsed.append(date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a date as yyyy-MM-dd") from None
    if parsed[0] > parsed[1]:
        raise ValueError(f"from_date {from_date} is after to_date {to_date}")


def run(
    query: NamedQuery,
    parameters: Sequence[str],
    root: Path,
    list_prices: prices.ListPrices = (),
    commission_percent: int | None = None,
) -> tuple[list[str], list[tuple]]:
    if len(parameters) != len(query.parameters):
        raise ValueError(f"{query.name} takes {', '.join(query.parameters)}")
    check_dates(parameters[0], parameters[1])
    # The dedup CTE takes the date range; other parameters follow in order.
    result = connect(root, list_prices, commission_percent).execute(to_duckdb(query.sql), list(parameters))
    return [d[0] for d in result.description], result.fetchall()


def download(s3, bucket: str, into: Path | None = None) -> Path:
    """Mirrors the events bucket's audit/ prefix into `into` (default: this bucket's
    folder of the cache): fetches the objects whose ETag changed, removes local files
    the bucket no longer has. Returns the folder."""
    root = into or CACHE / bucket
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / _MANIFEST
    try:
        known = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        known = {}
    current: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="audit/"):
        for obj in page.get("Contents", []):
            key, target = obj["Key"], root / obj["Key"]
            if ".." in Path(key).parts:
                continue  # never write outside the cache
            current[key] = obj["ETag"]
            if known.get(key) != obj["ETag"] or not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(target))
    for stale in (root / "audit").rglob("*") if (root / "audit").exists() else ():
        if stale.is_file() and stale.relative_to(root).as_posix() not in current:
            stale.unlink()
    manifest_path.write_text(json.dumps(current, sort_keys=True))
    return root


FORMATS = ("table", "csv", "json")
_READ_ONLY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


def check_read_only(sql: str) -> None:
    """ValueError unless `sql` is one SELECT or WITH statement (the CLI is for reading)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as e:
        raise ValueError(f"the SQL does not parse: {str(e).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ValueError("give exactly one statement")
    if not _READ_ONLY.match(sql) or not isinstance(statements[0], sqlglot.exp.Query):
        raise ValueError("only a SELECT or WITH query may run here (the lake is read-only to analysts)")


def run_sql(
    sql: str, root: Path, list_prices: prices.ListPrices = (), commission_percent: int | None = None
) -> tuple[list[str], list[tuple]]:
    """An ad-hoc read-only query in Athena's dialect, on the same tables as the named ones."""
    check_read_only(sql)
    try:
        result = connect(root, list_prices, commission_percent).execute(to_duckdb(sql))
    except duckdb.Error as e:
        raise ValueError(str(e).splitlines()[0]) from None
    return [d[0] for d in result.description], result.fetchall()


def unknown_user_note(analytics_id: str, root: Path) -> str:
    """Why a user's timeline is empty: no event in the lake names the id at all, or none
    in the range."""
    known = connect(root).execute("SELECT count(*) FROM audit_events WHERE analytics_id = ?", [analytics_id]).fetchone()
    if not known or not known[0]:
        return f"no event in the lake names analytics id {analytics_id}: its account made none, or another stack's"
    return f"analytics id {analytics_id} has events, none in this date range"


def render(columns: list[str], rows: list[tuple], fmt: str = "table") -> str:
    """Rows as an aligned table (with its count), CSV (RFC 4180, a header row) or JSON (a
    list of objects); dates as yyyy-MM-dd, times ISO 8601."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_plain(v) for v in row] for row in rows)
        return out.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps([dict(zip(columns, map(_plain, row), strict=True)) for row in rows], indent=1)
    cells = [columns] + [["" if v is None else str(_plain(v)) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)"


def _plain(value):
    """A value as CSV and JSON carry it: dates and times ISO 8601, decimals as numbers."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class NoAccount(LookupError):
    """The user id has no account: deleted (its events stay, linked to nobody) or never made."""


def analytics_id_of(dynamodb, table: str, user_id: str) -> str:
    """The analytics id the lake knows an existing account by (its profile holds the only link)."""
    item = dynamodb.get_item(
        TableName=table,
        Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "PROFILE"}},
        ProjectionExpression="analytics_id",
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        raise NoAccount(
            f"no account has the user id {user_id}: it was deleted (its events stay in the lake under an "
            "analytics id nothing links to a person any more) or never existed"
        )
    if "analytics_id" not in item:
        raise NoAccount(f"the account {user_id} has no analytics id yet (made before them, not written since)")
    return item["analytics_id"]["S"]
