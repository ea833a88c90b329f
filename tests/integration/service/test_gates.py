"""The PII and quality gates in the running service, and the cache PII scan."""

from __future__ import annotations

import time

from ethos.cache import Entry
from tests.integration.service.service_helpers import ADMIN_KEY, ask

H = {"X-Admin-API-Key": ADMIN_KEY}
EMAIL = "jane.citizen@example.com"


def test_pii_in_the_prompt_is_answered_but_never_stored(service):
    client, app = service
    msg = f"Hi, I'm Jane Citizen, my email is {EMAIL}. What are your pricing plans?"
    r = ask(client, msg)
    assert r.status_code == 200 and "$49" in r.json()["reply"]
    assert ask(client, msg).headers["X-Cache"] == "MISS"
    assert app.state.ethos.cache.store.count() == 0
    text = client.get("/metrics").text
    assert 'ethos_pii_detections_total{entity="EMAIL_ADDRESS",revision="blue",where="prompt"} 2.0' in text
    assert 'ethos_pii_exchanges_total{has_pii="true",revision="blue"} 2.0' in text
    assert 'ethos_cache_admissions_total{outcome="pii",revision="blue"} 2.0' in text


def test_clean_exchanges_count_towards_the_detection_rate(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    text = client.get("/metrics").text
    assert 'ethos_pii_exchanges_total{has_pii="false",revision="blue"} 1.0' in text


def test_selftest_gauge_is_healthy(service):
    client, _ = service
    for _ in range(100):
        text = client.get("/metrics").text
        if 'ethos_pii_detector_selftest{revision="blue"} 1.0' in text:
            return
        time.sleep(0.05)
    raise AssertionError("self-test gauge never reached 1.0")


def test_logs_carry_redacted_messages_only(make_service, tmp_path):
    import httpx

    log_file = tmp_path / "service.log"
    url, _ = make_service(log_file=log_file)
    import logging

    from ethos.service.logs import configure

    configure("blue", log_file)
    try:
        httpx.post(f"{url}/api/ai/marketing-chat",
                   json={"message": f"My email is {EMAIL}, what does the Team plan cost?"})
    finally:
        root = logging.getLogger("ethos")
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        root.setLevel(logging.NOTSET)
    logged = log_file.read_text()
    assert EMAIL not in logged
    assert "<EMAIL_ADDRESS>" in logged and '"not_stored_because":"pii:EMAIL_ADDRESS"' in logged


def _plant(app, key: str, question: str, reply: str, hits: int = 0) -> None:
    st = app.state.ethos
    scope = st.cache.scope
    st.cache.store.put(Entry(key=f"{scope.prefix}{key}", namespace=scope.namespace,
                             format_version=scope.format_version, scope=scope.digest,
                             question=question, reply=reply, created_at=time.time(), ttl_s=600))
    if hits:
        st.cache.store.add_hits({f"{scope.prefix}{key}": hits})


def test_pii_scan_reports_types_and_counts_never_values(service):
    client, app = service
    ask(client, "What are your pricing plans?")
    _plant(app, "leak:1", "call me", "Sure, call 0412 345 678 or mail jane.citizen@example.com", hits=3)
    r = client.get("/api/admin/cache/pii-scan", headers=H)
    assert r.status_code == 200
    body = r.json()
    assert body["scanned"] == 2 and body["leaking"] == 1 and body["purged"] == 0
    leak = body["leaks"][0]
    assert leak["key"].endswith("leak:1") and leak["served"] == 3
    assert leak["entities"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert "0412" not in r.text and "jane" not in r.text
    assert 'ethos_cache_pii_leaks{revision="blue"} 1.0' in client.get("/metrics").text
    # purge removes exactly the leak
    body = client.get("/api/admin/cache/pii-scan?purge=true", headers=H).json()
    assert body["purged"] == 1
    assert app.state.ethos.cache.store.count() == 1
    assert 'ethos_cache_pii_leaks{revision="blue"} 0.0' in client.get("/metrics").text


def test_pii_scan_needs_the_key(service):
    client, _ = service
    assert client.get("/api/admin/cache/pii-scan").status_code == 401


def test_quality_gate_rejections_are_counted(service):
    client, _ = service
    ask(client, "hello there")  # the fallback text
    text = client.get("/metrics").text
    assert 'ethos_cache_quality_rejections_total{reason="fallback",revision="blue"} 1.0' in text


def test_cache_disabled_globally(make_service):
    import httpx

    url, app = make_service(cache_enabled=False)
    for _ in range(2):
        r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"})
        assert r.headers["X-Cache"] == "BYPASS"
    assert app.state.ethos.cache.store.count() == 0
    assert httpx.get(f"{url}/health").json()["cache_enabled"] is False
