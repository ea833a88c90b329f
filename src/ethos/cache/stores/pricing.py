"""What store operations cost: a price table per operation kind, and Firestore's list prices.

The default table is Firestore's public list price for multi-region locations (nam5, eur3),
per 100,000 documents: reads $0.06, writes $0.18, deletes $0.02 (cloud.google.com/firestore/
pricing, read 2026-11-28; regional locations are cheaper, e.g. $0.03 / $0.09 / $0.01 in
us-central1). ``query`` is priced 0: Firestore bills a query as the documents it returns
(at least one), which every store already counts as ``read``. The free daily quota is
ignored, so figures are upper bounds.

The service prices its own operations with ``ETHOS_STORE_PRICES_USD_PER_100K`` (exported as
``ethos_store_estimated_cost_usd_total``); the guard prices every revision's operations with
its policy's ``cost.prices_usd_per_100k``. Both default to this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the operation kinds a store counts (``ethos_store_operations_total{op}``)
OPS = ("read", "write", "delete", "query")

FIRESTORE_MULTI_REGION_USD_PER_100K: dict[str, float] = {
    "read": 0.06, "write": 0.18, "delete": 0.02, "query": 0.0,
}
#: When the prices were read from the public price list.
PRICES_AS_OF = "2026-11-28"


@dataclass(frozen=True)
class PriceTable:
    """USD per 100,000 operations, by operation kind (``read``, ``write``, ``delete``, ``query``)."""

    usd_per_100k: Mapping[str, float]

    @classmethod
    def from_policy(cls, cost: Mapping[str, Any] | None) -> PriceTable:
        """The policy's ``cost.prices_usd_per_100k``, else Firestore's multi-region prices."""
        table = (cost or {}).get("prices_usd_per_100k") or FIRESTORE_MULTI_REGION_USD_PER_100K
        return cls.of(table)

    @classmethod
    def of(cls, table: Any) -> PriceTable:
        """A table from ``{op: USD per 100k}``; ValueError for anything else."""
        if not isinstance(table, Mapping):
            raise ValueError("prices_usd_per_100k must map read/write/delete/query to USD")
        out: dict[str, float] = {}
        for k, v in table.items():
            try:
                price = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"the price of {k!r} must be a number of USD per 100,000") from None
            if not price >= 0 or price == float("inf"):
                raise ValueError(f"the price of {k!r} must be 0 or more USD per 100,000")
            out[str(k)] = price
        return cls(out)

    def price(self, op: str) -> float:
        """USD of one operation of kind ``op`` (0 for kinds the table does not name)."""
        return self.usd_per_100k.get(op, 0.0) / 100_000

    def cost(self, ops: Mapping[str, float]) -> float:
        """USD for ``{op: count}``; unknown kinds cost nothing (and are not guessed)."""
        return sum(self.usd_per_100k.get(op, 0.0) * n / 100_000 for op, n in ops.items())


__all__ = ["OPS", "PriceTable", "FIRESTORE_MULTI_REGION_USD_PER_100K", "PRICES_AS_OF"]
