"""A mistyped state dir or cache URL never reads as an empty, "clean" store (issue 15, item 2).

Every command that reads a store (``ethos cache …``, ``ethos evidence export``, ``ethos
incident pii-leak``) refuses a SQLite file or directory that does not exist (exit 2) and a
Redis that does not answer (exit 1) with an ``error:`` line naming the location (never the
password) and what to check, and creates nothing. ``open_store(create=True)`` (``ethos serve``)
still creates a new store. Run as real commands, in child processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ethos.cache import Entry, StoreMissing, StoreUnavailable, open_store

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`

ETHOS = [sys.executable, "-c", "from ethos.cli import main; main()"]
DEAD_REDIS = "redis://:s3cretpw@127.0.0.1:1/0"  # nothing listens on port 1
CACHE_COMMANDS = [["cache", "scan-pii", "--quiet"], ["cache", "stats"], ["cache", "invalidate", "--pattern", "all"]]


def ethos(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    return subprocess.run([*ETHOS, *args], capture_output=True, text=True, env={**base, **env}, cwd=cwd,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)


def refused(r: subprocess.CompletedProcess[str], code: int, *names: str) -> str:
    """The ``error:`` line of a refused command, after checking its exit code and what it names."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert lines, r.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert "s3cretpw" not in r.stdout + r.stderr
    assert "hold personal data" not in r.stdout and "clean" not in r.stdout
    return lines[0]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --- ethos cache … ----------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", CACHE_COMMANDS, ids=lambda c: c[1])
def test_cache_commands_refuse_a_state_dir_that_does_not_exist(tmp_path, cmd):
    missing = tmp_path / "nonexistent" / "z"
    r = ethos(*cmd, cwd=tmp_path, ETHOS_STATE_DIR=str(missing))
    line = refused(r, 2, str(missing), "ETHOS_STATE_DIR")
    assert "does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("cmd", CACHE_COMMANDS, ids=lambda c: c[1])
def test_cache_commands_refuse_a_missing_sqlite_file_and_create_nothing(tmp_path, cmd):
    path = tmp_path / "cahce.sqlite3"  # mistyped
    r = ethos(*cmd, cwd=tmp_path, ETHOS_CACHE_URL=f"sqlite:///{path}")
    refused(r, 2, f"sqlite:///{path}", "ETHOS_CACHE_URL", "does not exist")
    assert tree(tmp_path) == []
    # the state dir's default cache, state dir present but no cache in it
    sd = tmp_path / "state"
    sd.mkdir()
    r = ethos(*cmd, cwd=tmp_path, ETHOS_STATE_DIR=str(sd))
    refused(r, 2, str(sd / "cache.sqlite3"), "ETHOS_STATE_DIR")
    assert tree(sd) == []


@pytest.mark.parametrize("cmd", CACHE_COMMANDS, ids=lambda c: c[1])
def test_cache_commands_refuse_a_missing_directory_and_create_nothing(tmp_path, cmd):
    path = tmp_path / "nodir" / "cache.sqlite3"
    r = ethos(*cmd, cwd=tmp_path, ETHOS_CACHE_URL=f"sqlite:///{path}")
    refused(r, 2, f"sqlite:///{path}", str(tmp_path / "nodir"))
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("cmd", CACHE_COMMANDS, ids=lambda c: c[1])
def test_cache_commands_refuse_an_unreachable_redis_without_showing_its_password(tmp_path, cmd):
    r = ethos(*cmd, cwd=tmp_path, ETHOS_CACHE_URL=DEAD_REDIS)
    line = refused(r, 1, "redis://***@127.0.0.1:1/0", "cannot be reached", "ETHOS_CACHE_URL")
    assert "s3cretpw" not in line
    assert tree(tmp_path) == []


def test_a_file_that_is_not_a_cache_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"")
    r = ethos("cache", "scan-pii", "--quiet", cwd=tmp_path, ETHOS_CACHE_URL=f"sqlite:///{path}")
    refused(r, 2, "not an ethos cache")
    assert path.read_bytes() == b""


def test_an_existing_store_is_scanned_as_before(tmp_path):
    url = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    store = open_store(url)
    store.put(Entry(key="marketing:v1:s:a:1", namespace="marketing", format_version=1, scope="s",
                    question="What are your plans?", reply="Starter, Team, Enterprise.", created_at=0.0, ttl_s=0))
    store.close()
    r = ethos("cache", "scan-pii", "--quiet", cwd=tmp_path, ETHOS_CACHE_URL=url)
    assert r.returncode == 0, r.stderr
    assert "scanned 1 entries: 0 hold personal data" in r.stdout


