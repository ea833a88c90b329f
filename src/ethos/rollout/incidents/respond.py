"""The PII Leak Response, end to end: scan, emergency rollback, clear all, re-scan, evidence, incident.

Order matters: the store is scanned *before* it is cleared, so the incident can answer "was
PII served to users?" from the leaking entries' hit counts; then the emergency procedure
(``ethos rollback emergency --cause pii``: 100% blue, every revision's cache cleared) runs, the
whole store is cleared once more directly, scanned again (it must be clean), the evidence of
the last hour is exported and scanned, and the incident opens with the compliance tasks.

The store is opened with ``create=False``: a missing or unreachable store is reported, never
read as an empty, "clean" one. Evidence found to hold PII is quarantined by the export (raw
files moved to ``quarantine/``, redacted copies kept; see :mod:`ethos.rollout.incidents.evidence`) and
recorded in the incident. Every failure adds a line to the result's ``errors`` saying what
failed and what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...cache import StoreMissing, open_store, safe_url
from ..stack.processes import ethos_argv
from .checklist import apply_ticks
from .evidence import EvidenceError, export_evidence, stamp
from .pii_leak import compliance_record
from .record import IncidentError, IncidentStore, after_rollback, iso, new_incident_id, notify_incident


def _open_error(cache_url: str, e: Exception) -> str:
    what = "does not exist" if isinstance(e, StoreMissing) else "cannot be read"
    return f"the cache store {safe_url(cache_url)} {what}: {type(e).__name__}: {e}"


def scan_cache(cache_url: str) -> dict[str, Any]:
    """``{"scanned", "leaks": [{"key", "entities", "served"}]}``; ``error`` when the store is
    missing (never created here) or unreachable."""
    try:
        store = open_store(cache_url, create=False)
    except Exception as e:  # noqa: BLE001 - reported, the response goes on
        return {"scanned": 0, "leaks": [], "error": _open_error(cache_url, e)}
    try:
        from ...cache.scan.leaks import scan_store  # the one scan: masked keys, the store's served counts

        return scan_store(store).to_dict()
    except Exception as e:  # noqa: BLE001
        return {"scanned": 0, "leaks": [], "error": f"{type(e).__name__}: {e}"}
    finally:
        store.close()


def clear_cache(cache_url: str) -> int | None:
    """Remove every entry of the store (``key_pattern=all``); None when missing or unreachable."""
    return _clear(cache_url)[0]


def _clear(cache_url: str) -> tuple[int | None, str | None]:
    """``(removed, None)``, or ``(None, why)`` when the store is missing or unreachable."""
    try:
        store = open_store(cache_url, create=False)
    except Exception as e:  # noqa: BLE001
        return None, _open_error(cache_url, e)
    try:
        return store.delete_matching("*"), None
    except Exception as e:  # noqa: BLE001
        return None, f"clearing {safe_url(cache_url)} failed: {type(e).__name__}: {e}"
    finally:
        store.close()


def run_emergency(state_dir: Path, reason: str, executed_by: str, justification: str,
                  extra_args: Sequence[str] = ()) -> dict[str, Any]:
    """``ethos rollback emergency --cause pii --yes --json`` as a child; its JSON result."""
    argv = [*ethos_argv(), "rollback", "emergency", "--yes", "--json", "--cause", "pii", "--reason", reason,
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
                # an error document says why under "error" (e.g. no revision URLs), a run under "message"
                why = res.get("message") or res.get("error") or (p.stderr or "").strip()[-400:] or None
                return {**res, "exit_code": p.returncode, "message": why}
        except ValueError:
            continue
    return {"status": "failed", "exit_code": p.returncode,
            "message": (p.stderr or p.stdout).strip()[-400:] or f"exited {p.returncode} with no output"}


NO_CACHE_URL = "no cache URL (pass --cache-url, or start the stack that names one)"


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
    """Run the response; returns ``{"incident", "ok", "steps": {...}, "errors": [...]}``.

    ``errors``: one line per failure, what failed and what to do (empty when ``ok``). The
    state dir must exist (:class:`IncidentError` otherwise: a mistyped one would get a new
    incident and an empty, "clean" evidence export)."""
    sd = Path(state_dir)
    if not sd.is_dir():
        raise IncidentError(f"the state dir {sd} does not exist: check the state dir (nothing was done)")
    detected = now()
    steps: dict[str, Any] = {}
    errors: list[str] = []
    shown = safe_url(cache_url) if cache_url else None
    t = time.monotonic()
    before: dict[str, Any] = (scan_cache(cache_url) if cache_url
                              else {"scanned": 0, "leaks": [], "error": NO_CACHE_URL})
    steps["scan_before"] = {**before, "duration_s": round(time.monotonic() - t, 3)}
    if "error" in before:
        errors.append(f"the cache was not scanned before clearing ({before['error']}): whether PII was served "
                      "is unknown; fix the cache URL and run `ethos cache scan-pii` on the store the "
                      "revisions use, then complete the incident's 'Was PII served' answer")
    reason = (f"PII leak: {len(before['leaks'])} cached entries hold personal data"
              if before["leaks"] else "PII leak reported")
    t = time.monotonic()
    rb = (rollback or run_emergency)(sd, reason, executed_by, justification or reason)
    rb_message = rb.get("message") or rb.get("error")
    steps["emergency_rollback"] = {"status": rb.get("status"), "rollback_id": rb.get("rollback_id"),
                                   "exit_code": rb.get("exit_code"), "message": rb_message,
                                   "duration_s": round(time.monotonic() - t, 3),
                                   # the procedure's own time, first step to last (no interpreter start-up)
                                   "procedure_s": rb.get("elapsed_s")}
    if rb.get("status") != "done":
        then = (f"`ethos rollback resume {rb['rollback_id']}` or " if rb.get("rollback_id") else "")
        errors.append(f"the emergency rollback did not complete (status {rb.get('status')}, exit "
                      f"{rb.get('exit_code')}): {rb_message or 'no message'}; traffic may still reach the "
                      f"leaking revision: fix that and run {then}`ethos rollback emergency --cause pii "
                      f"--state-dir {sd}`")
    t = time.monotonic()
    removed, clear_error = _clear(cache_url) if cache_url else (None, NO_CACHE_URL)
    steps["clear_all_cache"] = {"removed": removed, "duration_s": round(time.monotonic() - t, 3),
                                **({"error": clear_error} if clear_error else {})}
    if clear_error:
        errors.append(f"the cache was not cleared ({clear_error}): leaking entries may still be served; "
                      "clear it with `ethos cache invalidate --pattern all` (ETHOS_CACHE_URL set to the "
                      "store the revisions use)")
    after: dict[str, Any] = (scan_cache(cache_url) if cache_url
                             else {"scanned": 0, "leaks": [], "error": NO_CACHE_URL})
    rescan_clean = not after["leaks"] and "error" not in after
    steps["scan_after"] = {"scanned": after["scanned"], "leaking": len(after["leaks"]), "clean": rescan_clean,
                           **({"error": after["error"]} if "error" in after else {})}
    if after["leaks"]:
        errors.append(f"{len(after['leaks'])} cached entries still hold personal data after clearing: a revision "
                      f"is still storing them; stop it, then run `ethos cache scan-pii --purge` on {shown}")
    elif "error" in after and not clear_error:
        errors.append(f"the cache could not be re-scanned after clearing ({after['error']}); "
                      "run `ethos cache scan-pii` once it answers")
    out = sd / "evidence" / stamp(now())
    quarantine: dict[str, Any] | None = None
    try:
        exp = export_evidence(sd, out, since_s=evidence_since_s, now=now())
        steps["evidence"] = {"dir": str(out), "clean": exp.clean, "findings": len(exp.pii)}
        evidence_clean: bool | None = exp.clean
        if exp.quarantine:
            quarantine = {"dir": exp.quarantine_dir, "files": exp.quarantine,
                          "redacted": sorted(exp.quarantine), "redacted_clean": exp.redacted_clean}
            steps["evidence"].update(quarantined=[m["path"] for m in exp.quarantine.values()],
                                     redacted=sorted(exp.quarantine), redacted_clean=exp.redacted_clean)
        if not exp.clean:
            where = ", ".join(f"{f.file}:{f.line} {'+'.join(f.entities)}" for f in exp.pii[:5])
            if quarantine:
                errors.append(
                    f"the evidence held personal data ({len(exp.pii)} lines: {where}): the raw files were moved "
                    f"to {quarantine['dir']} (owner-only) and redacted copies kept in {out}"
                    + ("" if exp.redacted_clean else " (they still hold PII: do not share them)")
                    + "; share only the redacted export, record how PII reached the logs in the incident, "
                    "and delete the quarantine when the incident is closed")
            else:
                errors.append(f"the evidence holds personal data ({len(exp.pii)} lines: {where}) in {out}: "
                              "do not share it; remove those lines and export again")
    except EvidenceError as e:
        steps["evidence"] = {"error": str(e)}
        evidence_clean = None
        errors.append(f"the evidence export failed ({e}): export it by hand with "
                      f"`ethos evidence export --state-dir {sd}`")
    store = IncidentStore(sd, env)
    rid = rb.get("rollback_id")
    if rid:
        inc = after_rollback(sd, rid, kind="pii-leak", notify=False, env=env)
    else:
        inc = _bare_incident(detected, reason, executed_by)
    inc["kind"] = "pii-leak"
    inc["title"] = reason
    inc["compliance"] = compliance_record(detected, before["leaks"] if "error" not in before else None,
                                          rescan_clean=rescan_clean, evidence_clean=evidence_clean,
                                          evidence_quarantine=quarantine)
    inc["response"] = steps
    if evidence_clean:
        inc.setdefault("evidence", []).append(str(out))
        apply_ticks(inc["checklist"], {"export_evidence": (iso(now()) or "", f"exported to {out}, PII scan clean")})
    elif quarantine:
        # the redacted export is the evidence to share; the raw files stay aside, named here
        inc.setdefault("evidence", []).append(str(out))
        inc["evidence_quarantine"] = quarantine
    deliveries = notify_incident(inc, "pii-leak", sd, env=env)
    dpo = [d["notifier"] for d in deliveries if d.get("ok") and "dpo" in d.get("notifier", "")]
    if dpo:
        task = inc["compliance"]["tasks"][1]
        task.update(done=True, at=iso(now()), by="system", title=task["title"] + f" ({', '.join(dpo)})")
    store.save(inc)
    ok = rb.get("status") == "done" and rescan_clean and bool(evidence_clean)
    if not ok and not errors:  # every failure says why
        errors.append("the response did not complete; see the steps above and the incident report")
    return {"incident": inc, "ok": ok, "steps": steps, "errors": errors}


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
