"""End to end: `ethos drill` of every scenario on sandbox stacks it starts itself, then `drill status`.

The four drills run at once (each its own sandbox, ports and state dir) so the whole module
stays within a couple of minutes on two cores; each result is asserted on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ETHOS = str(Path(sys.executable).parent / "ethos")
SCENARIOS = ("emergency", "standard", "gradual", "pii-leak")


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "ETHOS_STATE_DIR": str(tmp / "home")}
    for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL", "ETHOS_ADMIN_API_KEY",
              "ETHOS_PAGERDUTY_ROUTING_KEY", "ETHOS_NOTIFY_CONFIG", "ETHOS_AUTHORITY_FILE"):
        env.pop(k, None)
    return env


@pytest.fixture(scope="module")
def drills(tmp_path_factory):
    from ethos.rollout.drill.runner import find_runbook

    tmp = tmp_path_factory.mktemp("drills")
    runbook = find_runbook(None)
    if runbook is None:  # a clone without the shared spec next to it: the runbook's closing lines
        runbook = tmp / "rollback-procedures.md"
        runbook.write_text(f"**Last Updated:** {date.today().isoformat()}\n\n**Version:** 1.0\n"
                           "**Last Tested:** [Date of last drill]\n**Next Review:** Monthly\n")
    procs = {}
    for s in SCENARIOS:
        procs[s] = subprocess.Popen(
            [ETHOS, "drill", "--scenario", s, "--workdir", str(tmp / s), "--state-dir", str(tmp / "home"),
             "--runbook", str(runbook), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp), cwd=tmp)
    out = {}
    for s, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
        try:
            out[s] = (p.returncode, json.loads(stdout.strip().splitlines()[-1]), stderr)
        except (ValueError, IndexError):
            out[s] = (p.returncode, {}, stdout + stderr)
    yield tmp, out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_drill_passes_the_runbook_test_checklist(drills, scenario):
    tmp, out = drills
    code, rep, err = out[scenario]
    assert rep, err
    failed = {c["id"]: c["evidence"] for c in rep["checks"] if c["status"] == "fail"}
    bad_steps = {s["name"]: s["detail"] for s in rep["steps"] if not s["ok"]}
    assert not failed and not bad_steps, (failed, bad_steps)
    # Budgets are the drill's verdict (shown in its report); tests never assert wall-clock time,
    # so a loaded CI machine exceeding one is the only non-zero exit tolerated here.
    over = [s["name"] for s in rep["steps"] if s["within_budget"] is False]
    assert code == (1 if over else 0) and rep["passed"] == (not over)
    checks = {c["id"]: c["status"] for c in rep["checks"]}
    assert set(checks) == {"rollback_works", "cache_invalidation_works", "monitoring_alerts_trigger",
                           "team_receives_notifications", "documentation_current"}
    steps = {s["name"]: s for s in rep["steps"]}
    timed = "immediate_actions" if scenario == "pii-leak" else "rollback"
    assert steps[timed]["budget_s"] and steps[timed]["within_budget"] is not None
    assert {"stack_up", "traffic", "guard_detects", "verify_cache_miss", "evidence_export",
            "incident_report", "stack_down"} <= set(steps)
    assert Path(rep["report"]).is_file() and Path(rep["report_json"]).is_file()
    if scenario == "pii-leak":
        leak = rep["facts"]["rollback_result"]
        assert leak["served_total"] == 0 and leak["gdpr_deadline"]
        # nobody ran a scan: the revisions' periodic scan found the planted entry, and the
        # alert check passed on the PII-in-cache trigger itself, not on the injected errors
        assert steps["pii_scan_detects"]["ok"]
        alerts = next(c for c in rep["checks"] if c["id"] == "monitoring_alerts_trigger")
        assert "PII trigger pii_in_cache fired" in alerts["evidence"]
        assert "pii_in_cache" in rep["facts"]["guard"]["firing_triggers"]


def test_drill_status_shows_the_last_drill_and_the_next_due(drills):
    tmp, _ = drills
    r = subprocess.run([ETHOS, "drill", "status", "--state-dir", str(tmp / "home"), "--json"],
                       capture_output=True, text=True, env=_env(tmp), timeout=60)
    st = json.loads(r.stdout)
    assert r.returncode == 0 and st["drills"] == 4 and not st["overdue"] and st["next_due"]
    r = subprocess.run([ETHOS, "drill", "status", "--state-dir", str(tmp / "nothing")],
                       capture_output=True, text=True, env=_env(tmp), timeout=60)
    assert "no drill has ever run" in r.stdout
