from __future__ import annotations

import httpx

from ethos.settings import CACHE_FORMAT_VERSION
from tests.integration.service.service_helpers import ask


def test_health_ok(service):
    client, _ = service
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["revision"] == "blue"
    assert h["cache_format_version"] == CACHE_FORMAT_VERSION
    assert h["store"] == {"backend": "sqlite", "reachable": True, "detail": None}
    assert h["answerer"] == "kb" and h["faults"] is None


def test_unreachable_store_degrades_but_answers(make_service, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    url, _ = make_service(cache_url=f"sqlite:///{blocker}/cache.sqlite3")
    h = httpx.get(f"{url}/health").json()
    assert h["status"] == "degraded" and h["store"]["reachable"] is False
    assert "cache bypassed" in h["store"]["detail"]
    r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"})
    assert r.status_code == 200 and r.headers["X-Cache"] == "BYPASS"
    assert r.json()["reply"]


def test_revision_and_format_from_settings(make_service):
    url, _ = make_service(revision="green", cache_format_version=4)
    h = httpx.get(f"{url}/health").json()
    assert h["revision"] == "green" and h["cache_format_version"] == 4
    r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"})
    assert r.headers["X-Revision"] == "green"
    assert r.json()["revision"] == "green"


def test_metrics_carry_revision_and_the_signals(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    ask(client, "What are your pricing plans?")
    text = client.get("/metrics").text
    assert 'ethos_requests_total{revision="blue",route="/api/ai/marketing-chat",status="200"} 2.0' in text
    assert 'ethos_cache_lookups_total{result="hit",revision="blue"} 1.0' in text
    assert 'ethos_cache_lookups_total{result="miss",revision="blue"} 1.0' in text
    assert 'ethos_store_operations_total{op="write",revision="blue",store="sqlite"}' in text
    assert 'ethos_ttft_seconds_count{revision="blue",route="/api/ai/marketing-chat"} 2.0' in text
    assert "ethos_request_latency_seconds_bucket" in text
    assert 'ethos_store_up{revision="blue"} 1.0' in text
