from __future__ import annotations

import pytest

from tests.integration.service.service_helpers import ADMIN_KEY, ask

H = {"X-Admin-API-Key": ADMIN_KEY}


def test_invalidate_all_then_miss(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    ask(client, "Do you integrate with HubSpot?")
    r = client.post("/api/admin/cache/invalidate", params={"key_pattern": "all"}, headers=H)
    assert r.status_code == 200 and r.json() == {"removed": 2, "key_pattern": "all"}
    assert ask(client, "What are your pricing plans?").headers["X-Cache"] == "MISS"


def test_invalidate_by_glob_removes_only_matches(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    ask(client, "Do you integrate with HubSpot?")
    r = client.post("/api/admin/cache/invalidate", params={"key_pattern": "marketing:*:*pricing*"}, headers=H)
    assert r.json()["removed"] == 1
    assert ask(client, "Do you integrate with HubSpot?").headers["X-Cache"] == "HIT"
    assert ask(client, "What are your pricing plans?").headers["X-Cache"] == "MISS"


def test_invalidate_by_source_document(service):
    client, _ = service
    ask(client, "What are your pricing plans?")
    ask(client, "Do you integrate with HubSpot?")
    r = client.post("/api/admin/cache/invalidate-source", params={"source": "plans-and-pricing.md"}, headers=H)
    assert r.json() == {"removed": 1, "source": "plans-and-pricing.md"}
    assert ask(client, "Do you integrate with HubSpot?").headers["X-Cache"] == "HIT"


def test_missing_and_wrong_key(service):
    client, app = service
    ask(client, "What are your pricing plans?")
    r = client.post("/api/admin/cache/invalidate", params={"key_pattern": "all"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = client.post("/api/admin/cache/invalidate", params={"key_pattern": "all"},
                    headers={"X-Admin-API-Key": "wrong"})
    assert r.status_code == 403 and "wrong" not in r.text
    assert app.state.ethos.cache.store.count() == 1
    assert client.get("/api/admin/cache/stats").status_code == 401


def test_no_key_configured_refuses_with_how_to(make_service):
    import httpx

    url, _ = make_service(admin_api_key="")
    r = httpx.post(f"{url}/api/admin/cache/invalidate", params={"key_pattern": "all"},
                   headers={"X-Admin-API-Key": "anything"})
    assert r.status_code == 503 and "ETHOS_ADMIN_API_KEY" in r.json()["detail"]


@pytest.mark.parametrize(
    "pattern", ["", "   ", "x" * 300, "marketing:*'; DROP TABLE entries; --", "a b", "[abc", "*\\*"]
)
def test_malformed_patterns_are_400_and_change_nothing(service, pattern):
    client, app = service
    ask(client, "What are your pricing plans?")
    r = client.post("/api/admin/cache/invalidate", params={"key_pattern": pattern}, headers=H)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"] in ("invalid_key_pattern", "invalid_request")
    assert app.state.ethos.cache.store.count() == 1


def test_missing_pattern_is_422(service):
    client, _ = service
    r = client.post("/api/admin/cache/invalidate", headers=H)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
