"""The guard's cost signal read from a real service whose cache is on Firestore (the emulator).

The service counts its Firestore operations (``ethos_store_operations_total{store, op}``) and
prices them itself (``ethos_store_estimated_cost_usd_total``); the guard's revision source
scrapes ``/metrics`` twice, prices the operations with the policy's table and divides by the
policy's projection. With the same prices on both sides the guard's USD per hour is the
service's own estimate over the same span, and ``store_cost_ratio`` is that over the
projection.
"""

from __future__ import annotations

import httpx
import pytest

from ethos.rollout.guard.policy import load_policy
from ethos.rollout.sources import PriceTable, RevisionMetricsSource
from tests.integration.service.service_helpers import ask

pytestmark = pytest.mark.firestore

NEEDS = {"store_cost_ratio": [300.0], "store_cost_usd_per_hour": [300.0]}


def test_the_guard_prices_a_firestore_revision_against_the_projection(make_service, firestore_url) -> None:
    url, _ = make_service(cache_url=firestore_url, revision="green")
    policy = load_policy(None)  # the default policy
    assert policy.cost["projected_usd_per_hour"] is None  # configurable; set below
    src = RevisionMetricsSource({"green": url}, prices=PriceTable.from_policy(policy.cost),
                                projected_usd_per_hour=0.0001)
    first = src.collect(NEEDS, ["green"], 0.0)
    assert first[("green", "store_cost_ratio", 300.0)].value is None  # a rate needs two scrapes
    scrape0 = src.history["green"].latest
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(12):
            assert ask(c, "What are your pricing plans?" if i % 2 else f"Do you support tool {i}?").status_code == 200
    got = src.collect(NEEDS, ["green"], 60.0)
    scrape1 = src.history["green"].latest
    ops = {op: v - scrape0.by_label("ethos_store_operations_total", "op").get(op, 0)
           for op, v in scrape1.by_label("ethos_store_operations_total", "op").items()}
    # 7 misses (6 new questions, the repeated one once): a read and an admission each; the
    # repeats are memory hits (no operation)
    assert ops["write"] >= 7 and ops["read"] >= 7 and set(ops) == {"read", "write", "delete", "query"}
    # the service's own estimate over the same two scrapes, per hour
    own = (scrape1.total("ethos_store_estimated_cost_usd_total", store="firestore")
           - scrape0.total("ethos_store_estimated_cost_usd_total", store="firestore")) * 3600 / 60
    per_hour = got[("green", "store_cost_usd_per_hour", 300.0)].value
    assert own > 0 and per_hour == pytest.approx(own)
    ratio = got[("green", "store_cost_ratio", 300.0)]
    assert ratio.value == pytest.approx(per_hour / 0.0001) and ratio.samples == 12
