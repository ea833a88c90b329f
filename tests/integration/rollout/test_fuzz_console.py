"""Fuzz the console's JSON API from ``GET /api/console/openapi.json`` (schemathesis).

The console is this test's own, with a state dir of its own and targets that do not exist.
With the key, every action is fuzzed as a dry run (``dry_run`` forced on): a real run would
roll back whatever the targets are. Without the key or with a wrong one, real actions are
fuzzed too: every one must be refused, and the journal stays empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ethos.rollout.console import build_console, create_app
from ethos.rollout.procedures.journal import Journal
from ethos.security import LimitSettings
from tests.fuzzing import HOSTILE_BODIES, dry_run, fuzz, hostile_problems, load, report, stray_problems
from tests.integration.rollout.rollout_servers import ThreadedServer

pytestmark = pytest.mark.slow  # fuzzing: left out of `make test-fast`

KEY = "test-admin-key-0123456789"
EXAMPLES = 10
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens
ROUTES = {"GET /api/console/state", "GET /api/console/history", "GET /api/console/auth",
          "POST /api/console/actions/{action}", "GET /metrics"}


def _console(state: Path, **limits) -> ThreadedServer:
    c = build_console(state, router=NOWHERE, revisions=[f"blue={NOWHERE}", f"green={NOWHERE}"],
                      env={"ETHOS_ADMIN_API_KEY": KEY}, persist=False, interval_s=1.0, wait_s=5.0)
    auth = LimitSettings(**limits) if limits else None
    return ThreadedServer(create_app(c, start_sampler=False, auth_limits=auth)).start()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    sd = tmp_path / ".ethos"
    yield sd
    assert list(Journal(sd).runs()) == []  # no action ran, keyed or not


def test_fuzz_with_the_key_dry_runs_only(state: Path) -> None:
    srv = _console(state, max_failures=10**6)
    try:
        results = fuzz(load(f"{srv.url}/api/console/openapi.json"), srv.url, headers={"X-Admin-API-Key": KEY},
                       max_examples=EXAMPLES, prepare=dry_run)
        assert {r.label for r in results} == ROUTES
        assert not report(results), report(results)
        plan = httpx.post(f"{srv.url}/api/console/actions/emergency", headers={"X-Admin-API-Key": KEY},
                          json={"executed_by": "fuzz", "dry_run": True})
        assert plan.status_code == 200 and plan.json()["dry_run"] is True
    finally:
        srv.stop()


@pytest.mark.parametrize("headers", [{}, {"X-Admin-API-Key": "not-the-key"}], ids=["no-key", "wrong-key"])
def test_fuzz_without_the_key_acts_on_nothing(state: Path, headers) -> None:
    srv = _console(state)
    try:
        results = fuzz(load(f"{srv.url}/api/console/openapi.json"), srv.url, headers=headers,
                       max_examples=EXAMPLES // 2,
                       only=lambda label: "actions" in label or "auth" in label)
        assert not report(results), report(results)
    finally:
        srv.stop()


def test_hostile_action_bodies_get_clear_errors(state: Path) -> None:
    srv = _console(state, max_failures=10**6)
    try:
        for name, body in sorted(HOSTILE_BODIES.items()):
            r = httpx.post(f"{srv.url}/api/console/actions/weights", content=body,
                           headers={"X-Admin-API-Key": KEY, "Content-Type": "application/json"})
            problem = hostile_problems(r.status_code, r.headers.get("content-type", ""), r.content)
            assert r.status_code == 400 and problem is None, f"{name}: {r.status_code} {r.text[:200]}"
    finally:
        srv.stop()


def test_stray_methods_and_paths_get_json_errors(state: Path) -> None:
    srv = _console(state)
    try:
        missing = ["/nope", "/api/console/nope", "/api/console/actions/emergency", "/static/nope.js"]
        problems = stray_problems(f"{srv.url}/api/console/openapi.json", srv.url, missing,
                                  headers={"X-Admin-API-Key": KEY})
        assert problems == []
    finally:
        srv.stop()


def test_history_takes_one_finite_since(state: Path) -> None:
    """Found by bench/fuzz.py: a repeated ``since`` (the last one empty) was taken as none."""
    srv = _console(state)
    try:
        for query, status in (("since=1", 200), ("", 200), ("since=", 400), ("since=x&since=", 400),
                              ("since=1&since=2", 400), ("since=nan", 400), ("since=inf", 400)):
            r = httpx.get(f"{srv.url}/api/console/history?{query}")
            assert r.status_code == status, query
    finally:
        srv.stop()
