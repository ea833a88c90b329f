"""The three procedures as plans: lists of named, idempotent steps. Pure, no I/O.

A :class:`Step` is data (a name, a kind and parameters), so a plan can be printed
(``--dry-run``), journaled, and rebuilt from the journal by ``ethos rollback resume``. The
runner (:mod:`.runner`) maps each kind to the action that carries it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: The runbook's gradual stages: green percent, monitoring window in seconds.
RUNBOOK_STAGES: tuple[tuple[int, float], ...] = ((50, 900.0), (25, 900.0), (5, 1800.0))
PROBE_MESSAGE = "What are your pricing plans?"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a plan. ``critical``: a failure stops the run (else it is a warning)."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    critical: bool = True
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "params": self.params,
            "critical": self.critical,
            "title": self.title,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            params=dict(d.get("params") or {}),
            critical=bool(d.get("critical", True)),
            title=str(d.get("title") or ""),
        )


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """What a plan needs to know: names, cache mode, warming, stages."""

    blue: str = "blue"
    green: str = "green"
    revisions: tuple[str, ...] = ("blue", "green")
    cache: str = "clear"  # clear | preserve | auto
    cause: str = "unspecified"
    warm: int = 0
    force: bool = False
    stages: tuple[tuple[int, float], ...] = RUNBOOK_STAGES
    probe: bool = True

    def weights(self, green_percent: int) -> dict[str, int]:
        """Every revision at 0 except blue and green, which share 100."""
        w = {name: 0 for name in self.revisions}
        w[self.blue] = 100 - green_percent
        if green_percent:
            w[self.green] = green_percent
        return w


def _snapshot(o: PlanOptions) -> list[Step]:
    return [
        Step("snapshot", "snapshot", {"revisions": list(o.revisions), "blue": o.blue},
             title="read traffic, health and cache format of every revision"),
        Step("decide_cache", "decide_cache",
             {"mode": o.cache, "cause": o.cause, "blue": o.blue, "green": o.green},
             title=f"decide the cache's fate (--cache {o.cache}, cause {o.cause})"),
    ]


def _cache_steps(o: PlanOptions, *, before: bool) -> list[Step]:
    """Steps around the cache clear; ``before``: the ones that must precede the shift."""
    if before:
        if o.warm <= 0:
            return []
        return [Step("collect_top", "collect_top", {"revision": o.blue, "n": o.warm},
                     critical=False,
                     title=f"remember the {o.warm} most asked questions (for warming)")]
    steps = [
        Step(f"invalidate_cache:{name}", "invalidate_cache", {"revision": name},
             critical=(name == o.blue),
             title=f"invalidate the cache on {name} (key_pattern=all) unless preserved")
        for name in o.revisions
    ]
    if o.warm > 0:
        steps.append(Step("warm_cache", "warm_cache", {"revision": o.blue, "n": o.warm},
                          critical=False, title=f"pre-warm {o.blue} with the most asked questions"))
    return steps


def _verify(o: PlanOptions, *, probe: bool) -> list[Step]:
    steps = [
        Step("verify_traffic", "verify_traffic", {"weights": o.weights(0)},
             title=f"verify traffic shows 100% {o.blue}"),
        Step("verify_health", "verify_health", {"required": [o.blue], "revisions": list(o.revisions)},
             title=f"verify /health ok ({o.blue} required, others reported)"),
    ]
    if probe:
        steps.append(Step("probe", "probe", {"message": PROBE_MESSAGE, "expect_revision": o.blue},
                          title=f'functional probe: "{PROBE_MESSAGE}" answered 200, non-empty'))
    return steps


def _notify(procedure: str) -> Step:
    return Step("notify", "notify", {"procedure": procedure}, critical=False,
                title="notify the team (Slack / webhook); a failure never undoes the rollback")


def _shift(o: PlanOptions, green_percent: int, name: str = "shift_traffic") -> Step:
    w = o.weights(green_percent)
    shown = ", ".join(f"{k}={v}" for k, v in w.items())
    return Step(name, "set_traffic", {"weights": w}, title=f"set traffic {shown}")


def plan_emergency(o: PlanOptions) -> list[Step]:
    """Runbook emergency: 100% blue, clear every revision's cache, verify, notify."""
    return [
        *_snapshot(o),
        *_cache_steps(o, before=True),
        _shift(o, 0),
        *_cache_steps(o, before=False),
        *_verify(o, probe=False),
        _notify("emergency"),
    ]


