"""Store operations priced by a table: "store cost > 200% of projection" as a signal.

The table and Firestore's list prices live with the stores (:mod:`ethos.cache.stores.
pricing`), so that the service prices its own operations the same way; policies override
the table under ``cost.prices_usd_per_100k``.
"""

from __future__ import annotations

from ...cache.stores.pricing import FIRESTORE_MULTI_REGION_USD_PER_100K, PRICES_AS_OF, PriceTable

__all__ = ["PriceTable", "FIRESTORE_MULTI_REGION_USD_PER_100K", "PRICES_AS_OF"]
