"""The audit lake's tooling, apart from what the audit functions run (analytics/): the
named queries (`sql/`), their DuckDB runner (local.py) and CLI (`python -m
analytics_queries`), the product prices table (prices.py) and docs/audit-events.md
(docs.py). No Lambda archive holds any of it.

The named queries: `.sql` files in Athena's (Trino) dialect, deployed as Athena named
queries and run locally on DuckDB. Every query reads through the same deduplicating
CTE (one row per event_id) restricted to `event_date BETWEEN ? AND ?`, so partition
pruning applies (mrr_monthly's starts 11 months before from_date, where a yearly
payment still counting in the range was made); its parameters are listed in its first
comment line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str

    parameters: tuple[str, ...]


def load() -> list[NamedQuery]:
    queries = []
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        sql = path.read_text()
        comment = " ".join(line.removeprefix("--").strip() for line in sql.splitlines() if line.startswith("--"))
        found = re.search(r"Parameters: ([a-z_, ]+)", comment)
        parameters = tuple(p.strip() for p in found[1].split(",")) if found else ()
        queries.append(NamedQuery(path.stem, comment.split(" Parameters:")[0], sql, parameters))
    return queries
