"""End to end: `ethos drill --scenario cloudrun`: the emergency rollback through Cloud Run's API.

The drill plays Cloud Run with the Cloud Run fake over its sandbox stack (drill/cloudrun.py):
the rollback addresses blue and green by tag, reads their URLs from the service's status, and
the split Cloud Run puts in force is what the sandbox router then routes. The drill's checks
include gcloud's view of the service, so gcloud must be installed (it is on this kind of
machine and in CI): without it this test fails with the command to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ETHOS = str(Path(sys.executable).parent / "ethos")


def test_cloudrun_drill_rolls_back_through_cloud_run_and_everything_agrees(tmp_path: Path) -> None:
    if shutil.which("gcloud") is None:
        pytest.fail("the Google Cloud CLI (`gcloud`) is not installed; the cloudrun drill checks gcloud's view: "
                    "install google-cloud-cli (https://cloud.google.com/sdk/docs/install)", pytrace=False)
    from ethos.rollout.drill.runner import find_runbook

    runbook = find_runbook(None)
    if runbook is None:
        runbook = tmp_path / "rollback-procedures.md"
        runbook.write_text(f"**Last Updated:** {date.today().isoformat()}\n\n**Version:** 1.0\n"
                           "**Last Tested:** [Date of last drill]\n**Next Review:** Monthly\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL",
                        "ETHOS_ADMIN_API_KEY", "ETHOS_PAGERDUTY_ROUTING_KEY", "ETHOS_NOTIFY_CONFIG",
                        "ETHOS_AUTHORITY_FILE") and not k.startswith("CLOUDSDK_")}
    env["ETHOS_STATE_DIR"] = str(tmp_path / "home")
    p = subprocess.run([ETHOS, "drill", "--scenario", "cloudrun", "--workdir", str(tmp_path / "work"),
                        "--state-dir", str(tmp_path / "home"), "--runbook", str(runbook), "--json"],
                       capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    failed = {c["id"]: c["evidence"] for c in rep["checks"] if c["status"] == "fail"}
    bad_steps = {s["name"]: s["detail"] for s in rep["steps"] if not s["ok"]}
    assert not failed and not bad_steps, (failed, bad_steps, p.stderr[-2000:])
    # budgets are the drill's verdict; a loaded machine over one is the only non-zero exit tolerated
    over = [s["name"] for s in rep["steps"] if s["within_budget"] is False]
    assert p.returncode == (1 if over else 0) and rep["passed"] == (not over)

    cr = rep["facts"]["cloudrun"]
    blue, green = "marketing-api-00001-drl", "marketing-api-00002-drl"
    # Cloud Run's state after the rollback: all on the revision tagged blue, both tags kept ...
    assert cr["in_force"] == {blue: 100} and cr["tags"] == {"blue": blue, "green": green}
    # ... which is what gcloud reads, and what the sandbox router was told to route
    assert cr["gcloud_agrees"] is True and cr["gcloud"]["split"] == {blue: 100}
    assert cr["router_pushes"][-1] == {"blue": 100, "green": 0} and not cr["push_errors"]
    works = next(c for c in rep["checks"] if c["id"] == "rollback_works")
    assert "gcloud agrees" in works["evidence"] and "router weights {'blue': 100, 'green': 0}" in works["evidence"]
    # the procedure acted through Cloud Run, by tag, on the URLs read from the service's status
    rid = rep["facts"]["rollback_result"]["rollback_id"]
    sandbox = Path(rep["sandbox"])
    start = json.loads((sandbox / "journal" / f"{rid}.jsonl").read_text().splitlines()[0])
    assert start["targets"]["traffic"] == "cloudrun" and start["targets"]["source"] == "cloudrun status"
    assert start["targets"]["cloudrun"]["resolved"] == {"blue": blue, "green": green}
    urls = start["targets"]["revisions"]  # the tag URLs: the sandbox's revisions (its stack file is gone)
    assert set(urls) == {"blue", "green"} and urls["blue"] != urls["green"]
    assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
