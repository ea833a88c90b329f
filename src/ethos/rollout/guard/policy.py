"""The guard's policy as data: triggers with thresholds, windows, sustain, samples and actions.

A policy is a YAML document (``ethos guard --policy policy.yaml``); the runbook's own policy
ships in :mod:`.default_policy`. Each trigger says:

- ``signal`` (see :mod:`.measurements`), ``revision`` (``candidate``, ``baseline``, a name,
  or ``any``), ``comparator`` (``> >= < <= == !=``) and ``threshold``;
- ``windows``: trailing windows to read, shortest first; the first holding at least
  ``min_samples`` observations is used (fewer everywhere: *inconclusive*, never a rollback);
- ``sustain``: how long the condition must hold before the trigger fires (``5m``: 4 min 59 s
  is not enough);
- ``confidence``: for rates, the one-sided Wilson bound (not the raw ratio) must pass the
  threshold, so a handful of errors at low traffic proves nothing;
- ``baseline``: compare the candidate with the baseline revision on the same window with a
  one-sided test (``mann_whitney`` for distributions, ``fisher`` for rates): the trigger
  breaches when ``p < alpha`` AND the effect (candidate / baseline ratio) passes ``threshold``;
- ``unless_baseline_too``: a threshold the baseline breaches as well is the traffic, not the
  release (cache hit rate on a cold cache): no breach;
- ``sequential`` (rates with a threshold, no ``baseline``): ``{normal: 0.005, alpha: 0.01,
  confidence: 0.75}`` also breaches when a window's rate passes the threshold (through its
  one-sided Wilson bound at ``confidence``: the effect) AND a sequential test
  (:func:`.stats.rate_evidence`) finds its count too unlikely from a revision at the ``normal``
  rate (raised to the baseline's own rate on the same window when that is clearly higher): the
  exact p-value must be under the per-look share of ``alpha`` false alarms a day at the normal
  rate, counting every look the guard can make (see ``fast_interval``) and every window. Strong
  evidence decides at the first look that sees it, whatever the window holds (from
  ``min_samples`` on);
- ``severity`` (critical | major | minor) and ``action`` (emergency | standard | gradual |
  notify);
- ``query`` / ``samples_query``: PromQL for the Prometheus source (``$revision``, ``$window``).

The policy's ``fast_interval`` (default 1 s; 0: never): while a sequential test is building
evidence (its p-value under the square root of the level it needs), the guard also looks every
``fast_interval`` between its regular evaluations, so a decision comes when the evidence
suffices, not at the next tick.

Durations are seconds or text (``90``, ``10s``, ``5m``, ``1h``).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import PermanentError
from ..sources.measurements import DISTRIBUTIONS, PROPORTIONS, SIGNALS

#: Strength of an action: a stronger one may follow a weaker one in the same incident.
ACTION_RANK: dict[str, int] = {"none": 0, "watch": 1, "notify": 2, "gradual": 3, "standard": 4, "emergency": 5}
ACTIONS = ("emergency", "standard", "gradual", "notify")
SEVERITIES = ("critical", "major", "minor")
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
TESTS = ("mann_whitney", "fisher")


class PolicyError(PermanentError):
    """The policy file is unreadable or a trigger is malformed; the message names the field."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from ``90``, ``"10s"``, ``"5m"``, ``"1h"``, ``"500ms"``; PolicyError otherwise."""
    if isinstance(value, bool):
        raise PolicyError(f"{what}: expected a duration like 30s or 5m, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0 or not math.isfinite(value):
            raise PolicyError(f"{what}: must be >= 0, got {value}")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise PolicyError(f"{what}: expected a duration like 30s or 5m, got {value!r}")
    mult = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return float(m.group(1)) * mult


@dataclass(frozen=True, slots=True)
class Baseline:
    """Compare the candidate with ``revision`` by ``test``; breach needs ``p < alpha``."""

    test: str = "mann_whitney"
    alpha: float = 0.01
    revision: str = "baseline"
    min_difference: float = 0.0  # rates: |candidate - baseline| must also reach this


@dataclass(frozen=True, slots=True)
class Sequential:
    """A rate trigger's sequential test: the null is ``normal`` (or the baseline's rate when
    higher); at most ``alpha`` false alarms a day are expected while the rate is normal; the
    window's rate must pass the threshold at ``confidence`` (one-sided Wilson bound)."""

    normal: float = 0.005
    alpha: float = 0.01
    confidence: float = 0.75


@dataclass(frozen=True, slots=True)
class Trigger:
    """One runbook trigger, as data. See the module docstring for each field."""

    name: str
    signal: str
    comparator: str
    threshold: float
    action: str
    severity: str = "major"
    windows: tuple[float, ...] = (60.0,)
    sustain_s: float = 0.0
    min_samples: int = 1
    revision: str = "candidate"
    confidence: float | None = None
    baseline: Baseline | None = None
    unless_baseline_too: bool = False
    sequential: Sequential | None = None
    runbook: str = ""
    query: str | None = None
    samples_query: str | None = None

    def passes(self, value: float, threshold: float | None = None) -> bool:
        """True when ``value`` breaches the threshold (the bad side)."""
        return COMPARATORS[self.comparator](value, self.threshold if threshold is None else threshold)

    @property
    def worse(self) -> str:
        """Direction of "worse" for a one-sided test: ``greater`` or ``less``."""
        return "greater" if self.comparator in (">", ">=") else "less"

    def describe(self) -> str:
        """``error_rate > 0.05 for 0s (min 50 samples)``."""
        what = f"{self.signal} {self.comparator} {self.threshold:g}"
        if self.baseline is not None:
            what = f"{self.signal} {self.baseline.test} vs {self.baseline.revision}: ratio {self.comparator} {self.threshold:g}, p < {self.baseline.alpha:g}"
        if self.sequential is not None:
            what += f" (or sequentially against {self.sequential.normal:g}, {self.sequential.alpha:g} false alarms/day)"
        return f"{what} for {self.sustain_s:g}s (min {self.min_samples} samples)"

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (round-trips through :func:`parse_trigger`)."""
        d: dict[str, Any] = {
            "name": self.name,
            "signal": self.signal,
            "revision": self.revision,
            "comparator": self.comparator,
            "threshold": self.threshold,
            "windows": list(self.windows),
            "sustain": self.sustain_s,
            "min_samples": self.min_samples,
            "severity": self.severity,
            "action": self.action,
        }
        if self.confidence is not None:
            d["confidence"] = self.confidence
        if self.baseline is not None:
            d["baseline"] = {
                "test": self.baseline.test,
                "alpha": self.baseline.alpha,
                "revision": self.baseline.revision,
                "min_difference": self.baseline.min_difference,
            }
        if self.unless_baseline_too:
            d["unless_baseline_too"] = True
        if self.sequential is not None:
            d["sequential"] = {"normal": self.sequential.normal, "alpha": self.sequential.alpha,
                               "confidence": self.sequential.confidence}
        if self.runbook:
            d["runbook"] = self.runbook
        if self.query:
            d["query"] = self.query
        if self.samples_query:
            d["samples_query"] = self.samples_query
        return d


@dataclass(frozen=True)
class Policy:
    """The whole policy: triggers and the guard's own timing."""

    triggers: tuple[Trigger, ...]
    candidate: str = "green"
    baseline: str = "blue"
    interval_s: float = 5.0
    fast_interval_s: float = 1.0
    cooldown_s: float = 600.0
    clear_after_s: float = 120.0
    approval: Mapping[str, str] = field(default_factory=lambda: {"gradual": "human"})
    cost: Mapping[str, Any] = field(default_factory=dict)
    name: str = "policy"

    def revision_of(self, role: str) -> str:
        """``candidate``/``baseline`` resolved to a revision name; other names unchanged."""
        return {"candidate": self.candidate, "baseline": self.baseline}.get(role, role)

    @property
    def look_s(self) -> float:
        """The shortest time between two looks: ``fast_interval`` when it is shorter than
        ``interval`` (and not 0), else ``interval``."""
        if 0 < self.fast_interval_s < self.interval_s:
            return self.fast_interval_s
        return self.interval_s

    def without_sequential(self) -> Policy:
        """The same policy deciding on its windows alone: no sequential test, no fast looks
        (what the guard did before them; benches compare the two in one run)."""
        return replace(self, triggers=tuple(replace(t, sequential=None) for t in self.triggers),
                       fast_interval_s=0.0)

    def needs_approval(self, action: str) -> bool:
        """True when the policy says a person approves ``action`` (gradual, by default)."""
        return self.approval.get(action, "auto") == "human"

    def windows(self) -> list[float]:
        """Every window any trigger reads, ascending."""
        return sorted({w for t in self.triggers for w in t.windows})

    def needs(self) -> dict[str, list[float]]:
        """signal -> the windows the triggers read it over (what a source must report)."""
        out: dict[str, set[float]] = {}
        for t in self.triggers:
            out.setdefault(t.signal, set()).update(t.windows)
        return {k: sorted(v) for k, v in out.items()}

    def to_dict(self) -> dict[str, Any]:
        """The YAML form."""
        return {
            "name": self.name,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "interval": self.interval_s,
            "fast_interval": self.fast_interval_s,
            "cooldown": self.cooldown_s,
            "clear_after": self.clear_after_s,
            "approval": dict(self.approval),
            "cost": dict(self.cost),
            "triggers": [t.to_dict() for t in self.triggers],
        }


_TRIGGER_KEYS = {
    "name", "signal", "revision", "comparator", "threshold", "windows", "window", "sustain",
    "min_samples", "severity", "action", "confidence", "baseline", "unless_baseline_too",
    "sequential", "runbook", "query", "samples_query",
}


def _num(d: Mapping[str, Any], key: str, where: str, default: Any = None) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise PolicyError(f"{where}: {key} must be a number, got {v!r}")
    return float(v)


def parse_trigger(d: Any, index: int = 0) -> Trigger:
    """One trigger from its mapping; PolicyError naming the trigger and field on bad input."""
    if not isinstance(d, Mapping):
        raise PolicyError(f"trigger #{index + 1}: expected a mapping, got {type(d).__name__}")
    name = str(d.get("name") or f"#{index + 1}")
    where = f"trigger {name}"
    unknown = set(d) - _TRIGGER_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    signal = d.get("signal")
    if signal not in SIGNALS:
        raise PolicyError(f"{where}: unknown signal {signal!r}; known: {', '.join(sorted(SIGNALS))}")
    comparator = str(d.get("comparator", ">"))
    if comparator not in COMPARATORS:
        raise PolicyError(f"{where}: comparator must be one of {' '.join(COMPARATORS)}, got {comparator!r}")
    if "threshold" not in d:
        raise PolicyError(f"{where}: threshold is required")
    threshold = _num(d, "threshold", where)
    action = d.get("action")
    if action not in ACTIONS:
        raise PolicyError(f"{where}: action must be one of {', '.join(ACTIONS)}, got {action!r}")
    severity = d.get("severity", "major")
    if severity not in SEVERITIES:
        raise PolicyError(f"{where}: severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    raw_windows = d.get("windows", d.get("window", 60))
    if not isinstance(raw_windows, (list, tuple)):
        raw_windows = [raw_windows]
    if not raw_windows:
        raise PolicyError(f"{where}: windows must not be empty")
    windows = tuple(sorted(parse_duration(w, f"{where}: window") for w in raw_windows))
    min_samples = d.get("min_samples", 1)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise PolicyError(f"{where}: min_samples must be an integer >= 1, got {min_samples!r}")
    confidence = d.get("confidence")
    if confidence is not None:
        confidence = _num(d, "confidence", where)
        if not 0.5 <= confidence < 1:
            raise PolicyError(f"{where}: confidence must be within 0.5..1 (e.g. 0.9), got {confidence}")
        if signal not in PROPORTIONS:
            raise PolicyError(f"{where}: confidence applies to rates only ({', '.join(sorted(PROPORTIONS))})")
    baseline = None
    if d.get("baseline") is not None:
        b = d["baseline"]
        if not isinstance(b, Mapping):
            raise PolicyError(f"{where}: baseline must be a mapping (test, alpha, revision)")
        test = b.get("test", "mann_whitney" if signal in DISTRIBUTIONS else "fisher")
        if test not in TESTS:
            raise PolicyError(f"{where}: baseline.test must be one of {', '.join(TESTS)}, got {test!r}")
        if test == "mann_whitney" and signal not in DISTRIBUTIONS:
            raise PolicyError(f"{where}: mann_whitney needs a distribution signal (latency, ttft)")
        if test == "fisher" and signal not in PROPORTIONS:
            raise PolicyError(f"{where}: fisher needs a rate signal ({', '.join(sorted(PROPORTIONS))})")
        alpha = _num(b, "alpha", where, 0.01)
        if not 0 < alpha < 0.5:
            raise PolicyError(f"{where}: baseline.alpha must be within 0..0.5, got {alpha}")
        baseline = Baseline(
            test=test,
            alpha=alpha,
            revision=str(b.get("revision", "baseline")),
            min_difference=_num(b, "min_difference", where, 0.0),
        )
    elif signal in DISTRIBUTIONS:
        raise PolicyError(f"{where}: {signal} is a distribution; compare it with a baseline, or use {signal}_p50/_p95")
    sequential = None
    if d.get("sequential") is not None:
        sequential = _parse_sequential(d["sequential"], where, signal, comparator, threshold, baseline)
    return Trigger(
        name=name,
        signal=signal,
        comparator=comparator,
        threshold=threshold,
        action=action,
        severity=severity,
        windows=windows,
        sustain_s=parse_duration(d.get("sustain", 0), f"{where}: sustain"),
        min_samples=min_samples,
        revision=str(d.get("revision", "candidate")),
        confidence=confidence,
        baseline=baseline,
        unless_baseline_too=bool(d.get("unless_baseline_too", False)),
        sequential=sequential,
        runbook=str(d.get("runbook") or ""),
        query=d.get("query"),
        samples_query=d.get("samples_query"),
    )


def _parse_sequential(
    s: Any, where: str, signal: str, comparator: str, threshold: float, baseline: Baseline | None
) -> Sequential:
    if not isinstance(s, Mapping):
        raise PolicyError(f"{where}: sequential must be a mapping (normal, alpha, confidence)")
    unknown = set(s) - {"normal", "alpha", "confidence"}
    if unknown:
        raise PolicyError(f"{where}: sequential: unknown field(s) {', '.join(sorted(unknown))}")
    if signal not in PROPORTIONS:
        raise PolicyError(f"{where}: sequential applies to rates only ({', '.join(sorted(PROPORTIONS))})")
    if baseline is not None:
        raise PolicyError(f"{where}: sequential applies to thresholds, not to comparisons with a baseline")
    if comparator not in (">", ">=", "<", "<="):
        raise PolicyError(f"{where}: sequential needs a one-sided comparator (> >= < <=), got {comparator!r}")
    if not 0 < threshold < 1:
        raise PolicyError(f"{where}: sequential needs a threshold within 0..1 (exclusive), got {threshold:g}")
    normal = _num(s, "normal", where, 0.005)
    alpha = _num(s, "alpha", where, 0.01)
    worse_up = comparator in (">", ">=")
    if not 0 < normal < 1 or (normal >= threshold if worse_up else normal <= threshold):
        side = "below" if worse_up else "above"
        raise PolicyError(f"{where}: sequential.normal must be within 0..1 and {side} the threshold "
                          f"{threshold:g}, got {normal:g}")
    if not 0 < alpha < 1:
        raise PolicyError(f"{where}: sequential.alpha (false alarms a day) must be within 0..1, got {alpha:g}")
    confidence = _num(s, "confidence", where, 0.75)
    if not 0.5 <= confidence < 1:
        raise PolicyError(f"{where}: sequential.confidence must be within 0.5..1 (e.g. 0.75), got {confidence:g}")
    return Sequential(normal=normal, alpha=alpha, confidence=confidence)


def parse_policy(data: Any, name: str = "policy") -> Policy:
    """A :class:`Policy` from the parsed YAML mapping; PolicyError on any malformed part."""
    if not isinstance(data, Mapping):
        raise PolicyError(f"{name}: expected a mapping with 'triggers', got {type(data).__name__}")
    raw = data.get("triggers")
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{name}: 'triggers' must be a non-empty list")
    triggers = tuple(parse_trigger(t, i) for i, t in enumerate(raw))
    seen: set[str] = set()
    for t in triggers:
        if t.name in seen:
            raise PolicyError(f"{name}: trigger name {t.name!r} is used twice")
        seen.add(t.name)
    approval = data.get("approval") or {"gradual": "human"}
    if not isinstance(approval, Mapping) or any(v not in ("human", "auto") for v in approval.values()):
        raise PolicyError(f"{name}: approval maps an action to human|auto, e.g. {{gradual: human}}")
    cost = data.get("cost") or {}
    if not isinstance(cost, Mapping):
        raise PolicyError(f"{name}: cost must be a mapping")
    return Policy(
        triggers=triggers,
        candidate=str(data.get("candidate", "green")),
        baseline=str(data.get("baseline", "blue")),
        interval_s=parse_duration(data.get("interval", 5), f"{name}: interval"),
        fast_interval_s=parse_duration(data.get("fast_interval", 1), f"{name}: fast_interval"),
        cooldown_s=parse_duration(data.get("cooldown", 600), f"{name}: cooldown"),
        clear_after_s=parse_duration(data.get("clear_after", 120), f"{name}: clear_after"),
        approval=dict(approval),
        cost=dict(cost),
        name=str(data.get("name", name)),
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in ``path`` (YAML), or the runbook's default policy when ``path`` is None."""
    if path is None:
        from .default_policy import DEFAULT_POLICY_YAML

        return parse_policy(yaml.safe_load(DEFAULT_POLICY_YAML), "default policy")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PolicyError(f"cannot read policy {p}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"policy {p} is not valid YAML: {e}") from e
    return parse_policy(data, str(p))


__all__ = [
    "ACTIONS",
    "ACTION_RANK",
    "COMPARATORS",
    "Baseline",
    "Policy",
    "PolicyError",
    "Sequential",
    "Trigger",
    "load_policy",
    "parse_duration",
    "parse_policy",
    "parse_trigger",
]