def test_an_existing_redis_store_is_read(tmp_path, redis_url):
    r = ethos("cache", "stats", "--json", cwd=tmp_path, ETHOS_CACHE_URL=redis_url)
    assert r.returncode == 0, r.stderr
    assert '"backend": "redis"' in r.stdout


# --- ethos evidence export ------------------------------------------------------------------

def test_evidence_export_refuses_a_state_dir_that_does_not_exist(tmp_path):
    missing = tmp_path / "nonexistent" / "z"
    r = ethos("evidence", "export", "--state-dir", str(missing), cwd=tmp_path)
    refused(r, 2, str(missing), "--state-dir")
    r = ethos("evidence", "export", "--out", str(tmp_path / "ev"), cwd=tmp_path, ETHOS_STATE_DIR=str(missing))
    refused(r, 2, str(missing), "ETHOS_STATE_DIR")
    assert tree(tmp_path) == []


# --- ethos incident pii-leak ----------------------------------------------------------------

def test_pii_leak_refuses_a_state_dir_that_does_not_exist(tmp_path):
    missing = tmp_path / "nonexistent" / "z"
    r = ethos("incident", "pii-leak", "--yes", "--state-dir", str(missing),
              "--cache-url", f"sqlite:///{tmp_path / 'cache.sqlite3'}", cwd=tmp_path)
    refused(r, 2, str(missing))
    r = ethos("incident", "pii-leak", "--yes", cwd=tmp_path, ETHOS_STATE_DIR=str(missing))
    refused(r, 2, str(missing), "ETHOS_STATE_DIR")
    assert tree(tmp_path) == []


@pytest.mark.parametrize("where", ["file", "directory"])
def test_pii_leak_refuses_a_missing_sqlite_store_before_doing_anything(tmp_path, where):
    sd = tmp_path / "state"
    sd.mkdir()
    path = sd / "cahce.sqlite3" if where == "file" else tmp_path / "nodir" / "cache.sqlite3"
    r = ethos("incident", "pii-leak", "--yes", "--state-dir", str(sd), "--cache-url", f"sqlite:///{path}",
              cwd=tmp_path)
    line = refused(r, 2, f"sqlite:///{path}", "--cache-url", "did not start")
    assert "ethos rollback emergency --cause pii" in line
    assert tree(sd) == []  # no incident, no evidence, no store
    assert not (tmp_path / "nodir").exists()
    # the URL from the environment, as when no stack names one
    r = ethos("incident", "pii-leak", "--yes", "--state-dir", str(sd), cwd=tmp_path,
              ETHOS_CACHE_URL=f"sqlite:///{path}")
    refused(r, 2, f"sqlite:///{path}")
    assert tree(sd) == []


def test_pii_leak_refuses_an_unreachable_redis_before_doing_anything(tmp_path):
    sd = tmp_path / "state"
    sd.mkdir()
    r = ethos("incident", "pii-leak", "--yes", "--state-dir", str(sd), "--cache-url", DEAD_REDIS, cwd=tmp_path)
    refused(r, 1, "redis://***@127.0.0.1:1/0", "cannot be reached", "did not start")
    assert tree(sd) == []


# --- only serve creates ----------------------------------------------------------------------

def test_open_store_creates_only_when_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'cache.sqlite3'}"
    with pytest.raises(StoreMissing, match="directory .* does not exist"):
        open_store(url, create=False)
    assert not (tmp_path / "new").exists()
    store = open_store(url)  # the default: what `ethos serve` needs
    store.close()
    assert (tmp_path / "new" / "cache.sqlite3").is_file()
    store = open_store(url, create=False)
    assert store.count() == 0 and store.ping()
    store.close()
    with pytest.raises(StoreUnavailable):
        open_store(DEAD_REDIS, create=False, timeout_s=0.5)


def test_the_service_still_creates_a_new_store(tmp_path):
    from ethos.service.state import AppState
    from ethos.settings import Settings

    sd = tmp_path / "fresh" / "state"
    state = AppState.build(Settings(state_dir=sd, cache_url=""))
    try:
        assert state.cache.check_store()
    finally:
        state.cache.close()
    assert (sd / "cache.sqlite3").is_file()


def test_safe_url_never_shows_a_password():
    from ethos.cache import safe_url

    assert safe_url("redis://user:pw@h:6379/2?prefix=x&password=y") == "redis://***@h:6379/2"
    assert safe_url("rediss://h/0") == "rediss://h/0"
    assert safe_url("sqlite:////tmp/c.sqlite3") == "sqlite:////tmp/c.sqlite3"
