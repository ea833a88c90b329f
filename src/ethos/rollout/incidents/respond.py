"""The PII Leak Response, end to end: scan, emergency rollback, clear all, re-scan, evidence, incident.

Order matters: the store is scanned *before* it is cleared, so the incident can answer "was
PII served to users?" from the leaking entries' hit counts; then the emergency procedure
(``ethos rollback emergency --cause pii``: 100% blue, every revision's cache cleared) runs, the
whole store is cleared once more directly, scanned again (it must be clean), the evidence of
the last hour is exported and scanned, and the incident opens with the compliance tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...cache import open_store
from ..evidence import EvidenceError, export_evidence, stamp
from .checklist import apply_ticks
from .pii_leak import compliance_record
from .record import IncidentStore, after_rollback, iso, new_incident_id, notify_incident

ETHOS = [sys.executable, "-c", "from ethos.cli import main; main()"]


def scan_cache(cache_url: str) -> dict[str, Any]:
    """``{"scanned", "leaks": [{"key", "entities", "served"}]}``; ``error`` when unreachable."""
    try:
        store = open_store(cache_url)
    except Exception as e:  # noqa: BLE001 - reported, the response goes on
        return {"scanned": 0, "leaks": [], "error": f"{type(e).__name__}: {e}"}
    try:
        try:
            from ...cache.leaks import scan_store

            return scan_store(store).to_dict()
        except ImportError:  # the service's scanner is not there: same scan, by hand
            from ...pii import scan_entry

            leaks, scanned = [], 0
            for batch in store.scan():
                for entry in batch:
                    scanned += 1
                    leak = scan_entry(entry)
                    if leak is not None:
                        leaks.append({"key": entry.key, "entities": leak.entities, "served": entry.hit_count})
            return {"scanned": scanned, "leaks": leaks}
    except Exception as e:  # noqa: BLE001
        return {"scanned": 0, "leaks": [], "error": f"{type(e).__name__}: {e}"}
    finally:
        store.close()


def clear_cache(cache_url: str) -> int | None:
    """Remove every entry of the store (``key_pattern=all``); None when unreachable."""
    try:
        store = open_store(cache_url)
    except Exception:  # noqa: BLE001
        return None
    try:
        return store.delete_matching("*")
    except Exception:  # noqa: BLE001
        return None
    finally:
        store.close()


def run_emergency(state_dir: Path, reason: str, executed_by: str, justification: str,
                  extra_args: Sequence[str] = ()) -> dict[str, Any]:
    """``ethos rollback emergency --cause pii --yes --json`` as a child; its JSON result."""
    argv = [*ETHOS, "rollback", "emergency", "--yes", "--json", "--cause", "pii", "--reason", reason,
            "--executed-by", executed_by, "--state-dir", str(state_dir), *extra_args]
    if justification:
        argv += ["--justification", justification]
    env = {**os.environ, "ETHOS_NO_AUTO_INCIDENT": "1"}  # this response opens its own incident
    p = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=600)
    if p.returncode == 2 and "--justification" in p.stderr:  # an ethos without the option
        argv = argv[: argv.index("--justification")]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=600)
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            res = json.loads(line)
            if isinstance(res, dict):
                return {**res, "exit_code": p.returncode}
        except ValueError:
            continue
    return {"status": "failed", "exit_code": p.returncode, "message": (p.stderr or p.stdout).strip()[-400:]}


def pii_leak_response(
    state_dir: str | os.PathLike[str],
    cache_url: str | None,
    *,
    executed_by: str,
    justification: str = "",
    rollback: Callable[[Path, str, str, str], dict[str, Any]] | None = None,
    evidence_since_s: float = 3600.0,
    env: Mapping[str, str] | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Run the response; returns ``{"incident", "ok", "steps": {...}}``."""
    sd = Path(state_dir)
    detected = now()
    steps: dict[str, Any] = {}
    t = time.monotonic()
    before = scan_cache(cache_url) if cache_url else {"scanned": 0, "leaks": [], "error": "no cache URL"}
    steps["scan_before"] = {**before, "duration_s": round(time.monotonic() - t, 3)}
    reason = (f"PII leak: {len(before['leaks'])} cached entries hold personal data"
              if before["leaks"] else "PII leak reported")
    t = time.monotonic()
    rb = (rollback or run_emergency)(sd, reason, executed_by, justification or reason)
    steps["emergency_rollback"] = {"status": rb.get("status"), "rollback_id": rb.get("rollback_id"),
                                   "exit_code": rb.get("exit_code"), "message": rb.get("message"),
                                   "duration_s": round(time.monotonic() - t, 3),
                                   # the procedure's own time, first step to last (no interpreter start-up)
                                   "procedure_s": rb.get("elapsed_s")}
    t = time.monotonic()
    removed = clear_cache(cache_url) if cache_url else None
    steps["clear_all_cache"] = {"removed": removed, "duration_s": round(time.monotonic() - t, 3)}
    after = scan_cache(cache_url) if cache_url else {"scanned": 0, "leaks": [], "error": "no cache URL"}
    rescan_clean = not after["leaks"] and "error" not in after
    steps["scan_after"] = {"scanned": after["scanned"], "leaking": len(after["leaks"]), "clean": rescan_clean}
    out = sd / "evidence" / stamp(now())
    try:
        exp = export_evidence(sd, out, since_s=evidence_since_s, now=now())
        steps["evidence"] = {"dir": str(out), "clean": exp.clean, "findings": len(exp.pii)}
        evidence_clean: bool | None = exp.clean
    except EvidenceError as e:
        steps["evidence"] = {"error": str(e)}
        evidence_clean = None
    store = IncidentStore(sd, env)
    rid = rb.get("rollback_id")
    if rid:
        inc = after_rollback(sd, rid, kind="pii-leak", notify=False, env=env)
    else:
        inc = _bare_incident(detected, reason, executed_by)
    inc["kind"] = "pii-leak"
    inc["title"] = reason
    inc["compliance"] = compliance_record(detected, before["leaks"], rescan_clean=rescan_clean,
                                          evidence_clean=evidence_clean)
    inc["response"] = steps
    if evidence_clean:
        inc.setdefault("evidence", []).append(str(out))
        apply_ticks(inc["checklist"], {"export_evidence": (iso(now()) or "", f"exported to {out}, PII scan clean")})
    deliveries = notify_incident(inc, "pii-leak", sd, env=env)
    dpo = [d["notifier"] for d in deliveries if d.get("ok") and "dpo" in d.get("notifier", "")]
    if dpo:
        task = inc["compliance"]["tasks"][1]
        task.update(done=True, at=iso(now()), by="system", title=task["title"] + f" ({', '.join(dpo)})")
    store.save(inc)
    ok = rb.get("status") == "done" and rescan_clean and bool(evidence_clean)
    return {"incident": inc, "ok": ok, "steps": steps}


def _bare_incident(t: float, reason: str, actor: str) -> dict[str, Any]:
    from .checklist import new_checklist
    from .criteria import new_criteria

    crit = new_criteria(t)
    for c in crit:
        c["due_at"] = iso(c["due_t"])
    return {"id": new_incident_id(t), "kind": "pii-leak", "status": "open", "title": reason,
            "opened_at": iso(t), "opened_t": t, "rollback_id": None, "procedure": "emergency",
            "outcome": "failed", "blue": "blue", "green": "green",
            "trigger": {"reason": reason, "cause": "pii", "values": {}},
            "authority": {"actor": actor}, "timeline": [], "actions": [],
            "impact": {"requests": {}, "cache_entries_cleared": 0}, "checklist": new_checklist(),
            "criteria": crit, "rollback_end_t": t, "notifications": [], "compliance": None, "evidence": []}


__all__ = ["pii_leak_response", "scan_cache", "clear_cache", "run_emergency"]
