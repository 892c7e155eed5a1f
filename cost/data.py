"""The two data files of the cost model: the dated price list and the usage profile."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices_eu-west-1.toml"
PROFILE = HERE / "profile.toml"


@dataclass(frozen=True)
class Price:
    key: str
    usd: Decimal
    unit: str
    source: str
    confirmed: bool
    note: str


@dataclass(frozen=True)
class ModelPrice:
    model_id: str
    input_per_1k: Decimal
    output_per_1k: Decimal
    source: str
    confirmed: bool
    note: str


@dataclass(frozen=True)
class PriceList:
    as_of: str
    region: str
    hours_per_month: int
    prices: dict[str, Price]
    models: dict[str, ModelPrice]
    priced: dict[str, str]   # resource type -> what is charged
    free: dict[str, str]     # resource type -> why it costs nothing

    def __getitem__(self, key: str) -> Decimal:
        return self.prices[key].usd

    def model(self, model_id: str) -> ModelPrice:
        if model_id not in self.models:
            raise KeyError(f"no Bedrock price for the model {model_id!r}: add it under [bedrock] in {PRICES.name}")
        return self.models[model_id]

    @property
    def seconds_per_month(self) -> int:
        return self.hours_per_month * 3600


def load_prices(path: Path = PRICES) -> PriceList:
    raw = tomllib.loads(path.read_text())
    prices = {key: Price(key, Decimal(p["usd"]), p["unit"], p["source"], bool(p["confirmed"]), p["note"])
              for key, p in raw["price"].items()}
    models = {model_id: ModelPrice(model_id, Decimal(m["input_per_1k"]), Decimal(m["output_per_1k"]),
                                   m["source"], bool(m["confirmed"]), m["note"])
              for model_id, m in raw.get("bedrock", {}).items()}
    both = set(raw["priced"]) & set(raw["free"])
    if both:
        raise ValueError(f"{path.name}: listed as priced and as free: {sorted(both)}")
    return PriceList(raw["as_of"], raw["region"], int(raw["hours_per_month"]), prices, models,
                     dict(raw["priced"]), dict(raw["free"]))


def load_profile(path: Path = PROFILE) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
