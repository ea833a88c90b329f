"""A revision scans its store for PII by itself: an entry planted straight into the store
(past the gate, as a misconfigured allow-list would let it) shows on the revision's own
``ethos_cache_pii_leaks`` within seconds, with no one running a scan. SQLite and Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ethos.cache import Entry, open_store
from ethos.rollout.stack.state import free_port
from tests.polling import wait_until

ETHOS = str(Path(sys.executable).parent / "ethos")


def gauge(text: str, name: str) -> float | None:
    m = re.search(rf'^{name}\{{revision="blue"\}} (\S+)$', text, re.M)
    return None if m is None else float(m.group(1))




@pytest.fixture
def serve(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(cache_url: str) -> str:
        port = free_port()
        env = {**os.environ, "ETHOS_CACHE_URL": cache_url, "ETHOS_SEMANTIC_ENABLED": "false",
               "ETHOS_STATE_DIR": str(tmp_path / "state"), "ETHOS_PII_SCAN_INTERVAL_S": "0.5"}
        log = (tmp_path / f"serve-{port}.log").open("w")
        p = subprocess.Popen([ETHOS, "serve", "--port", str(port), "--revision", "blue"], env=env,
                             cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert p.poll() is None, (tmp_path / f"serve-{port}.log").read_text()[-2000:]
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, what="healthy revision")
        return url

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def cache_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'cache.sqlite3'}"
    return request.getfixturevalue("redis_url")


def test_the_periodic_scan_finds_a_planted_entry_and_exports_the_gauge(serve, cache_url) -> None:
    url = serve(cache_url)
    metrics = lambda: httpx.get(f"{url}/metrics", timeout=5).text  # noqa: E731
    # the first full pass of an empty store: complete, nothing leaks
    wait_until(lambda: gauge(metrics(), "ethos_cache_pii_leaks") == 0.0, 10, what="first complete scan")
    ok_at = gauge(metrics(), "ethos_cache_pii_scan_last_success_timestamp_seconds")
    assert ok_at is not None and abs(ok_at - time.time()) < 60

    store = open_store(cache_url)
    try:
        store.put(Entry(key="marketing:v1:planted:call-me:0123456789abcdef", namespace="marketing",
                        format_version=1, scope="planted", question="can you call me back",
                        reply="Sure, we will call you on 0412 345 678.", created_at=time.time(),
                        ttl_s=3600))

        def leaking() -> str | None:
            m = metrics()
            return m if gauge(m, "ethos_cache_pii_leaks") == 1.0 else None

        # a later pass of the periodic scan finds it (the test's patience, not a latency goal)
        text = wait_until(leaking, 30, what="leak gauge at 1")
        assert "ethos_cache_pii_scan_failures_total" not in text or not re.search(
            r"^ethos_cache_pii_scan_failures_total\{.*\} [1-9]", text, re.M)
        assert gauge(text, "ethos_cache_pii_scan_last_success_timestamp_seconds") >= ok_at
        # removed (as the leak response's clear does): the next complete pass says so
        store.delete_matching("*")
        wait_until(lambda: gauge(metrics(), "ethos_cache_pii_leaks") == 0.0, 10, what="leak gauge back at 0")
    finally:
        store.close()
