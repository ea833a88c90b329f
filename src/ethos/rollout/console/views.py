"""What the page shows, computed from plain values: pure functions, no I/O.

- :func:`sample_of`: a guard :class:`~..sources.measurements.Snapshot` -> the charted values;
- :func:`chart_specs`: each chart with the policy's thresholds drawn on it;
- :func:`trigger_rows`: every trigger of the policy with its state, value and threshold;
- :func:`timeline`: the journal's runs as a timeline, newest first;
- :func:`revision_rows`: weights, health, cache format and faults per revision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..guard.policy import Policy, Trigger
from ..procedures.journal import RunRecord
from ..sources.measurements import Snapshot
from .series import CHARTS, Sample

#: The window each chart point covers (seconds): the guard's shortest standard window.
CHART_WINDOW_S = 60.0
#: chart signal -> the guard signal it is read from
SOURCE_SIGNAL = {
    "request_rate": "requests", "error_rate": "error_rate", "latency_p50": "latency_p50",
    "latency_p95": "latency_p95", "ttft_p50": "ttft_p50", "cache_hit_rate": "cache_hit_rate",
    "pii_detection_rate": "pii_detection_rate", "quality_rejection_rate": "quality_rejection_rate",
    "store_cost_ratio": "store_cost_ratio",
}
#: triggers on these guard signals draw their threshold on this chart
TRIGGER_CHART = {**{v: k for k, v in SOURCE_SIGNAL.items() if k != "request_rate"},
                 "latency": "latency_p50", "ttft": "ttft_p50"}
TEXT_STATE = {"ok": "OK", "watching": "Watching", "firing": "Firing",
              "inconclusive": "Inconclusive", "no-data": "No data"}


def chart_needs() -> dict[str, list[float]]:
    """What the sources must report for the charts (guard signal -> windows)."""
    return {sig: [CHART_WINDOW_S] for sig in SOURCE_SIGNAL.values()}


def merge_needs(*needs: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """Union of several needs mappings (signal -> sorted windows)."""
    out: dict[str, set[float]] = {}
    for n in needs:
        for sig, ws in n.items():
            out.setdefault(sig, set()).update(float(w) for w in ws)
    return {k: sorted(v) for k, v in out.items()}


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def sample_of(snapshot: Snapshot, revisions: Iterable[str]) -> Sample:
    """The charted values of every revision in ``snapshot`` (None: not measured)."""
    values: dict[str, dict[str, float | None]] = {}
    for rev in revisions:
        row: dict[str, float | None] = {}
        for chart, sig in SOURCE_SIGNAL.items():
            m = snapshot.get(rev, sig, CHART_WINDOW_S)
            v = None if m is None else _finite(m.value)
            if chart == "request_rate" and m is not None:
                span = m.window_s or CHART_WINDOW_S
                v = m.samples / span if span > 0 else None
            row[chart] = v
        values[rev] = row
    return Sample(snapshot.at, values)


def _threshold(t: Trigger, policy: Policy) -> dict[str, Any]:
    relative = t.baseline is not None and t.threshold != 0
    return {
        "trigger": t.name, "value": t.threshold, "comparator": t.comparator, "action": t.action,
        "severity": t.severity, "runbook": t.runbook,
        # a baseline trigger compares a ratio: its line is threshold x the baseline's value
        "relative_to": policy.revision_of(t.baseline.revision) if relative and t.baseline else None,
    }


def chart_specs(policy: Policy) -> list[dict[str, Any]]:
    """Each chart (in page order) with the thresholds the policy's triggers put on it."""
    lines: dict[str, list[dict[str, Any]]] = {c: [] for c in CHARTS}
    for t in policy.triggers:
        chart = TRIGGER_CHART.get(t.signal)
        if chart is not None:
            lines[chart].append(_threshold(t, policy))
    return [{"signal": c, "title": title, "unit": unit, "thresholds": lines[c]}
            for c, (title, unit) in CHARTS.items()]


def trigger_rows(policy: Policy, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every trigger of the policy, in policy order, with its last result (or *no data*)."""
    by_name = {str(r.get("trigger")): r for r in results}
    rows = []
    for t in policy.triggers:
        r = by_name.get(t.name, {})
        status = str(r.get("status") or "no-data")
        rows.append({
            "trigger": t.name, "runbook": t.runbook, "signal": t.signal, "action": t.action,
            "severity": t.severity, "comparator": t.comparator, "threshold": t.threshold,
            "baseline": t.baseline is not None, "revision": r.get("revision") or policy.revision_of(t.revision),
            "status": status, "state_text": TEXT_STATE.get(status, status),
            "value": r.get("value"), "samples": r.get("samples", 0), "window_s": r.get("window_s"),
            "time_left_s": r.get("time_left_s"), "breach_for_s": r.get("breach_for_s", 0.0),
            "sustain_s": t.sustain_s, "reason": r.get("reason", ""),
        })
    return rows


def guard_is_fresh(record: Mapping[str, Any] | None, now: float, interval_s: float) -> bool:
    """True when the guard's last recorded evaluation is recent (it is running)."""
    if not record:
        return False
    try:
        return now - float(record.get("t", 0)) <= max(3 * interval_s, 15.0)
    except (TypeError, ValueError):
        return False


def _run_by(rec: RunRecord) -> tuple[str, str]:
    start = next((e for e in rec.events if e.get("event") == "run_started"), {})
    return str(start.get("executed_by") or ""), str(start.get("reason") or "")


def timeline(runs: Iterable[RunRecord], limit: int = 20) -> list[dict[str, Any]]:
    """The journal's runs, newest first, each with who, why and its steps."""
    out: list[dict[str, Any]] = []
    for rec in runs:
        if len(out) >= limit:
            break
        by, reason = _run_by(rec)
        steps = [{"step": e.get("step"), "status": e.get("status"), "message": e.get("message", ""),
                  "ts": e.get("ts"), "duration_s": e.get("duration_s")}
                 for e in rec.events if e.get("event") == "step_ended"]
        ended = next((e for e in reversed(rec.events) if e.get("event") == "run_ended"), None)
        out.append({**rec.summary(), "executed_by": by, "reason": reason,
                    "ended": ended.get("ts") if ended else None,
                    "duration_s": ended.get("duration_s") if ended else None, "events": steps})
    return out


def revision_rows(weights: Mapping[str, int] | None, urls: Mapping[str, str],
                  health: Mapping[str, Mapping[str, Any] | str]) -> list[dict[str, Any]]:
    """Per revision: weight, URL, health status (text), cache format and faults switched on."""
    rows = []
    for name, url in urls.items():
        h = health.get(name)
        if isinstance(h, Mapping):
            status, detail = str(h.get("status") or "unknown"), ""
            fmt, faults = h.get("cache_format_version"), h.get("faults")
        else:
            status, detail, fmt, faults = "down", str(h or "not read yet"), None, None
        rows.append({"name": name, "url": url,
                     "weight": None if weights is None else int(weights.get(name, 0)),
                     "health": status, "health_detail": detail, "cache_format_version": fmt,
                     "faults": faults or None})
    return rows


__all__ = [
    "CHART_WINDOW_S", "chart_needs", "merge_needs", "sample_of", "chart_specs", "trigger_rows",
    "guard_is_fresh", "timeline", "revision_rows", "TEXT_STATE",
]
