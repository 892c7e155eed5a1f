"""Audit analytics: events per second into Parquet, and bytes each named query would
scan on one million events.

Throughput runs the stream processor's own path (derive events from stream records,
build the Arrow table, write ZSTD Parquet) on batches of 100 records. The scan sizes
are computed the way Athena bills: compressed bytes of the columns a query reads, in
the partitions its date range selects, from the Parquet metadata of a 60-day dataset
of about one million events (one compacted file per day).

The dataset is people's journeys (`Journeys`), not random event types, so the named
queries answer it as they would real traffic: `python -m bench.analytics --report`
(`make bench-report`) prints each one's answer, summarised.
"""

from __future__ import annotations

import io
import json
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analytics import events as audit
from analytics import writer
from analytics.schema import EVENT_TYPES, SCHEMA, SCHEMA_VERSION
from analytics_queries import load
from tests.fixtures.stream import profile, record

DAYS = 60
EVENTS = 1_000_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def throughput(records: int = 20_000) -> tuple[float, int, int]:
    """(events per second, events, S3 objects written) for `records` stream records."""
    users = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(records)]
    batch_records = [record("INSERT", u, new=profile(u)) for u in users]
    started = time.perf_counter()
    written = puts = 0
    for start in range(0, records, 100):
        derived = [e for r in batch_records[start : start + 100] for e in audit.derive(r)]
        for partition in writer.by_partition(derived).values():
            writer.parquet_bytes(writer.table(partition))
            puts += 1
        written += len(derived)
    return written / (time.perf_counter() - started), written, puts


def dataset(events: int = EVENTS) -> dict[str, bytes]:
    """day -> one Parquet file: about `events` events over DAYS days, from people whose
    journeys hang together (`Journeys`): they register, then in time order sign in, upload,
    get results, chat, subscribe, answer consents, some delete their account. Seeded."""
    month = Journeys(random.Random(7))
    while month.count < events:
        month.person()
    return {day: writer.parquet_bytes(month.table(day)) for day in sorted(month.rows)}


END = START + timedelta(days=DAYS)
MODEL = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"  # serenya:bedrockModelId of the dev stack
# (product, price in milli-EUR as Apple sends it, days a payment covers); Google sends no price.
PLANS = (("health.serenya.premium.monthly", 9_990, 30), ("health.serenya.premium.yearly", 89_990, 365))
INPUT_TYPES = ("pdf", "photo", "screenshot")
# Per input type: share of uploads, failure rate, share of completed with nothing recognised.
FILES = {"pdf": (5, 0.05, 0.04), "photo": (3, 0.14, 0.15), "screenshot": (2, 0.07, 0.08)}
ERRORS = {  # error code -> (weight per input type, whether the model was called)
    "unreadable_document": ({"pdf": 2, "photo": 6, "screenshot": 2}, False),
    "unsupported_document": ({"pdf": 1, "photo": 1, "screenshot": 1}, False),
    "document_too_large": ({"pdf": 2, "photo": 0, "screenshot": 0}, False),
    "processing_timeout": ({"pdf": 2, "photo": 1, "screenshot": 1}, True),
    "model_unavailable": ({"pdf": 1, "photo": 1, "screenshot": 1}, True),
}
CONSENTS = (("privacy_policy", 1.0), ("terms_of_service", 1.0), ("medical_research", 0.35), ("marketing", 0.3))
PROFILE_FIELDS = ("given_name", "family_name", "date_of_birth", "sex", "preferred_language")


