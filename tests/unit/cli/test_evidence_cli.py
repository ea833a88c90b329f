"""`ethos evidence export | verify` exit codes and output (CliRunner, no servers)."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from ethos.cli import cli
from ethos.cli.errors import CLIError


def _log(state, text):
    (state / "logs").mkdir(parents=True, exist_ok=True)
    (state / "logs" / "blue.log").write_text(json.dumps({"ts": time.time() - 5, "revision": "blue",
                                                         "msg": "request", "status": 200, "note": text}) + "\n")


def test_clean_export_then_verify(tmp_path):
    _log(tmp_path, "all good")
    out = tmp_path / "ev"
    r = CliRunner().invoke(cli, ["evidence", "export", "--since", "10m", "--state-dir", str(tmp_path),
                                 "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["counts"]["log_records"] == 1
    r = CliRunner().invoke(cli, ["evidence", "verify", str(out)])
    assert r.exit_code == 0 and "all match the manifest" in r.output


def test_pii_fails_the_export_and_bad_input_is_a_usage_error(tmp_path):
    _log(tmp_path, "customer wrote from jane.doe@example.com")
    r = CliRunner().invoke(cli, ["evidence", "export", "--state-dir", str(tmp_path), "--out", str(tmp_path / "ev")])
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 1
    assert "holds PII" in str(r.exception) and "jane" not in str(r.exception)
    # quarantined: the raw file moved aside (owner-only), a redacted copy in its place
    assert "quarantine" in str(r.exception) and "redacted copies" in str(r.exception)
    (raw,) = (tmp_path / "ev" / "quarantine").iterdir()
    assert "jane.doe" in raw.read_text() and "jane.doe" not in (tmp_path / "ev" / raw.name).read_text()
    r = CliRunner().invoke(cli, ["evidence", "export", "--since", "soon", "--state-dir", str(tmp_path)])
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2
    r = CliRunner().invoke(cli, ["evidence", "verify", str(tmp_path)])
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2


def test_the_routers_log_is_in_the_export(tmp_path):
    _log(tmp_path, "all good")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 5)) + ",000"
    (tmp_path / "logs" / "router.log").write_text(
        "router on http://127.0.0.1:8000 -> blue=http://127.0.0.1:8001, green=http://127.0.0.1:8002\n"
        f"{when} WARNING ethos.router: revision green refused a connection; retrying on blue\n")
    out = tmp_path / "ev"
    r = CliRunner().invoke(cli, ["evidence", "export", "--since", "10m", "--state-dir", str(tmp_path),
                                 "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["counts"]["router_log_lines"] == 2 and doc["clean"]
    (name,) = [n for n in doc["files"] if n.startswith("router_log_")]
    assert "retrying on blue" in (out / name).read_text()
    r = CliRunner().invoke(cli, ["evidence", "export", "--since", "10m", "--state-dir", str(tmp_path),
                                 "--out", str(tmp_path / "ev2")])
    assert r.exit_code == 0 and "router_log_" in r.output and "router log lines: 2" in r.output
