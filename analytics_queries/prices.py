"""The `product_prices` table: each premium product's list price from stack config
(`serenya:listPrices`), which the revenue queries use where a store sent no price, and on
every row the stores' commission (`serenya:storeCommission`, percent) that mrr_monthly
takes off gross revenue, and each product's period in months (`period_months`), over
which mrr_monthly spreads a payment.

In Athena it is a small Glue table over one JSON-lines object the program writes to the
events bucket (components/analytics.py); locally the runner registers the same rows in
DuckDB. Prices are in milli-units of their currency, as Apple sends them."""

from __future__ import annotations

import json

import pyarrow as pa

TABLE = "product_prices"
PREFIX = "reference/product_prices/"
KEY = f"{PREFIX}prices.json"
SCHEMA = pa.schema(
    [
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("price_milli", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("commission_percent", pa.int32()),
        pa.field("period_months", pa.int32(), nullable=False),
    ]
)
GLUE_TYPES = {
    "product_id": "string",
    "price_milli": "bigint",
    "currency": "string",
    "commission_percent": "int",
    "period_months": "int",
}
# (product id, price in milli-units, currency, months a payment covers)
ListPrices = tuple[tuple[str, int, str, int], ...]


def rows(list_prices: ListPrices, commission_percent: int | None = None) -> list[dict]:
    return [
        {
            "product_id": p,
            "price_milli": milli,
            "currency": c,
            "commission_percent": commission_percent,
            "period_months": months,
        }
        for p, milli, c, months in list_prices
    ]


def json_lines(list_prices: ListPrices, commission_percent: int | None = None) -> str:
    """The object Athena reads (one JSON object per line, the OpenX JSON SerDe's format)."""
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows(list_prices, commission_percent))


def table(list_prices: ListPrices, commission_percent: int | None = None) -> pa.Table:
    return pa.Table.from_pylist(rows(list_prices, commission_percent), schema=SCHEMA)
