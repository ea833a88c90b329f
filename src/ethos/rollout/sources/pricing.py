"""Store operations priced by a table: "store cost > 200% of projection" as a signal.

The default table is Firestore's public list price for multi-region locations (nam5, eur3),
per 100,000 documents: reads $0.06, writes $0.18, deletes $0.02 (cloud.google.com/firestore/
pricing, read 2026-11-28; regional locations are cheaper). The free daily quota is ignored,
so figures are upper bounds. Policies override the table under ``cost.prices_usd_per_100k``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FIRESTORE_MULTI_REGION_USD_PER_100K: dict[str, float] = {"read": 0.06, "write": 0.18, "delete": 0.02}
#: When the prices were read from the public price list.
PRICES_AS_OF = "2026-11-28"


@dataclass(frozen=True)
class PriceTable:
    """USD per 100,000 operations, by operation kind (``read``, ``write``, ``delete``)."""

    usd_per_100k: Mapping[str, float]

    @classmethod
    def from_policy(cls, cost: Mapping[str, Any] | None) -> PriceTable:
        """The policy's ``cost.prices_usd_per_100k``, else Firestore's multi-region prices."""
        table = (cost or {}).get("prices_usd_per_100k") or FIRESTORE_MULTI_REGION_USD_PER_100K
        if not isinstance(table, Mapping):
            raise ValueError("cost.prices_usd_per_100k must map read/write/delete to USD")
        return cls({str(k): float(v) for k, v in table.items()})

    def cost(self, ops: Mapping[str, float]) -> float:
        """USD for ``{op: count}``; unknown kinds cost nothing (and are not guessed)."""
        return sum(self.usd_per_100k.get(op, 0.0) * n / 100_000 for op, n in ops.items())


__all__ = ["PriceTable", "FIRESTORE_MULTI_REGION_USD_PER_100K", "PRICES_AS_OF"]
