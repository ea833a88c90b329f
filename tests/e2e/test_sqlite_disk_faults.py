"""The SQLite cache on a full, then a read-only disk, under a real ``ethos serve``.

The disk is a small tmpfs mounted for the test (root, as in CI). Filled up: every answer is
still given, entries already stored are still served, new answers are not stored and
``/health`` says ``degraded`` with the reason; once space returns, answers are stored again
and health is ``ok`` by itself. Mounted read-only (a running process holding the file open for
writing keeps Linux from remounting, so the service starts on the read-only disk): answers
bypass the cache and health says why; remounted writable, the cache comes back by itself.
``PRAGMA integrity_check`` passes afterwards and every row is a complete entry.

Without the right to mount (not root) the test is skipped, except under ``CI=true`` where it
fails; ``tests/integration/service/test_sqlite_full.py`` covers the full-disk path with
SQLite's own page limit in any case.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from ethos.cache.entry import Entry
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-disk-admin-key-77d1"
DISK_SIZE = "4m"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def disk(tmp_path: Path):
    """A tmpfs of DISK_SIZE at tmp_path/disk, unmounted afterwards."""
    point = tmp_path / "disk"
    point.mkdir()
    got = _mount("-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(point))
    if got.returncode != 0:
        msg = f"cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): {got.stderr.strip()}"
        if _in_ci():
            pytest.fail(f"CI=true: {msg}")
        pytest.skip(msg)
    try:
        yield point
    finally:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def ask(url: str, message: str) -> httpx.Response:
    r = httpx.post(f"{url}/api/ai/marketing-chat", json={"message": message}, timeout=30)
    assert r.status_code == 200, r.text  # never a 5xx, whatever the disk does
    assert r.json()["reply"]
    return r


def health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()




def fill(point: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to give the space back)."""
    filler = point / "filler"
    with filler.open("wb", buffering=0) as f:
        block = b"\0" * 65536
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        try:  # the last partial block
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def check_file(db_path: Path) -> int:
    """integrity_check ok and every row a complete, parseable entry; returns the row count."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT key, data FROM entries").fetchall()
        for key, data in rows:
            assert Entry.from_json(data).key == key
        return len(rows)
    finally:
        db.close()


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
]


def test_full_then_read_only_disk(serve_factory, disk: Path, tmp_path: Path) -> None:
    db_path = disk / "cache.sqlite3"
    env = {
        "ETHOS_CACHE_URL": f"sqlite:///{db_path}",
        "ETHOS_ADMIN_API_KEY": KEY,
        "ETHOS_STATE_DIR": str(tmp_path / "state"),
    }
    sent = 0

    # --- full disk ------------------------------------------------------------------
    s = serve_factory(env)
    stored = "What are your pricing plans?"
    assert ask(s.url, stored).headers["X-Cache"] == "MISS"
    assert ask(s.url, stored).headers["X-Cache"] == "HIT"
    sent += 2
    filler = fill(disk)

    # new answers are still given; the first write that needs space fails and says why
    refused = 0
    for q in QUESTIONS:
        r = ask(s.url, q)
        sent += 1
        assert r.headers["X-Cache"] == "MISS"  # reads still work: a lookup, not a bypass
        if health(s.url)["status"] == "degraded":
            refused = 1
            break
    assert refused, "the full disk was never noticed"
    h = health(s.url)
    assert h["store"]["reachable"] is True
    assert "disk_full" in h["store"]["detail"] and "disk is full" in h["store"]["detail"]
    assert ask(s.url, stored).headers["X-Cache"] == "HIT"  # what is stored is still served
    assert ask(s.url, "Do you have a mobile app?").headers["X-Cache"] == "MISS"
    assert ask(s.url, "Do you have a mobile app?").headers["X-Cache"] == "MISS"  # not stored
    sent += 3
    metrics = httpx.get(f"{s.url}/metrics", timeout=10).text
    assert 'ethos_store_errors_total{kind="disk_full",revision="blue"}' in metrics

    # space returns: the next answers are stored again, health is ok by itself
    filler.unlink()

    def stored_again() -> bool:
        nonlocal sent
        sent += 2
        ask(s.url, "Do you have a mobile app?")
        return ask(s.url, "Do you have a mobile app?").headers["X-Cache"] == "HIT"

    assert eventually(stored_again, 20.0, interval=0.1), "writes did not resume after space returned"
    assert health(s.url)["status"] == "ok"
    s.stop()
    log = s.log.read_text()  # one line when it starts, one when it ends: not one per request
    assert log.count("cache writes failing") == 1 and log.count("cache writes work again") == 1
    rows_after_full = check_file(db_path)
    assert rows_after_full >= 2

    # --- read-only disk -------------------------------------------------------------
    got = _mount("-o", "remount,ro", str(disk))
    assert got.returncode == 0, got.stderr
    s = serve_factory(env, revision="green")
    h = health(s.url)
    assert h["status"] == "degraded" and h["store"]["reachable"] is False
    assert "read-only" in h["store"]["detail"], h
    r = ask(s.url, stored)
    sent += 1
    assert r.headers["X-Cache"] == "BYPASS"
    metrics = httpx.get(f"{s.url}/metrics", timeout=10).text
    assert 'ethos_store_errors_total{kind="read_only",revision="green"}' in metrics

    got = _mount("-o", "remount,rw", str(disk))
    assert got.returncode == 0, got.stderr
    assert eventually(lambda: health(s.url)["status"] == "ok", 20.0, interval=0.1), health(s.url)

    def served_again() -> bool:
        nonlocal sent
        sent += 1
        return ask(s.url, stored).headers["X-Cache"] == "HIT"

    assert eventually(served_again, 20.0, interval=0.1), "the cache did not come back after the remount"
    s.stop()
    assert check_file(db_path) == rows_after_full
    print(f"disk faults: {sent} requests sent, 0 failed, 0 5xx")