class Journeys:
    """People over the benchmark's days, each one's events in time order (events after the
    last day are not kept). Identified by analytics_id, as in the lake."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rows: dict[str, list[tuple[datetime, str, str, dict]]] = {}
        self.count = 0
        self.ids: list[str] = []

    def add(self, at: datetime, kind: str, who: str, **fields) -> None:
        if START <= at < END:
            self.rows.setdefault(at.strftime("%Y-%m-%d"), []).append((at, kind, who, fields))
            self.count += 1

    def person(self) -> None:
        rng = self.rng
        who = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.ids.append(who)
        # Sign-ups grow over the days (more late than early), at any time of day.
        registered = START + timedelta(days=DAYS * rng.random() ** 0.8)
        platform = "ios" if rng.random() < 0.55 else "android"
        profile = {
            "auth_provider": "apple" if platform == "ios" and rng.random() < 0.6 else "google",
            "device_platform": platform,
        }
        deleted = registered + timedelta(days=rng.uniform(0.01, 40)) if rng.random() < 0.05 else END
        self.add(registered, "user_registered", who, **profile, new_plan="free", subscription_status="active")
        given = {}
        for consent, accepts in CONSENTS:
            given[consent] = rng.random() < accepts
            self.add(
                registered,
                "consent_updated",
                who,
                **profile,
                consent_type=consent,
                consent_version="2025-01",
                consent_answer="given" if given[consent] else "refused",
            )
        premium: tuple[datetime, datetime] | None = None
        results = 0
        sessions_per_day = rng.lognormvariate(-1.3, 0.8)
        leaves = rng.uniform(0.03, 0.2)  # chance each session is the last
        # Onboarding (consents, profile) takes minutes; fewer than half upload a report in it,
        # most come back with one later.
        at = registered + timedelta(seconds=rng.uniform(60, 600))
        first = True
        while at < deleted:
            if not first:
                self.add(at, "signed_in", who, **profile)
            t = at + timedelta(seconds=rng.uniform(5, 60))
            uploads = rng.choices((0, 1, 2), (55, 40, 5)) if first else rng.choices((0, 1, 2, 3), (5, 4, 1, 0.3))
            first = False
            for _ in range(uploads[0]):
                t, done = self.upload(who, t)
                if done:
                    results += 1
                    if premium is None and rng.random() < 0.03:
                        premium = self.subscribe(who, t + timedelta(hours=rng.expovariate(1 / 20)), deleted, profile)
                    t = self.chat(who, t, rng.choices((0, 1, 2, 4), (6, 2, 1, 1))[0])
            if premium and premium[0] <= t < premium[1] and rng.random() < 0.3:
                t = self.job(who, t + timedelta(seconds=rng.uniform(10, 120)), "doctor_report", premium=True)
            if rng.random() < 0.04:
                self.add(t, "profile_updated", who, **profile, changed_fields=rng.sample(PROFILE_FIELDS, 1))
            if rng.random() < 0.02:
                platform = rng.choice(("ios", "android"))
                profile = {**profile, "device_platform": platform}
                self.add(t, "device_changed", who, **profile)
            if rng.random() < 0.03:
                consent = rng.choice(("medical_research", "marketing"))
                given[consent] = not given[consent]
                self.add(
                    t,
                    "consent_updated",
                    who,
                    **profile,
                    consent_type=consent,
                    consent_version="2025-01",
                    consent_answer="given" if given[consent] else "withdrawn",
                )
            if rng.random() < leaves:
                break
            at = t + timedelta(days=rng.expovariate(sessions_per_day))
        if deleted < END:
            self.add(deleted, "user_deleted", who, **profile)

    def upload(self, who: str, at: datetime) -> tuple[datetime, bool]:
        """A ticket, and most often its file and the report: (when it ended, a first-document-worthy result)."""
        rng = self.rng
        kind = rng.choices(INPUT_TYPES, [FILES[k][0] for k in INPUT_TYPES])[0]
        self.add(at, "upload_ticket_issued", who, job_kind="lab_report", input_type=kind)
        if rng.random() < 0.12:  # the app asked for a ticket, the file never came
            return at + timedelta(seconds=rng.uniform(5, 60)), False
        uploaded = at + timedelta(seconds=rng.uniform(2, 90))
        return self.lab_report(who, uploaded, kind)

    def lab_report(self, who: str, uploaded: datetime, kind: str) -> tuple[datetime, bool]:
        rng = self.rng
        _, failure_rate, empty_rate = FILES[kind]
        pages = rng.choices((1, 2, 3, 4, 6, 10), (5, 3, 2, 1, 1, 0.3))[0] if kind == "pdf" else 1
        model_ms = int(rng.lognormvariate(8.9, 0.4) * (1 + 0.3 * (pages - 1)))  # about 7 s a page
        fields: dict = {"job_kind": "lab_report", "input_type": kind, "uploaded_at": uploaded}
        if rng.random() < failure_rate:
            code = rng.choices(list(ERRORS), [w[kind] for w, _ in ERRORS.values()])[0]
            if ERRORS[code][1]:
                model_ms = 60_000 if code == "processing_timeout" else model_ms // 3
                fields |= self.model(model_ms, pages, answered=False)
            else:
                model_ms = 0
            finished = uploaded + timedelta(milliseconds=model_ms + rng.randrange(300, 3_000))
            opened = code not in ("unsupported_document", "document_too_large")
            self.add(
                finished,
                "document_processed",
                who,
                **fields,
                outcome="failed",
                error_code=code,
                page_count=pages if opened else None,
            )
            return finished, False
        values = 0 if rng.random() < empty_rate else rng.randrange(3, 12) * pages
        finished = uploaded + timedelta(milliseconds=model_ms + rng.randrange(500, 4_000))
        self.add(
            finished,
            "document_processed",
            who,
            **fields,
            **self.model(model_ms, pages, answered=True),
            outcome="completed",
            page_count=pages,
            observation_count=values,
        )
        return finished, values > 0

    def model(self, ms: int, pages: int, answered: bool) -> dict:
        rng = self.rng
        return {
            "model_id": MODEL,
            "latency_ms": ms,
            "input_tokens": rng.randrange(1_200, 2_500) * pages,
            "output_tokens": rng.randrange(300, 1_200) if answered else rng.randrange(0, 50),
        }

    def chat(self, who: str, at: datetime, questions: int) -> datetime:
        for _ in range(questions):
            at = self.job(who, at + timedelta(seconds=self.rng.uniform(15, 240)), "chat")
        return at

    def job(self, who: str, asked: datetime, kind: str, premium: bool = False) -> datetime:
        """A chat answer or a doctor report: (for premium features also premium_feature_used)."""
        rng = self.rng
        ms = int(rng.lognormvariate(8.0 if kind == "chat" else 9.6, 0.5))
        finished = asked + timedelta(milliseconds=ms + rng.randrange(100, 800))
        failed = rng.random() < 0.02
        fields = {
            "job_kind": kind,
            "uploaded_at": asked,
            "outcome": "failed" if failed else "completed",
            "error_code": "model_unavailable" if failed else None,
            **self.model(ms, 1 if kind == "chat" else 4, answered=not failed),
        }
        self.add(finished, "document_processed", who, **fields)
        if premium:
            self.add(finished, "premium_feature_used", who, **fields)
        return finished

    def subscribe(self, who: str, at: datetime, deleted: datetime, profile: dict) -> tuple[datetime, datetime]:
        """Upgrade at `at`, renewals while it lasts: (premium from, premium until)."""
        rng = self.rng
        product, price, days = PLANS[1] if rng.random() < 0.25 else PLANS[0]
        store = "apple" if profile["device_platform"] == "ios" else "google"
        paid = {
            "store": store,
            "product_id": product,
            "price_milli": price if store == "apple" else None,
            "currency": "EUR" if store == "apple" else None,
        }
        self.add(at, "subscription_charged", who, **profile, **paid)
        self.add(
            at,
            "subscription_changed",
            who,
            **profile,
            old_plan="free",
            new_plan="premium",
            subscription_status="active",
        )
        if rng.random() < 0.04:  # refunded within days: revoked
            until = at + timedelta(days=rng.uniform(1, 10))
            self.add(until, "subscription_refunded", who, **profile, **paid)
            status = "revoked"
        else:
            until = at + timedelta(days=days)
            while until < deleted and rng.random() < 0.75:  # renewed
                self.add(until, "subscription_charged", who, **profile, **paid)
                until += timedelta(days=days)
            status = "expired"
        until = min(until, deleted)
        if until < deleted:
            self.add(
                until,
                "subscription_changed",
                who,
                **profile,
                old_plan="premium",
                new_plan="free",
                subscription_status=status,
            )
        return at, until

    def table(self, day: str) -> pa.Table:
        """One day's events in time order, as the compacted file of that day."""
        rows = sorted(self.rows[day], key=lambda row: row[0])
        rng = self.rng
        columns: dict[str, list] = {name: [] for name in SCHEMA.names}
        for i, (at, kind, who, fields) in enumerate(rows):
            row = {
                **fields,
                "event_id": f"{rng.getrandbits(128):032x}",
                "event_time": at,
                "event_type": kind,
                "class_uid": EVENT_TYPES[kind][0],
                "activity_id": EVENT_TYPES[kind][1],
                "analytics_id": who,
                "source": "dynamodb_stream",
                "stream_sequence": f"{day.replace('-', '')}{i:012d}",
                "schema_version": SCHEMA_VERSION,
                "ingested_at": at + timedelta(milliseconds=rng.randrange(200, 60_000)),
            }
            for name, values in columns.items():
                values.append(row.get(name))
        return pa.table(columns, schema=SCHEMA)


