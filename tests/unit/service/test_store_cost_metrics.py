"""Store operations in /metrics: by store and kind, priced by a configurable table."""

from __future__ import annotations

import re

import pytest

from ethos.cache.entry import Entry
from ethos.cache.stores.sqlite import SQLiteStore
from ethos.service.metrics import ServiceMetrics
from ethos.settings import Settings


def test_operations_are_counted_by_store_and_kind_and_priced() -> None:
    m = ServiceMetrics("blue", prices={"read": 1.0, "write": 10.0, "delete": 100.0, "query": 1000.0})
    m.count_store_op("reads", 3, "firestore")
    m.count_store_op("writes", 2, "firestore")
    m.count_store_op("deletes", 1, "firestore")
    m.count_store_op("queries", 1, "firestore")
    m.count_store_op("reads", 5, "redis")
    text = m.render().decode()
    assert 'ethos_store_operations_total{op="read",revision="blue",store="firestore"} 3.0' in text
    assert 'ethos_store_operations_total{op="query",revision="blue",store="firestore"} 1.0' in text
    assert 'ethos_store_operations_total{op="read",revision="blue",store="redis"} 5.0' in text
    usd = (3 * 1 + 2 * 10 + 100 + 1000) / 100_000
    assert f'ethos_store_estimated_cost_usd_total{{revision="blue",store="firestore"}} {usd}' in text
    assert 'ethos_store_price_usd_per_100k{op="write",revision="blue"} 10.0' in text


def test_a_watched_store_exports_every_kind_from_the_start(tmp_path) -> None:
    m = ServiceMetrics("blue")
    store = SQLiteStore(tmp_path / "c.sqlite3")
    m.watch_store(store)
    text = m.render().decode()
    for op in ("read", "write", "delete", "query"):
        assert f'ethos_store_operations_total{{op="{op}",revision="blue",store="sqlite"}} 0.0' in text
    store.put(Entry(key="k", namespace="n", format_version=1, scope="s", question="q", reply="r"))
    list(store.scan())
    text = m.render().decode()
    assert 'ethos_store_operations_total{op="write",revision="blue",store="sqlite"} 1.0' in text
    assert 'ethos_store_operations_total{op="query",revision="blue",store="sqlite"} 1.0' in text
    # Firestore's multi-region list prices by default: one write and one read
    m_ = re.search(r'ethos_store_estimated_cost_usd_total\{revision="blue",store="sqlite"\} (\S+)', text)
    assert m_ and float(m_.group(1)) == pytest.approx((0.18 + 0.06) / 100_000)
    store.close()


def test_prices_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ETHOS_STORE_PRICES_USD_PER_100K", '{"read": 0.03, "write": 0.09, "delete": 0.01}')
    assert Settings().store_prices_usd_per_100k == {"read": 0.03, "write": 0.09, "delete": 0.01}
    for bad in ('{"reads": 1}', '{"read": -1}', '{"read": "x"}', "[1]"):
        monkeypatch.setenv("ETHOS_STORE_PRICES_USD_PER_100K", bad)
        with pytest.raises(ValueError):
            Settings()
