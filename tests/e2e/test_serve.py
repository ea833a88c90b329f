"""A user runs `ethos serve`, asks twice, invalidates, asks again."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.e2e.e2e_helpers import ETHOS

pytestmark = pytest.mark.e2e
KEY = "e2e-admin-key-4b0c"


def ask(url: str, message: str) -> httpx.Response:
    return httpx.post(f"{url}/api/ai/marketing-chat", json={"message": message}, timeout=10)


def test_miss_hit_invalidate_miss(serve_factory, tmp_path):
    s = serve_factory({"ETHOS_ADMIN_API_KEY": KEY}, semantic=True)  # the defaults, as a user runs it
    assert ask(s.url, "What are your pricing plans?").headers["X-Cache"] == "MISS"
    assert ask(s.url, "What are your pricing plans?").headers["X-Cache"] == "HIT"
    r = httpx.post(f"{s.url}/api/admin/cache/invalidate?key_pattern=all",
                   headers={"X-Admin-API-Key": KEY})
    assert r.status_code == 200 and r.json()["removed"] == 1
    assert ask(s.url, "What are your pricing plans?").headers["X-Cache"] == "MISS"
    # the default store is a SQLite file under ./.ethos of the working directory
    assert (tmp_path / ".ethos" / "cache.sqlite3").exists()
    # logs are JSON lines; what they carry of a message is redacted
    ask(s.url, "I'm on 0412 345 678, what are your pricing plans?")
    log = s.log.read_text()
    assert '"route":"/api/ai/marketing-chat"' in log
    assert "0412 345 678" not in log and "<PHONE_NUMBER>" in log
    assert KEY not in log


def test_two_processes_share_one_sqlite_file(serve_factory):
    a = serve_factory({"ETHOS_ADMIN_API_KEY": KEY})
    b = serve_factory({"ETHOS_ADMIN_API_KEY": KEY}, revision="green")
    assert ask(a.url, "Do you integrate with HubSpot?").headers["X-Cache"] == "MISS"
    assert ask(b.url, "Do you integrate with HubSpot?").headers["X-Cache"] == "HIT"
    assert ask(a.url, "Do you integrate with HubSpot?").headers["X-Cache"] == "HIT"
    httpx.post(f"{b.url}/api/admin/cache/invalidate?key_pattern=all", headers={"X-Admin-API-Key": KEY})
    # a's memory tier sees the removal made by another process
    assert ask(a.url, "Do you integrate with HubSpot?").headers["X-Cache"] == "MISS"


def test_cache_cli_invalidates_by_document(serve_factory, tmp_path):
    s = serve_factory({"ETHOS_ADMIN_API_KEY": KEY})
    ask(s.url, "What are your pricing plans?")
    ask(s.url, "Do you integrate with HubSpot?")
    out = subprocess.run([ETHOS, "cache", "invalidate", "--doc", "plans-and-pricing.md", "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"removed": 1' in out.stdout
    assert ask(s.url, "What are your pricing plans?").headers["X-Cache"] == "MISS"
    assert ask(s.url, "Do you integrate with HubSpot?").headers["X-Cache"] == "HIT"


def test_bad_settings_are_a_clear_error(tmp_path):
    out = subprocess.run([ETHOS, "serve", "--revision", "no good"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr


def test_cache_scan_pii_cli(tmp_path):
    import json
    import time

    from ethos.cache import Entry
    from ethos.cache.stores.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / ".ethos" / "cache.sqlite3")
    now = time.time()
    for i, reply in enumerate(["Plans start at $19 per month.",
                               "Sure, I'll call you on 0412 345 678 tomorrow."]):
        store.put(Entry(key=f"marketing:v1:abc:q{i}:h{i}", namespace="marketing", format_version=1,
                        scope="abc", question=f"q{i}", reply=reply, created_at=now, ttl_s=600))
    store.close()

    def scan(*args):
        return subprocess.run([ETHOS, "cache", "scan-pii", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    out = scan("--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["scanned"] == 2 and report["leaking"] == 1
    assert report["leaks"][0]["entities"] == {"PHONE_NUMBER": 1}
    assert "0412" not in out.stdout + out.stderr
    assert "scanned 2/2 entries" in out.stderr  # progress
    out = scan("--purge")
    assert out.returncode == 1 and "purged 1 entries" in out.stdout
    out = scan()
    assert out.returncode == 0 and "0 hold personal data" in out.stdout