def column_sizes(files: dict[str, bytes]) -> dict[str, dict[str, int]]:
    sizes = {}
    for day, data in files.items():
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        per_column: dict[str, int] = {}
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                name = column.path_in_schema.split(".")[0]
                per_column[name] = per_column.get(name, 0) + column.total_compressed_size
        sizes[day] = per_column
    return sizes


def referenced(sql: str) -> set[str]:
    words = set(re.findall(r"[a-z_]+", sql.lower()))
    return {f.name for f in SCHEMA if f.name in words} | {"event_id", "ingested_at"}  # the dedup window


def run() -> str:
    records = 20_000
    rate, events, puts = throughput(records)
    files = dataset()
    json_bytes = sum(
        len(json.dumps(row, default=str))
        for data in files.values()
        for row in pq.read_table(io.BytesIO(data)).to_pylist()
    )
    sizes = column_sizes(files)
    generated = sum(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows for data in files.values())
    total = sum(len(d) for d in files.values())
    days = sorted(files)
    month = days[-30:]
    lines = [
        "## Audit analytics",
        "",
        f"Events into Parquet (derive + Arrow + ZSTD, batches of 100 records, one process): "
        f"**{rate:,.0f} events/s** ({events:,} events).",
        "",
        f"S3 requests per 1,000 stream records: {puts * 1000 / records:.0f} PUTs (one object per batch and day) "
        f"against {events * 1000 / records:,.0f} with one object per event as in the original design: "
        f"**{events / puts:.0f}x fewer** (target 100x).",
        "",
        f"### Bytes scanned per named query, {generated:,} events over {DAYS} days "
        f"({total / 1e6:.1f} MB of Parquet in all)",
        "",
        "| query | columns read | last 30 days | all 60 days |",
        "| --- | --- | --- | --- |",
    ]

    def scanned(selected_days: list[str], columns: set[str]) -> float:
        return sum(sizes[d].get(c, 0) for d in selected_days for c in columns) / 1e6

    for query in load():
        columns = referenced(query.sql)
        lines.append(
            f"| {query.name} | {len(columns)} of {len(SCHEMA)} | {scanned(month, columns):.1f} MB | "
            f"{scanned(days, columns):.1f} MB |"
        )
    lines += [
        "",
        "Without the date filter every query would read all partitions; without column pruning, all "
        f"{total / 1e6:.1f} MB. The same events as one JSON object each (the original design) are "
        f"{json_bytes / 1e6:.0f} MB, all of it read by any query over them: "
        f"**{json_bytes / total:.0f}x** the whole Parquet dataset.",
        "",
    ]
    return "\n".join(lines)


