"""Judging signals: is the issue real, is blue degrading, did the rollback succeed. Pure.

Thresholds are the runbook's (standard triggers and success criteria); each verdict carries
readable reasons with the values that led to it, so the journal says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..sources.signals import RevisionSignals


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Runbook thresholds. Rates are 0..1, latencies ms, factors relative to a baseline."""

    error_rate: float = 0.02  # standard trigger: error rate > 2%
    p95_ms: float = 10_000.0  # P95 latency > 10 s
    p50_ms: float = 5_000.0  # P50 latency > 5 s
    worse_factor: float = 1.5  # green (or blue now) vs baseline p95 / TTFT
    min_samples: int = 20  # fewer requests than this prove nothing
    success_error_rate: float = 0.01  # success: error rate < 1%
    baseline_slack_ms: float = 50.0  # tiny latencies jitter; allow this much above baseline
    emergency_error_rate: float = 0.05  # emergency trigger: error rate > 5%
    emergency_p95_ms: float = 30_000.0  # emergency trigger: P95 latency > 30 s (10x regression)


def _fmt_ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def _over(s: RevisionSignals, name: str, error_rate: float, p95_ms: float,
          p50_ms: float | None = None) -> list[str]:
    """Reasons ``s`` is above these bounds (an error rate, a p95, optionally a p50)."""
    out = []
    if s.error_rate > error_rate:
        out.append(f"error rate {s.error_rate:.1%} > {error_rate:.0%} on {name} ({s.count} requests)")
    if s.p95_ms is not None and s.p95_ms > p95_ms:
        out.append(f"p95 latency {_fmt_ms(s.p95_ms)} > {_fmt_ms(p95_ms)} on {name}")
    if p50_ms is not None and s.p50_ms is not None and s.p50_ms > p50_ms:
        out.append(f"p50 latency {_fmt_ms(s.p50_ms)} > {_fmt_ms(p50_ms)} on {name}")
    return out


def _trigger_reasons(s: RevisionSignals, name: str, t: Thresholds) -> list[str]:
    return _over(s, name, t.error_rate, t.p95_ms, t.p50_ms)


def _worse_than(s: RevisionSignals, base: RevisionSignals, name: str, base_name: str,
                t: Thresholds) -> list[str]:
    out = []
    pairs = (("p95 latency", s.p95_ms, base.p95_ms), ("TTFT p50", s.ttft_p50_ms, base.ttft_p50_ms))
    for label, v, b in pairs:
        if v is not None and b is not None and b > 0 and v > b * t.worse_factor + t.baseline_slack_ms:
            out.append(f"{label} {_fmt_ms(v)} on {name} is worse than {base_name}'s "
                       f"{_fmt_ms(b)} (x{v / b:.1f})")
    return out


def confirm_issue(signals: dict[str, RevisionSignals], blue: str, green: str,
                  t: Thresholds = Thresholds()) -> tuple[bool, list[str]]:
    """Standard step 1: do green's signals show a runbook trigger? -> (confirmed, reasons)."""
    g = signals.get(green)
    if g is None or g.count < t.min_samples:
        n = 0 if g is None else g.count
        return False, [f"too few requests on {green} to judge ({n} < {t.min_samples})"]
    reasons = _trigger_reasons(g, green, t)
    b = signals.get(blue)
    if b is not None and b.count >= t.min_samples:
        reasons += _worse_than(g, b, green, blue, t)
    if not reasons:
        return False, [f"{green} looks healthy: error rate {g.error_rate:.1%}, "
                       f"p50 {_fmt_ms(g.p50_ms)}, p95 {_fmt_ms(g.p95_ms)} ({g.count} requests)"]
    return True, reasons


def blue_degraded(now: RevisionSignals | None, baseline: RevisionSignals | None, blue: str,
                  t: Thresholds = Thresholds()) -> list[str]:
    """Gradual monitoring: reasons blue is degrading as it takes the load ([] = fine)."""
    if now is None or now.count < t.min_samples:
        return []
    reasons = _trigger_reasons(now, blue, t)
    if baseline is not None and baseline.count >= t.min_samples:
        reasons += _worse_than(now, baseline, blue, "its baseline", t)
    return reasons


