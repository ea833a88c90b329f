"""The console's JSON API against a real local stack (`ethos stack up` on free ports).

The console app runs in-process (Starlette's test client) with its sampler ticked by hand;
actions run the procedures library against the real router and revisions, and are checked
in the journal and in ``GET /router/traffic``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ethos.rollout.console import build_console, create_app
from ethos.rollout.procedures.control import Control
from ethos.rollout.procedures.journal import Journal
from tests.stacks import ETHOS, clean_env, stack_down, stack_up

pytestmark = pytest.mark.slow  # starts a stack and the ethos CLI: left out of `make test-fast`


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("console") / ".ethos"
    r = stack_up(state, "--weights", "blue=80,green=20")
    assert r.returncode == 0, r.stdout + r.stderr
    # `stack up` returns once every revision answers /health, degraded included: on a loaded
    # machine one of two revisions opening the same new SQLite file may start with its store
    # marked down and see it up at its next check (2 s). The console is shown a settled stack.
    revisions = json.loads((state / "stack.json").read_text())["revisions"]
    deadline = time.monotonic() + 30
    for url in revisions.values():
        while (body := httpx.get(f"{url}/health").json())["status"] != "ok":
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
    yield state
    stack_down(state)


@pytest.fixture
def console(stack: Path) -> Iterator[tuple[TestClient, object]]:
    c = build_console(stack, interval_s=1.0, persist=False, env=clean_env(), wait_s=60.0)
    client = TestClient(create_app(c, start_sampler=False))
    c.sampler.tick()
    yield client, c
    client.close()
    c.sampler.stop()


def _key(stack: Path) -> str:
    return (stack / "admin_key").read_text().strip()


def _traffic(stack: Path) -> dict[str, int]:
    router = json.loads((stack / "stack.json").read_text())["router"]
    return httpx.get(f"{router}/router/traffic").json()["weights"]


def _set(stack: Path, weights: dict[str, int]) -> None:
    router = json.loads((stack / "stack.json").read_text())["router"]
    r = httpx.put(f"{router}/router/traffic", json=weights, headers={"X-Admin-API-Key": _key(stack)})
    assert r.status_code == 200, r.text


def test_state_shows_revisions_weights_health_and_every_trigger(console) -> None:
    client, c = console
    st = client.get("/api/console/state").json()
    revs = {r["name"]: r for r in st["revisions"]}
    assert set(revs) == {"blue", "green"}
    assert revs["blue"]["health"] == "ok" and revs["blue"]["cache_format_version"] == 1, revs["blue"]
    assert st["weights"] == _traffic(c.state_dir)
    assert len(st["triggers"]["rows"]) == len(c.policy.triggers)
    assert st["triggers"]["source"] == "console"
    assert {r["status"] for r in st["triggers"]["rows"]} <= {"ok", "watching", "firing", "inconclusive", "no-data"}
    assert st["auth"] == {"configured": True}
    assert set(st["now"]) == {"blue", "green"} and "error_rate" in st["now"]["blue"]  # the latest sample
    assert st["incident"]["available"] in (True, False)
    assert "key" not in json.dumps(st["revisions"]).lower()


def test_history_in_columns_with_chart_specs(console) -> None:
    client, c = console
    c.sampler.tick()
    h = client.get("/api/console/history").json()
    assert len(h["t"]) >= 2 and h["window_s"] == 60.0
    assert set(h["series"]["error_rate"]) == {"blue", "green"}
    assert len(h["series"]["error_rate"]["blue"]) == len(h["t"])
    assert {c["signal"] for c in h["charts"]} == set(h["series"])
    assert client.get("/api/console/history?since=x").status_code == 400
    assert client.get("/api/console/history", params={"since": h["t"][-1]}).json()["t"] == [h["t"][-1]]


def test_page_and_vendored_chart_library_are_served(console) -> None:
    client, _ = console
    page = client.get("/")
    assert page.status_code == 200 and "ethos console" in page.text
    assert 'src="/static/vendor/uplot/uPlot.iife.min.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    js = client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    assert client.get("/static/console.js").status_code == 200


@pytest.mark.parametrize("action", ["emergency", "gradual", "weights", "invalidate", "drill"])
def test_actions_without_or_with_a_wrong_key_are_refused(console, action: str) -> None:
    client, c = console
    before = _traffic(c.state_dir)
    r = client.post(f"/api/console/actions/{action}", json={"executed_by": "eve"})
    assert r.status_code == 401 and r.json()["error"] == "missing_admin_key"
    r = client.post(f"/api/console/actions/{action}", json={"executed_by": "eve"},
                    headers={"X-Admin-API-Key": "wrong"})
    assert r.status_code == 403 and r.json()["error"] == "wrong_admin_key"
    assert _traffic(c.state_dir) == before
    assert client.get("/api/console/auth").status_code == 401
    assert client.get("/api/console/auth", headers={"X-Admin-API-Key": "nope"}).status_code == 403
    assert client.get("/api/console/auth", headers={"X-Admin-API-Key": _key(c.state_dir)}).status_code == 204


def test_no_key_configured_is_503(stack: Path, tmp_path: Path) -> None:
    env = clean_env()
    c = build_console(stack, persist=False, env=env)
    c.admin_key = lambda: None
    client = TestClient(create_app(c, start_sampler=False))
    r = client.post("/api/console/actions/emergency", json={"executed_by": "x"}, headers={"X-Admin-API-Key": "k"})
    assert r.status_code == 503 and "ETHOS_ADMIN_API_KEY" in r.json()["detail"]
    client.close()
    c.sampler.stop()


def test_bad_requests_are_clear_json_errors(console) -> None:
    client, c = console
    h = {"X-Admin-API-Key": _key(c.state_dir)}
    assert client.post("/api/console/actions/reboot", headers=h, json={}).json()["error"] == "unknown_action"
    r = client.post("/api/console/actions/weights", headers=h, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = client.post("/api/console/actions/weights", headers=h, json={"weights": {"blue": 100}})
    assert r.status_code == 400 and r.json()["error"] == "missing_executed_by"
    r = client.post("/api/console/actions/weights", headers=h, json={"executed_by": "a", "weights": {"blue": 70, "green": 20}})
    assert r.status_code == 400 and r.json()["error"] == "invalid_weights"
    r = client.post("/api/console/actions/weights", headers=h, json={"executed_by": "a", "weights": {"red": 100}})
    assert r.status_code == 400
    r = client.post("/api/console/actions/gradual", headers=h, json={"executed_by": "a", "stages": "5:1s,50:1s"})
    assert r.status_code == 400 and "stages" in r.json()["detail"]


def test_dry_run_describes_the_plan_and_changes_nothing(console) -> None:
    client, c = console
    before = _traffic(c.state_dir)
    n = len(Journal(c.state_dir).ids())
    r = client.post("/api/console/actions/emergency", headers={"X-Admin-API-Key": _key(c.state_dir)},
                    json={"executed_by": "dev", "dry_run": True})
    assert r.status_code == 200
    lines = r.json()["lines"]
    assert any("shift_traffic" in x and "blue=100" in x for x in lines)
    assert any("invalidate_cache:green" in x for x in lines)
    assert _traffic(c.state_dir) == before and len(Journal(c.state_dir).ids()) == n


def test_set_weights_is_journaled_with_who(console) -> None:
    client, c = console
    r = client.post("/api/console/actions/weights", headers={"X-Admin-API-Key": _key(c.state_dir)},
                    json={"executed_by": "priya", "reason": "canary", "weights": {"blue": 60, "green": 40}})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    assert _traffic(c.state_dir) == {"blue": 60, "green": 40}
    rec = Journal(c.state_dir).load(r.json()["rollback_id"])
    start = rec.events[0]
    assert rec.procedure == "set_weights" and rec.status == "done"
    assert start["executed_by"] == "priya" and start["reason"] == "canary"
    assert "X-Admin" not in json.dumps(rec.events) and _key(c.state_dir) not in json.dumps(rec.events)
    row = client.get("/api/console/state").json()["journal"][0]
    assert row["executed_by"] == "priya" and row["procedure"] == "set_weights"


def test_invalidate_all_and_by_pattern(console) -> None:
    client, c = console
    router = json.loads((c.state_dir / "stack.json").read_text())["router"]
    _set(c.state_dir, {"blue": 100, "green": 0})
    for _ in range(2):
        httpx.post(f"{router}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"}, timeout=30)
    h = {"X-Admin-API-Key": _key(c.state_dir)}
    r = client.post("/api/console/actions/invalidate", headers=h,
                    json={"executed_by": "tom", "pattern": "marketing:*:*pricing*", "revisions": ["blue"]})
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["values"]["removed"] >= 1
    r = client.post("/api/console/actions/invalidate", headers=h, json={"executed_by": "tom"})
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["steps"]] == ["invalidate_cache:blue", "invalidate_cache:green"]
    assert Journal(c.state_dir).load(r.json()["rollback_id"]).events[0]["executed_by"] == "tom"


def test_a_second_action_while_one_holds_the_lock_is_409(console) -> None:
    client, c = console
    lock = Control(c.state_dir, "rb-held", "gradual").acquire()  # this process holds it: not stale
    try:
        r = client.post("/api/console/actions/weights", headers={"X-Admin-API-Key": _key(c.state_dir)},
                        json={"executed_by": "a", "weights": {"blue": 100, "green": 0}})
        assert r.status_code == 409 and r.json()["error"] == "busy"
        assert client.get("/api/console/state").json()["lock"]["rollback_id"] == "rb-held"
    finally:
        lock.release()


def test_emergency_rollback_runs_the_procedure(console) -> None:
    client, c = console
    _set(c.state_dir, {"blue": 50, "green": 50})
    r = client.post("/api/console/actions/emergency", headers={"X-Admin-API-Key": _key(c.state_dir)},
                    json={"executed_by": "dev", "reason": "error rate 7.4% on green"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "done" and out["procedure"] == "emergency"
    assert _traffic(c.state_dir) == {"blue": 100, "green": 0}
    names = [s["name"] for s in out["steps"]]
    assert names[:3] == ["snapshot", "decide_cache", "shift_traffic"] and "verify_health" in names
    rec = Journal(c.state_dir).load(out["rollback_id"])
    assert rec.status == "done" and rec.events[0]["executed_by"] == "dev"
    assert rec.events[0]["params"]["via"] == "console"
    inc = out.get("incident") or {}
    if inc.get("opened"):  # the incidents package is installed: the page shows it with its checklist
        shown = client.get("/api/console/state").json()["incident"]
        assert shown["available"] and shown["incident"]["id"] == inc["id"]
        assert shown["incident"]["status"] == "open" and shown["incident"]["checklist"]


def test_gradual_rollback_answers_202_then_finishes(console) -> None:
    client, c = console
    _set(c.state_dir, {"blue": 50, "green": 50})
    c.operator.wait_s = 0.2  # a gradual rollback outlives the request
    c.operator.poll_s = 0.2
    r = client.post("/api/console/actions/gradual", headers={"X-Admin-API-Key": _key(c.state_dir)},
                    json={"executed_by": "priya", "stages": "25:1s,5:1s", "cache": "preserve"})
    assert r.status_code == 202, r.text
    rid = r.json()["rollback_id"]
    job = c.operator.jobs[rid]
    assert any(j["rollback_id"] == rid for j in client.get("/api/console/state").json()["jobs"])
    assert job.done.wait(60)
    assert job.outcome and job.outcome["status"] in ("done", "held"), job.outcome
    if job.outcome["status"] == "done":
        assert _traffic(c.state_dir) == {"blue": 100, "green": 0}
    assert Journal(c.state_dir).load(rid).events[0]["executed_by"] == "priya"


def test_drill_dry_run_and_status(console) -> None:
    client, c = console
    h = {"X-Admin-API-Key": _key(c.state_dir)}
    assert client.post("/api/console/actions/drill", headers=h, json={"dry_run": True}).status_code == 400
    r = client.post("/api/console/actions/drill", headers=h, json={"executed_by": "dev", "dry_run": True})
    st = client.get("/api/console/state").json()
    if r.status_code == 501:  # the drill package is not installed
        assert r.json()["error"] == "not_available" and st["drill"]["available"] is False
        return
    assert r.status_code == 200 and "ethos drill" in r.json()["lines"][0]
    assert st["actions"]["drill"] is True
    assert st["drill"]["available"] and st["drill"]["drill"]["overdue"] is True  # no drill has run here


def test_cli_refuses_bad_input_cleanly(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ETHOS, "console", *args], capture_output=True, text=True, env=clean_env(),
                              timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)

    r = run("--state-dir", str(tmp_path / "none"), "--listen", "127.0.0.1:1")
    assert r.returncode == 2 and r.stderr.startswith("error: no revision URLs") and "Traceback" not in r.stderr
    r = run("--listen", "nope")
    assert r.returncode == 2 and "--listen must be HOST:PORT" in r.stderr
    r = run("--router", "http://127.0.0.1:9", "--revision", "blue=ftp://x")
    assert r.returncode == 2 and "bad --revision" in r.stderr


def test_a_running_guard_is_the_source_of_the_trigger_states(console) -> None:
    import time

    from ethos.rollout.guard.history import GuardHistory

    client, c = console
    h = GuardHistory(c.state_dir)
    h.dir.mkdir(parents=True, exist_ok=True)
    rec = {"t": time.time(), "decision": {"action": "emergency", "trigger": "error_rate_critical"},
           "triggers": [{"trigger": "error_rate_critical", "status": "firing", "value": 0.074, "samples": 1912}],
           "unavailable": {}}
    h.path.write_text(json.dumps(rec) + "\n")
    try:
        tr = client.get("/api/console/state").json()["triggers"]
        assert tr["source"] == "guard" and tr["decision"]["action"] == "emergency"
        row = next(r for r in tr["rows"] if r["trigger"] == "error_rate_critical")
        assert row["status"] == "firing" and row["value"] == 0.074
        rec["t"] -= 3600  # an old evaluation: the guard is not running, the console evaluates
        h.path.write_text(json.dumps(rec) + "\n")
        assert client.get("/api/console/state").json()["triggers"]["source"] == "console"
    finally:
        h.path.unlink()
