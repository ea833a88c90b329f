"""A full SQLite cache under a real service, wherever the tests run (no mount needed).

SQLite's ``PRAGMA max_page_count`` caps the file at its current size: the next write that
needs a page fails with SQLITE_FULL, exactly as on a full disk (``tests/e2e/
test_sqlite_disk_faults.py`` fills a real one). Lifting the cap gives the space back.
"""

from __future__ import annotations

import time

import httpx

from ethos.cache.stores.sqlite import SQLiteStore
from tests.integration.service.service_helpers import ask

QUESTIONS = [
    "Do you integrate with HubSpot?",
    "Do you offer refunds?",
    "Is there a free plan?",
    "How do I cancel my subscription?",
    "Do you integrate with Salesforce?",
    "What is included in the Team plan?",
    "Can I export my data?",
    "Is there an API?",
    "Do you offer discounts for nonprofits?",
    "What languages do you support?",
    "How secure is my data?",
    "Do you offer an annual plan?",
    "Do you have a mobile app?",
    "Can I invite my team?",
    "Do you offer onboarding help?",
    "Where is my data stored?",
]


def cap_pages(store: SQLiteStore, pages: int | None) -> None:
    """Cap (or uncap) the file on every connection, present and future (a per-connection pragma)."""
    limit = pages if pages is not None else 1073741823
    with store._lock:
        dbs = list(store._all)
    for db in dbs:
        db.execute(f"PRAGMA max_page_count={limit}")
    connect = SQLiteStore._connect

    def capped(self=store):
        db = connect(self)
        db.execute(f"PRAGMA max_page_count={limit}")
        return db

    store._connect = capped  # type: ignore[method-assign]


def test_full_store_keeps_answering_and_serving_reads(make_service) -> None:
    url, app = make_service()
    st = app.state.ethos
    store = st.cache.store
    assert isinstance(store, SQLiteStore)
    with httpx.Client(base_url=url, timeout=10) as client:
        stored = "What are your pricing plans?"
        assert ask(client, stored).headers["X-Cache"] == "MISS"
        assert ask(client, stored).headers["X-Cache"] == "HIT"
        pages = store._run(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
        cap_pages(store, pages)

        statuses = []
        for q in QUESTIONS:
            r = ask(client, q)
            statuses.append(r.status_code)
            assert r.headers["X-Cache"] == "MISS"
            if client.get("/health").json()["status"] == "degraded":
                break
        assert set(statuses) == {200}
        h = client.get("/health").json()
        assert h["status"] == "degraded", "the page cap was never reached"
        assert h["store"]["reachable"] is True
        assert "disk_full" in h["store"]["detail"] and "full" in h["store"]["detail"]
        st.cache.memory.clear()  # the next hit must come from the file itself
        assert ask(client, stored).headers["X-Cache"] == "HIT"
        text = client.get("/metrics").text
        assert 'ethos_store_errors_total{kind="disk_full",revision="blue"}' in text
        assert 'ethos_store_up{revision="blue"} 1.0' in text  # reads still work

        cap_pages(store, None)
        deadline = time.monotonic() + 10
        while True:
            ask(client, "Can I pay by invoice?")
            if ask(client, "Can I pay by invoice?").headers["X-Cache"] == "HIT":
                break
            assert time.monotonic() < deadline, "writes did not resume"
            time.sleep(0.2)
        assert client.get("/health").json()["status"] == "ok"
    assert store.integrity_ok()