def plan_standard(o: PlanOptions) -> list[Step]:
    """Runbook standard: (1) verify issue (2) shift (3) clear cache (4) verify (5) notify."""
    return [
        Step("verify_issue", "verify_issue", {"blue": o.blue, "green": o.green, "force": o.force},
             title="step 1: verify the issue from the router's signals (stop unless confirmed)"),
        *_snapshot(o),
        *_cache_steps(o, before=True),
        _shift(o, 0),
        *_cache_steps(o, before=False),
        *_verify(o, probe=o.probe),
        _notify("standard"),
    ]


def plan_gradual(o: PlanOptions) -> list[Step]:
    """Runbook gradual: green 50 -> 25 -> 5 with a monitoring window each, then 0."""
    steps = [
        *_snapshot(o),
        Step("baseline", "baseline", {"blue": o.blue},
             title=f"record {o.blue}'s signals as the baseline"),
        *_cache_steps(o, before=True),
    ]
    for percent, seconds in o.stages:
        steps.append(_shift(o, percent, f"shift_traffic@{percent}"))
        steps.append(Step(f"monitor@{percent}", "monitor", {
            "blue": o.blue, "green_percent": percent, "seconds": seconds},
            title=f"monitor {o.blue} for {_fmt_s(seconds)} with green at {percent}%"))
    steps.append(_shift(o, 0, "shift_traffic@0"))
    steps += _cache_steps(o, before=False)
    steps += _verify(o, probe=o.probe)
    steps.append(_notify("gradual"))
    return steps


PLANS = {"emergency": plan_emergency, "standard": plan_standard, "gradual": plan_gradual}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """``"900"``, ``"5s"``, ``"15m"``, ``"1h"``, ``"500ms"`` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r} (e.g. 900, 5s, 15m)")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def parse_stages(text: str) -> tuple[tuple[int, float], ...]:
    """``"50:5s,25:5s,5:5s"`` -> ((50, 5.0), (25, 5.0), (5, 5.0)).

    Green percents must be 1..99 and strictly decreasing; a trailing ``0`` is dropped
    because the final 100% blue is always part of the plan. Raises ValueError.
    """
    stages: list[tuple[int, float]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        pct_s, sep, dur_s = part.partition(":")
        try:
            pct = int(pct_s)
        except ValueError:
            raise ValueError(f"bad stage {part!r}: expected PERCENT:DURATION (e.g. 50:15m)") from None
        if pct == 0:
            continue
        if not 0 < pct < 100:
            raise ValueError(f"bad stage {part!r}: green percent must be within 1..99")
        seconds = parse_duration(dur_s) if sep else 0.0
        if stages and pct >= stages[-1][0]:
            raise ValueError(f"stages must decrease: {pct}% after {stages[-1][0]}%")
        stages.append((pct, seconds))
    if not stages:
        raise ValueError("no stages given (e.g. 50:15m,25:15m,5:30m)")
    return tuple(stages)


def _fmt_s(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def describe_plan(steps: list[Step]) -> list[str]:
    """One readable line per step (for ``--dry-run``)."""
    return [f"{i:2d}. {s.name:<24} {s.title}" + ("" if s.critical else "  [non-critical]")
            for i, s in enumerate(steps, 1)]


__all__ = [
    "Step", "PlanOptions", "PLANS", "RUNBOOK_STAGES", "PROBE_MESSAGE",
    "plan_emergency", "plan_standard", "plan_gradual",
    "parse_stages", "parse_duration", "describe_plan",
]