def green_emergency(s: RevisionSignals | None, name: str, t: Thresholds = Thresholds()) -> list[str]:
    """A gradual's watch on green: the runbook's emergency triggers ([] = none, or too few samples)."""
    if s is None or s.count < t.min_samples:
        return []
    return _over(s, name, t.emergency_error_rate, t.emergency_p95_ms)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One success criterion with its measured value.

    ``status`` is ``pass``, ``fail`` or ``inconclusive`` (too few requests to judge); left empty
    it follows ``passed``. ``passed`` is true only when the status is ``pass``.
    """

    name: str
    passed: bool
    value: str
    expected: str
    status: str = ""

    def __post_init__(self) -> None:
        status = self.status or ("pass" if self.passed else "fail")
        if status not in ("pass", "fail", "inconclusive"):
            raise ValueError(f"criterion status must be pass, fail or inconclusive, not {status!r}")
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "passed", status == "pass")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def success_criteria(
    weights: dict[str, int] | None,
    signals: dict[str, RevisionSignals] | None,
    blue: str,
    baseline: RevisionSignals | None,
    probe_ok: bool | None,
    probe_detail: str = "",
    t: Thresholds = Thresholds(),
) -> list[Criterion]:
    """The runbook's immediate success criteria after a rollback, each with value and verdict.

    The criteria read from the router's window (error rate, latency, failed requests) are
    ``inconclusive`` while blue has fewer than ``t.min_samples`` requests in it: a quiet system
    proves nothing either way. Traffic 100 % blue and the functional probe are judged regardless
    (a failed probe fails ``no_user_facing_errors``). With no signals at all (``signals`` None:
    no router stats read) the error rate and latency fail, as there is nothing to wait for.
    """
    out: list[Criterion] = []
    if weights is None:
        out.append(Criterion("traffic_100_blue", False, "unknown (traffic not readable)",
                             f"{blue}=100"))
    else:
        shown = ", ".join(f"{k}={v}" for k, v in weights.items())
        out.append(Criterion("traffic_100_blue", weights.get(blue) == 100, shown, f"{blue}=100"))
    s = (signals or {}).get(blue)
    count = 0 if s is None else s.count
    few = ""  # why the windowed criteria are inconclusive ("" = enough requests, or no signals)
    if signals is not None and count < t.min_samples:
        window = next((x.window_s for x in [s, *signals.values()] if x is not None and x.window_s), None)
        where = f"the {window:g} s window" if window else "the router's window"
        few = (f"{count} request{'' if count == 1 else 's'} on {blue} in {where}; needs "
               f"{t.min_samples}: send traffic or wait, then run `ethos rollback verify` again")
    if few:
        out.append(Criterion("error_rate_below_1pct", False, few, f"< {t.success_error_rate:.0%}",
                             "inconclusive"))
    elif s is None or s.count == 0:
        seen = "no router signals read" if signals is None else f"no requests seen on {blue}"
        out.append(Criterion("error_rate_below_1pct", False, seen, f"< {t.success_error_rate:.0%}"))
    else:
        out.append(Criterion("error_rate_below_1pct", s.error_rate < t.success_error_rate,
                             f"{s.error_rate:.2%} of {s.count}", f"< {t.success_error_rate:.0%}"))
    if few:
        out.append(Criterion("latency_at_baseline", False, few, "baseline", "inconclusive"))
    elif s is None or s.p95_ms is None:
        out.append(Criterion("latency_at_baseline", False, "no latency measured", "baseline"))
    elif baseline is not None and baseline.p95_ms is not None and baseline.count >= t.min_samples:
        limit = baseline.p95_ms * t.worse_factor + t.baseline_slack_ms
        out.append(Criterion("latency_at_baseline", s.p95_ms <= limit,
                             f"p95 {_fmt_ms(s.p95_ms)}",
                             f"<= {_fmt_ms(limit)} (baseline p95 {_fmt_ms(baseline.p95_ms)})"))
    else:
        ok = s.p95_ms <= t.p95_ms and (s.p50_ms is None or s.p50_ms <= t.p50_ms)
        out.append(Criterion("latency_at_baseline", ok,
                             f"p50 {_fmt_ms(s.p50_ms)}, p95 {_fmt_ms(s.p95_ms)}",
                             f"p95 <= {_fmt_ms(t.p95_ms)}, p50 <= {_fmt_ms(t.p50_ms)} "
                             "(no baseline recorded: runbook thresholds)"))
    errors = 0 if s is None else s.errors
    probe = f"; probe: {probe_detail}" if probe_detail else ""
    if few and probe_ok is not False:
        out.append(Criterion("no_user_facing_errors", False, few + probe,
                             "0 failed requests, probe 200", "inconclusive"))
    else:
        ok = probe_ok is not False and errors == 0
        out.append(Criterion("no_user_facing_errors", ok, f"{errors} failed requests on {blue}{probe}",
                             "0 failed requests, probe 200"))
    return out


__all__ = ["Thresholds", "Criterion", "confirm_issue", "blue_degraded", "green_emergency", "success_criteria"]
