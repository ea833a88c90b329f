"""`ethos incident pii-leak` explains every failure, and evidence holding PII is quarantined.

On real files (a SQLite cache, a revision's JSON log, the journal, incident records): the
evidence export reads a revision log in which PII was planted; the raw file goes to the
export's ``quarantine/`` (0700 / 0600), a redacted copy stays in place, the manifest and the
incident name both, and the command prints an ``error:`` line saying what to do. A failed
rollback shows its real message; a missing cache URL says the served count is unknown.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ethos.cache import Entry, open_store  # noqa: E402
from ethos.cli import cli  # noqa: E402
from ethos.rollout.incidents import respond  # noqa: E402
from ethos.rollout.incidents.evidence import MANIFEST, verify_manifest  # noqa: E402
from ethos.rollout.incidents.record import IncidentStore  # noqa: E402
from tests.unit.rollout.incidents._incident_fixtures import write_run

ETHOS = [sys.executable, "-c", "from ethos.cli import main; main()"]
EMAIL, PHONE = "jane.citizen@example.com", "0412 345 678"


@pytest.fixture(autouse=True)
def _no_ethos_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("ETHOS_"):
            monkeypatch.delenv(k)


def _cache(sd: Path) -> str:
    url = f"sqlite:///{sd / 'cache.sqlite3'}"
    store = open_store(url)
    store.put(Entry(key="marketing:v1:s:b:2", namespace="marketing", format_version=1, scope="s",
                    question="Call me?", reply=f"We will call you on {PHONE}.", created_at=time.time(), ttl_s=3600))
    store.add_hits({"marketing:v1:s:b:2": 2})
    store.close()
    return url


def _plant_log(sd: Path) -> None:
    """A revision's log (what `ethos stack up` writes under logs/) with PII in two records."""
    now = time.time()
    recs = [{"ts": now - 20, "revision": "green", "msg": "request", "route": "/api/ai/marketing-chat",
             "status": 200, "request_id": "0477643956e644ca"},
            {"ts": now - 10, "revision": "green", "msg": "answerer failed", "error": f"upstream echoed {EMAIL}"},
            {"ts": now - 5, "revision": "green", "msg": "debug", "question": f"call me on {PHONE}"}]
    (sd / "logs").mkdir(parents=True, exist_ok=True)
    (sd / "logs" / "green.log").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_evidence_with_pii_is_quarantined_redacted_recorded_and_explained(tmp_path, monkeypatch):
    sd = tmp_path / "state"
    sd.mkdir()
    url = _cache(sd)
    _plant_log(sd)

    def fake_emergency(state_dir, reason, by, justification, extra_args=()):
        run = write_run(state_dir, procedure="emergency")
        return {"status": "done", "rollback_id": run.rollback_id, "exit_code": 0, "elapsed_s": 0.1}

    monkeypatch.setattr(respond, "run_emergency", fake_emergency)
    r = CliRunner().invoke(cli, ["incident", "pii-leak", "--yes", "--state-dir", str(sd), "--cache-url", url])
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "evidence held personal data" in errors[0], r.stderr
    assert "quarantine" in errors[0] and "share only the redacted export" in errors[0]
    assert EMAIL not in r.output and "0412" not in r.output
    assert "1 leaking entries, served 2 times" in r.stdout

    (out,) = [p for p in (sd / "evidence").iterdir() if p.is_dir()]
    q = out / "quarantine"
    assert stat.S_IMODE(q.stat().st_mode) == 0o700
    (raw,) = list(q.iterdir())
    assert raw.name.startswith("rollback_logs_") and stat.S_IMODE(raw.stat().st_mode) == 0o600
    assert EMAIL in raw.read_text() and PHONE in raw.read_text()  # the raw evidence, kept aside
    copy = out / raw.name
    text = copy.read_text()
    assert EMAIL not in text and PHONE not in text
    assert "<EMAIL_ADDRESS>" in text and "<PHONE_NUMBER>" in text and "0477643956e644ca" in text
    assert [r["msg"] for r in json.loads(text)] == ["request", "answerer failed", "debug"]  # still JSON
    for p in out.iterdir():  # nothing else beside the export holds it in clear
        if p.is_file():
            assert EMAIL not in p.read_text() and PHONE not in p.read_text(), p.name

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"][raw.name]["redacted"] is True
    assert manifest["quarantine"][raw.name]["path"] == f"quarantine/{raw.name}"
    assert manifest["pii_scan"]["clean"] is False
    assert manifest["pii_scan"]["quarantined"] == [raw.name] and manifest["pii_scan"]["redacted_copies_clean"]
    v = verify_manifest(out)
    assert v["ok"] and v["checked"] == 5 and v["extra"] == []

    inc = IncidentStore(sd, env={}).latest()
    assert inc["kind"] == "pii-leak" and str(out) in inc["evidence"]
    assert inc["evidence_quarantine"]["dir"] == str(q)
    assert inc["evidence_quarantine"]["files"][raw.name]["path"] == f"quarantine/{raw.name}"
    assert inc["evidence_quarantine"]["redacted"] == [raw.name]
    assert inc["compliance"]["evidence_quarantine"]["dir"] == str(q)
    md = IncidentStore(sd, env={}).report_path(inc["id"]).read_text()
    assert f"quarantine/{raw.name}" in md and str(q) in md and EMAIL not in md
    assert not next(i for i in inc["checklist"] if i["id"] == "export_evidence")["done"]


def _ethos(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETHOS_")}
    return subprocess.run([*ETHOS, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def test_a_failed_rollback_shows_its_real_message_and_what_to_do(tmp_path):
    sd = tmp_path / "state"
    sd.mkdir()
    url = _cache(sd)
    # no stack in this state dir: the emergency procedure cannot find the revisions
    r = _ethos("incident", "pii-leak", "--yes", "--state-dir", str(sd), "--cache-url", url, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "message=None" not in r.stdout and "message=no revision URLs" in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    assert "emergency rollback did not complete" in errors[0] and "no revision URLs" in errors[0]
    assert "ethos rollback emergency --cause pii" in errors[0]
    assert "0412" not in r.stdout + r.stderr
    # the scan before clearing still counted what was served, and the cache was cleared
    assert "1 leaking entries, served 2 times" in r.stdout and "removed=1" in r.stdout


def test_without_a_cache_url_every_gap_is_an_error_and_served_is_unknown(tmp_path):
    sd = tmp_path / "state"
    sd.mkdir()
    r = _ethos("incident", "pii-leak", "--yes", "--state-dir", str(sd), cwd=tmp_path)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert any("not scanned before clearing" in e and "no cache URL" in e for e in errors), errors
    assert any("was not cleared" in e for e in errors), errors
    assert any("emergency rollback did not complete" in e for e in errors), errors
    assert "served count unknown" in r.stdout and "0 leaking entries" not in r.stdout
    inc = IncidentStore(sd, env={}).latest()
    served = next(q for q in inc["compliance"]["questions"] if q["id"] == "served")
    assert served["answer"].startswith("Unknown")
