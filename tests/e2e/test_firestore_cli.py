"""``ethos serve`` and ``ethos cache stats|invalidate|scan-pii`` on Firestore, as a user runs
them (``ETHOS_CACHE_URL=firestore://…`` and ``FIRESTORE_EMULATOR_HOST``, the real emulator).

Also: a collection that holds no cache is refused (exit 2, nothing created), and a machine
without Application Default Credentials (and no emulator) gets an error that names them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from ethos.cache import Entry, open_store
from tests.e2e.e2e_helpers import ETHOS

pytestmark = [pytest.mark.e2e, pytest.mark.firestore]

LEAK = "Sure: write to jane.doe@example.org or call 0412 345 678."


def ethos(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ETHOS_", "FIRESTORE_"))}
    return subprocess.run([ETHOS, *args], capture_output=True, text=True, env={**base, **env},
                          cwd=cwd, timeout=180, stdin=subprocess.DEVNULL, check=False)


def entry(key: str, reply: str, t: float, sources: tuple[str, ...] = ()) -> Entry:
    return Entry(key=key, namespace="marketing", format_version=1, scope="s", question=key.split(":")[3],
                 reply=reply, sources=list(sources), created_at=t, ttl_s=3600, meta={"answerer": "kb"})


def test_cache_commands_on_firestore(tmp_path, firestore_emulator_host, firestore_project) -> None:
    import time

    url = f"firestore://{firestore_project}?collection=answers"
    env = {"ETHOS_CACHE_URL": url, "FIRESTORE_EMULATOR_HOST": firestore_emulator_host,
           "ETHOS_STATE_DIR": str(tmp_path / "state")}
    store = open_store(url)
    now = time.time()
    for i in range(30):
        store.put(entry(f"marketing:v1:s:pricing-question-{i}:{i:04x}", f"Team is ${i}/month.", now))
    for i in range(12):
        store.put(entry(f"marketing:v1:s:refunds-{i}:{i:04x}", "Refunds within 30 days.", now,
                        sources=("refunds.md",)))
    store.put(entry("marketing:v1:s:contact-someone:beef", LEAK, now))
    store.add_hits({"marketing:v1:s:contact-someone:beef": 3})
    store.flush_hits()
    assert store.ping()  # the state document exists: the collection holds a cache
    store.close()

    r = ethos("cache", "stats", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["entries"] == 43 and stats["backend"] == "firestore" and stats["size_bytes"] > 0

    r = ethos("cache", "scan-pii", "--json", "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["scanned"] == 43
    assert [leak["served"] for leak in report["leaks"]] == [3]
    assert "jane.doe@example.org" not in r.stdout + r.stderr

    r = ethos("cache", "scan-pii", "--purge", "--json", "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 1 and json.loads(r.stdout)["purged"] == 1, r.stderr
    r = ethos("cache", "scan-pii", "--json", "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["leaks"] == [], r.stdout

    r = ethos("cache", "invalidate", "--pattern", "marketing:v1:s:pricing*", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # read only the pattern's key range: 30 keys examined for 30 removed, not the 42 stored
    assert out["removed"] == 30 and out["examined"] == 30, out
    assert "removed 30 entries" in r.stderr  # the progress line
    r = ethos("cache", "invalidate", "--doc", "refunds.md", cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "removed 12 entries", r.stderr
    r = ethos("cache", "stats", cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.startswith("0 entries"), r.stdout + r.stderr


def test_a_collection_without_a_cache_is_refused(tmp_path, firestore_emulator_host, firestore_project) -> None:
    env = {"ETHOS_CACHE_URL": f"firestore://{firestore_project}?collection=answrs",  # mistyped
           "FIRESTORE_EMULATOR_HOST": firestore_emulator_host}
    for cmd in (["cache", "stats"], ["cache", "scan-pii", "--quiet"], ["cache", "invalidate", "--pattern", "all"]):
        r = ethos(*cmd, cwd=tmp_path, env=env)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and "no ethos cache" in r.stderr and "Traceback" not in r.stderr
    # nothing was created: the collection is still no cache
    r = ethos("cache", "stats", cwd=tmp_path, env=env)
    assert r.returncode == 2


def test_without_application_default_credentials(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"ETHOS_CACHE_URL": "firestore://some-project", "HOME": str(home),
           "CLOUDSDK_CONFIG": str(home / "gcloud"), "NO_GCE_CHECK": "True",
           "GCE_METADATA_HOST": "127.0.0.1:1", "GCE_METADATA_IP": "127.0.0.1:1"}
    r = ethos("cache", "stats", cwd=tmp_path, env={k: v for k, v in env.items()})
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Application Default Credentials" in lines[0] and "gcloud auth application-default login" in lines[0]


def test_serve_on_firestore(tmp_path, serve_factory, firestore_emulator_host, firestore_project) -> None:
    env = {"ETHOS_CACHE_URL": f"firestore://{firestore_project}", "FIRESTORE_EMULATOR_HOST": firestore_emulator_host,
           "ETHOS_STATE_DIR": str(tmp_path / "state")}
    s = serve_factory(env=env)
    with httpx.Client(base_url=s.url, timeout=30) as c:
        assert c.get("/health").json()["store"] == {"backend": "firestore", "reachable": True, "detail": None}
        results = [c.post("/api/ai/marketing-chat", json={"message": "What are your pricing plans?"}).json()["cache"]
                   for _ in range(3)]
        assert results == ["miss", "hit", "hit"]
        text = c.get("/metrics").text
    ops = dict(re.findall(r'ethos_store_operations_total\{op="(\w+)",revision="blue",store="firestore"\} (\S+)', text))
    assert float(ops["write"]) >= 1 and float(ops["read"]) >= 1 and "query" in ops, ops
    assert re.search(r'ethos_store_price_usd_per_100k\{op="read",revision="blue"\} 0.06', text)
    r = ethos("cache", "stats", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["entries"] == 1, r.stdout + r.stderr