def write(files: dict[str, bytes], root: Path) -> Path:
    """The files as the lake lays them out: <root>/audit/event_date=<day>/part.parquet."""
    for day, data in files.items():
        folder = root / "audit" / f"event_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part.parquet").write_bytes(data)
    return root


def results(root: Path, analytics_id: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every named query over all the generated days (user_timeline for `analytics_id`),
    with the dev stack's list prices and commission as `make analytics` uses them."""
    from analytics_queries import local
    from analytics_queries.__main__ import store_terms

    list_prices, commission = store_terms("dev")
    span = [START.strftime("%Y-%m-%d"), (END - timedelta(days=1)).strftime("%Y-%m-%d")]
    return {
        q.name: local.run(q, span + [analytics_id] * (len(q.parameters) - 2), root, list_prices, commission)
        for q in load()
    }


GAUGES = {
    "active_users",
    "premium_subscribers",
    "paying_subscribers",
    "retained_users",
    "cohort_size",
    "weeks_after_signup",
}
RATES = ("percent", "median", "p90", "p95", "hours", "seconds", "per_active_user", "avg_")


def summary(columns: list[str], rows: list[tuple]) -> str:
    """One line: the rows' span, totals of counts, ranges of rates and levels (a sum of
    daily active users means nothing)."""
    if not rows:
        return "no rows"
    parts = [f"{len(rows)} rows, {rows[0][0]} .. {rows[-1][0]}"]
    for i, name in enumerate(columns[1:], 1):
        values = [r[i] for r in rows if isinstance(r[i], (int, float)) and not isinstance(r[i], bool)]
        if not values or name == "commission_percent":
            continue
        if name in GAUGES or any(word in name for word in RATES):
            low, high = min(values), max(values)
            parts.append(f"{name} {low:,}" + (f"..{high:,}" if high != low else ""))
        else:
            parts.append(
                f"{name} {sum(values):,}" if not isinstance(values[0], float) else f"{name} {sum(values):,.2f}"
            )
    return "; ".join(parts)


def report(events: int = EVENTS) -> str:
    """Every named query's result, summarised, on the generated days."""
    import tempfile

    month = Journeys(random.Random(7))
    while month.count < events:
        month.person()
    files = {day: writer.parquet_bytes(month.table(day)) for day in sorted(month.rows)}
    with tempfile.TemporaryDirectory() as folder:
        answers = results(write(files, Path(folder)), month.ids[0])
    lines = [
        f"{month.count:,} events of {len(month.ids):,} people, {START:%Y-%m-%d} .. "
        f"{END - timedelta(days=1):%Y-%m-%d} (user_timeline: the first person generated)",
        "",
    ]
    for name, (columns, rows) in answers.items():
        lines.append(f"{name}: {summary(columns, rows)}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description="The generated audit events.")
    parser.add_argument("--report", action="store_true", help="every named query's result on them, summarised")
    parser.add_argument("--events", type=int, default=EVENTS, help="about how many events to generate")
    args = parser.parse_args()
    print(report(args.events) if args.report else run())
