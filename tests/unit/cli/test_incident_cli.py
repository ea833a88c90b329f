"""`ethos incident new | list | show | check | review` against a journal on disk (no servers)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ethos.cli import cli
from ethos.cli.errors import CLIError
from tests.unit.rollout.incidents._incident_fixtures import write_run


def invoke(*args):
    return CliRunner().invoke(cli, ["incident", *args])


def test_new_list_show_check_review(tmp_path, monkeypatch):
    monkeypatch.delenv("ETHOS_INCIDENT_TEMPLATE", raising=False)
    monkeypatch.delenv("ETHOS_NOTIFY_CONFIG", raising=False)
    sd = str(tmp_path)
    r = invoke("new", "--state-dir", sd)
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2  # no rollback yet
    run = write_run(tmp_path)
    r = invoke("new", "--state-dir", sd, "--json")
    assert r.exit_code == 0, r.output
    iid = json.loads(r.output)["id"]
    assert json.loads(r.output)["rollback_id"] == run.rollback_id
    rows = json.loads(invoke("list", "--state-dir", sd, "--json").output)
    assert rows[0]["id"] == iid and rows[0]["checklist"]["during"] == "4/4"
    r = invoke("check", iid, "notify_impending", "--by", "dev", "--evidence", "#incident-response", "--state-dir", sd)
    assert r.exit_code == 0 and "ticked by dev" in r.output
    r = invoke("check", iid, "bogus", "--by", "dev", "--state-dir", sd)
    assert isinstance(r.exception, CLIError) and "unknown checklist item" in str(r.exception)
    shown = invoke("show", iid, "--state-dir", sd).output
    assert "- [x] `notify_impending` Notify team of impending rollback — dev" in shown
    assert "| immediate | Error rate < 1% | pass |" in shown
    rec = json.loads(invoke("show", "latest", "--state-dir", sd, "--json").output)
    assert rec["id"] == iid
    assert json.loads(invoke("review", "--state-dir", sd, "--json").output) == {iid: []}  # nothing due yet
    r = invoke("show", "inc-nope", "--state-dir", sd)
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2
