"""`ethos rollback ...` as a user runs it, against fake revisions and a fake router on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.rollout._rollback_fakes import FakeRevision, FakeRouter, WebhookReceiver

pytestmark = pytest.mark.slow  # starts the ethos CLI as a process per test: left out of `make test-fast`


def ethos(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *args],
                          capture_output=True, text=True, env=e, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def stack(tmp_path):
    blue, green = FakeRevision("blue").start(), FakeRevision("green").start()
    router = FakeRouter(["blue", "green"]).start()
    hook = WebhookReceiver().start()

    class S:
        pass

    s = S()
    s.blue, s.green, s.router, s.hook, s.state = blue, green, router, hook, str(tmp_path / "state")
    s.flags = ["--router", router.url, "--revision", f"blue={blue.url}", "--revision", f"green={green.url}",
               "--state-dir", s.state]
    # incidents (opened after each run) notify too: off, so the webhook sees the rollback's alone
    s.env = {"ETHOS_ADMIN_API_KEY": "k", "ETHOS_NOTIFY_WEBHOOK_URL": hook.url + "/hook",
             "ETHOS_NO_AUTO_INCIDENT": "1"}
    yield s
    for srv in (blue, green, router, hook):
        srv.stop()


def history(s, rid=None):
    r = ethos("rollback", "history", *([rid] if rid else []), "--state-dir", s.state, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def puts(srv):
    return [c for c in srv.calls if c == ("PUT", "/router/traffic")]


def test_emergency_end_to_end_json(stack):
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", "--reason", "error rate > 5%",
              env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "done" and out["procedure"] == "emergency"
    assert stack.router.weights == {"blue": 100, "green": 0}
    assert ("POST", "/api/admin/cache/invalidate") in stack.blue.calls
    assert ("POST", "/api/admin/cache/invalidate") in stack.green.calls
    assert stack.blue.entries == 0 and stack.green.entries == 0
    (path, body), = stack.hook.received
    assert body["reason"] == "error rate > 5%" and body["outcome"] == "done"
    runs = history(stack)
    assert runs[0]["status"] == "done" and runs[0]["steps_done"] == runs[0]["steps"]
    assert "k" not in json.dumps(history(stack, out["rollback_id"])["events"][0]["targets"]["revisions"])


def test_human_output_prints_each_step_with_its_time(stack):
    r = ethos("rollback", "emergency", *stack.flags, "--yes", env=stack.env)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if "shift_traffic" in x]
    assert lines and lines[0][2] == ":" and "+" in lines[0] and "blue=100" in lines[0]
    assert "done in" in r.stdout


def test_dry_run_changes_nothing(stack):
    r = ethos("rollback", "gradual", *stack.flags, "--dry-run", "--stages", "50:5s,25:5s,5:5s", env=stack.env)
    assert r.returncode == 0, r.stderr
    assert "monitor@25" in r.stdout and "cache: preserve" in r.stdout
    assert not puts(stack.router) and stack.blue.entries == 10
    assert not os.path.exists(os.path.join(stack.state, "journal"))


def test_unknown_revision_name_is_bad_input(stack):
    r = ethos("rollback", "emergency", *stack.flags, "--blue", "purple", "--yes", env=stack.env)
    assert r.returncode == 2 and "unknown revision 'purple'" in r.stderr
    assert "Traceback" not in r.stderr
    r = ethos("rollback", "emergency", *stack.flags, "--blue", "purple", "--yes", "--json", env=stack.env)
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"status": "error", "exit_code": 2,
                                    "error": "unknown revision 'purple' (--blue); known revisions: blue, green"}


def test_without_yes_and_no_terminal_refuses(stack):
    r = ethos("rollback", "emergency", *stack.flags, env=stack.env)
    assert r.returncode == 2 and "--yes" in r.stderr and not puts(stack.router)


def test_unreachable_router_fails_with_a_journal_entry(stack):
    stack.router.stop()
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", env=stack.env)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["status"] == "failed" and "unreachable" in out["message"]
    rec = history(stack)[0]
    assert rec["status"] == "failed" and rec["steps_done"] == 0
    assert stack.blue.entries == 10  # nothing half-done
    stack.router = FakeRouter(["blue", "green"]).start()  # for teardown


def test_wrong_admin_key_fails_cleanly(stack):
    r = ethos("rollback", "emergency", *stack.flags, "--yes", env={**stack.env, "ETHOS_ADMIN_API_KEY": "bad"})
    assert r.returncode == 1 and "403" in r.stdout
    assert stack.router.weights == {"blue": 0, "green": 100}


def test_an_equal_rollback_is_refused_and_an_emergency_preempts_the_holder(stack):
    lock = os.path.join(stack.state, "journal", "rollback.lock")
    os.makedirs(os.path.dirname(lock))
    with open(lock, "w") as f:  # a live standard rollback holds control
        json.dump({"pid": os.getpid(), "rollback_id": "rb-other", "host": os.uname().nodename,
                   "procedure": "standard", "priority": 2}, f)
    r = ethos("rollback", "standard", "--force", *stack.flags, "--yes", env=stack.env)
    assert r.returncode == 5 and "rb-other" in r.stderr and not puts(stack.router)
    assert "ethos rollback history rb-other" in r.stderr and "ethos rollback emergency --yes" in r.stderr
    r = ethos("rollback", "standard", "--force", *stack.flags, "--yes", "--json", env=stack.env)
    assert r.returncode == 5 and json.loads(r.stdout)["holder"]["rollback_id"] == "rb-other"
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(puts(stack.router)) == 1 and stack.router.weights == {"blue": 100, "green": 0}


def test_resume_continues_without_redoing_steps(stack):
    stack.blue.fail_invalidate = True
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", env=stack.env)
    assert r.returncode == 1
    rid = json.loads(r.stdout)["rollback_id"]
    assert "invalidate_cache:blue" in json.loads(r.stdout)["message"]
    assert stack.router.weights == {"blue": 100, "green": 0} and len(puts(stack.router)) == 1
    stack.blue.fail_invalidate = False
    r = ethos("rollback", "resume", "--state-dir", stack.state, "--yes", "--json", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["rollback_id"] == rid and out["status"] == "done"
    assert [s["status"] for s in out["steps"][:3]] == ["done-before"] * 3
    assert len(puts(stack.router)) == 1 and stack.blue.entries == 0
    r = ethos("rollback", "resume", "--state-dir", stack.state, "--yes", env=stack.env)
    assert r.returncode == 2 and "is done; nothing to resume" in r.stderr


def test_standard_stops_when_signals_do_not_confirm_then_runs_on_evidence(stack):
    r = ethos("rollback", "standard", *stack.flags, "--yes", "--json", env=stack.env)
    assert r.returncode == 3 and "not confirmed" in json.loads(r.stdout)["message"]
    assert not puts(stack.router)
    stack.router.stats["green"] = {"count": 400, "error_rate": 0.074, "p95_latency_ms": 60.0}
    r = ethos("rollback", "standard", *stack.flags, "--yes", "--json", "--reason", "Error rate > 2%",
              env=stack.env)
    assert r.returncode == 0, r.stdout
    steps = {s["name"]: s for s in json.loads(r.stdout)["steps"]}
    assert "7.4%" in steps["verify_issue"]["message"] and steps["probe"]["status"] == "ok"


def test_gradual_with_second_long_stages(stack):
    r = ethos("rollback", "gradual", *stack.flags, "--yes", "--json", "--stages", "50:0.3s,25:0.3s,5:0.3s",
              "--poll", "0.1", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert stack.router.weights == {"blue": 100, "green": 0} and len(puts(stack.router)) == 4
    decision = next(s for s in json.loads(r.stdout)["steps"] if s["name"] == "decide_cache")
    assert decision["values"]["action"] == "preserve"  # same format, auto


def test_gradual_holds_and_says_why(stack):
    stack.router.stats["blue"] = {"count": 300, "error_rate": 0.09, "p95_latency_ms": 40.0}
    r = ethos("rollback", "gradual", *stack.flags, "--yes", "--stages", "50:0.3s,25:0.3s", "--poll", "0.1",
              env=stack.env)
    assert r.returncode == 3 and "held at green=50%" in r.stdout and "error rate 9.0%" in r.stdout
    assert stack.router.weights == {"blue": 50, "green": 50}


def test_preserving_across_formats_is_refused(stack):
    stack.green.fmt = 2
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--cache", "preserve", env=stack.env)
    assert r.returncode == 1 and "format 1" in r.stdout and "format 2" in r.stdout
    assert not puts(stack.router)


def test_verify_reports_each_criterion(stack):
    r = ethos("rollback", "verify", *stack.flags, "--json", env=stack.env)
    assert r.returncode == 1
    crit = {c["name"]: c for c in json.loads(r.stdout)["criteria"]}
    assert not crit["traffic_100_blue"]["passed"] and crit["error_rate_below_1pct"]["passed"]
    assert ethos("rollback", "emergency", *stack.flags, "--yes", env=stack.env).returncode == 0
    r = ethos("rollback", "verify", *stack.flags, env=stack.env)
    assert r.returncode == 0, r.stdout
    assert r.stdout.count("PASS") == 4


def test_verify_on_a_quiet_router_is_inconclusive(stack):
    stack.router.weights = {"blue": 100, "green": 0}
    stack.router.stats["blue"] = {"count": 0, "error_rate": 0.0}
    r = ethos("rollback", "verify", *stack.flags, env=stack.env)
    assert r.returncode == 4, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("PASS") and "traffic_100_blue" in lines[0]
    assert sum(x.startswith("INCONCLUSIVE") for x in lines) == 3 and "FAIL" not in r.stdout
    assert "0 requests on blue in the 60 s window; needs 20" in r.stdout
    assert lines[-1].startswith("verdict: inconclusive") and "20 more needed" in lines[-1]
    r = ethos("rollback", "verify", *stack.flags, "--json", env=stack.env)
    assert r.returncode == 4
    out = json.loads(r.stdout)
    assert out["verdict"] == "inconclusive" and out["needs_requests"] == 20 and out["passed"] is False
    assert out["weights_error"] is None
    assert [(c["status"], c["passed"]) for c in out["criteria"]] == \
        [("pass", True)] + [("inconclusive", False)] * 3


def test_verify_on_a_single_request_is_inconclusive(stack):
    stack.router.weights = {"blue": 100, "green": 0}
    stack.router.stats["blue"] = {"count": 1, "error_rate": 0.0, "p50_latency_ms": 20.0, "p95_latency_ms": 20.0}
    r = ethos("rollback", "verify", *stack.flags, env=stack.env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "1 request on blue in the 60 s window; needs 20" in r.stdout and "19 more needed" in r.stdout
    out = json.loads(ethos("rollback", "verify", *stack.flags, "--json", env=stack.env).stdout)
    assert out["verdict"] == "inconclusive" and out["needs_requests"] == 19


def test_verify_with_enough_healthy_traffic_passes(stack):
    stack.router.weights = {"blue": 100, "green": 0}
    stack.router.stats["blue"] = {"count": 20, "error_rate": 0.0, "p50_latency_ms": 20.0, "p95_latency_ms": 40.0}
    r = ethos("rollback", "verify", *stack.flags, "--json", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "pass" and out["needs_requests"] == 0 and out["passed"] is True
    assert [c["status"] for c in out["criteria"]] == ["pass"] * 4


def test_verify_fails_when_traffic_is_not_on_blue_even_if_quiet(stack):
    stack.router.stats["blue"] = {"count": 0, "error_rate": 0.0}
    r = ethos("rollback", "verify", *stack.flags, "--json", env=stack.env)
    assert r.returncode == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "fail" and out["needs_requests"] == 0
    assert out["criteria"][0]["status"] == "fail"


def test_targets_from_the_stack_file(stack, tmp_path):
    os.makedirs(stack.state, exist_ok=True)
    keyfile = tmp_path / "admin_key"
    keyfile.write_text("k\n")
    with open(os.path.join(stack.state, "stack.json"), "w") as f:
        json.dump({"router": stack.router.url, "revisions": {"blue": stack.blue.url, "green": stack.green.url},
                   "admin_key_file": str(keyfile)}, f)
    r = ethos("rollback", "emergency", "--state-dir", stack.state, "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stack.router.weights == {"blue": 100, "green": 0}


def _popen(*args: str, env: dict[str, str]) -> subprocess.Popen:
    e = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    e.update(env)
    return subprocess.Popen([sys.executable, "-c", "from ethos.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                            stdin=subprocess.DEVNULL)


def _wait_for_step(state: str, step: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    jdir = os.path.join(state, "journal")
    while time.monotonic() < deadline:
        for name in os.listdir(jdir) if os.path.isdir(jdir) else []:
            if not name.endswith(".jsonl"):  # temporary files come and go (atomic replaces)
                continue
            try:
                text = Path(jdir, name).read_text()
            except FileNotFoundError:
                continue
            if f'"step_started","step":"{step}"' in text:
                return
        time.sleep(0.05)
    raise AssertionError(f"step {step} never started")


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT", "SIGTERM"])
def test_killed_or_interrupted_run_is_resumed(stack, sig):
    import signal

    # The router holds monitor@50's first read of its stats until released: the signal always
    # lands while that step is in flight, however loaded the machine (a fixed window could end,
    # and the run finish with 0, before a slow test got to send it).
    hold = stack.router.hold_stats(green_percent=50)
    p = _popen("rollback", "gradual", *stack.flags, "--yes", "--json", "--stages", "50:0.3s,25:0.2s",
               "--poll", "0.1", env=stack.env)
    try:
        assert hold.holding.wait(60), "monitor@50 never read the router's stats"
        _wait_for_step(stack.state, "monitor@50")
        p.send_signal(getattr(signal, sig))
        out, _ = p.communicate(timeout=30)
    finally:
        hold.release()
        if p.poll() is None:
            p.kill()
            p.wait()
    rec = history(stack)[0]
    if sig in ("SIGINT", "SIGTERM"):
        assert p.returncode == 130 and json.loads(out)["status"] == "interrupted"
        assert rec["status"] == "interrupted"
    else:
        assert rec["status"] == "incomplete"  # no run_ended: the lock names a dead pid
        assert os.path.exists(os.path.join(stack.state, "journal", "rollback.lock"))
    assert stack.router.weights == {"blue": 50, "green": 50}
    # resume re-runs the interrupted window, then the rest
    r = ethos("rollback", "resume", "--state-dir", stack.state, "--yes", "--json", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["rollback_id"] == rec["rollback_id"] and out["status"] == "done"
    assert stack.router.weights == {"blue": 100, "green": 0}
    assert len(puts(stack.router)) == 3  # 50, 25, 100: nothing redone
    events = history(stack, rec["rollback_id"])["events"]
    if sig == "SIGKILL":
        assert any(e["event"] == "note" and e["message"] == "took over a stale lock" for e in events)


def test_cloud_run_traffic_manager_drives_the_same_procedure(stack):
    # more in test_cloudrun_rollback_cli.py (tag URLs from the service's status, gcloud's view)
    from ethos.rollout.traffic.cloudrun_fake import FakeCloudRun

    with FakeCloudRun(project="proj", region="australia-southeast1", service="marketing-api") as api:
        r = ethos("rollback", "emergency", "--traffic", "cloudrun", "--service", "marketing-api",
                  "--region", "australia-southeast1", "--project", "proj", "--cloudrun-endpoint", api.url,
                  "--cloudrun-anonymous", "--revision", f"blue={stack.blue.url}",
                  "--revision", f"green={stack.green.url}", "--state-dir", stack.state, "--yes", "--json",
                  env=stack.env)
        assert r.returncode == 0, r.stdout + r.stderr
        patch = [x for x in api.requests if x.method == "PATCH"]
        assert len(patch) == 1
        assert patch[0].body["traffic"][0] == {"type": 2, "revision": "marketing-api-blue", "percent": 100}
        assert api.in_force() == {"marketing-api-blue": 100}
    assert stack.blue.entries == 0 and stack.green.entries == 0
    assert not puts(stack.router)


def test_rollback_authority_is_checked_before_anything_acts_and_recorded(stack):
    os.makedirs(stack.state, exist_ok=True)
    Path(stack.state, "authority.yaml").write_text("primary: [maria]\nemergency: cto-sam\n")
    stack.router.stats["green"] = {"count": 400, "error_rate": 0.074}
    r = ethos("rollback", "standard", *stack.flags, "--yes", env=stack.env)
    assert r.returncode == 2 and "--approved-by" in r.stderr and not puts(stack.router)
    r = ethos("rollback", "standard", *stack.flags, "--yes", "--approved-by", "mallory", env=stack.env)
    assert r.returncode == 2 and "not a rollback authority" in r.stderr
    r = ethos("rollback", "standard", *stack.flags, "--yes", "--json", "--approved-by", "maria", env=stack.env)
    assert r.returncode == 0, r.stdout + r.stderr
    start = history(stack, json.loads(r.stdout)["rollback_id"])["events"][0]
    assert start["params"]["approval"]["authority"] == "primary: maria"
    body = stack.hook.received[-1][1]
    assert body["details"]["Authority"] == "primary: maria" and body["details"]["Approved By"] == "maria"
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", "--justification", "site down",
              env=stack.env)
    assert r.returncode == 0
    start = history(stack, json.loads(r.stdout)["rollback_id"])["events"][0]
    assert start["params"]["approval"]["authority"] == "emergency without approval"
    assert start["params"]["approval"]["justification"] == "site down"


def test_an_incident_is_opened_when_a_rollback_ends(stack):
    env = {k: v for k, v in stack.env.items() if k != "ETHOS_NO_AUTO_INCIDENT"}
    r = ethos("rollback", "emergency", *stack.flags, "--yes", "--json", "--reason", "error rate > 5%", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["incident"]["incident"], out["incident"]
    assert os.path.exists(out["incident"]["report"])
    stack.router.stats["green"] = {"count": 400, "error_rate": 0.0}
    r = ethos("rollback", "standard", *stack.flags, "--yes", "--json", env=env)
    assert r.returncode == 3 and json.loads(r.stdout)["incident"]["incident"] is None
