"""What an evaluation produces and what the guard remembers between evaluations. Data only.

- :class:`TriggerResult`: one trigger at one evaluation (status, value, threshold, samples,
  window, bound, baseline, p-value, the sequential test's evidence, time left in its sustain);
- :class:`Decision`: the action and the trigger that caused it (or why it was held);
- :class:`Incident` / :class:`GuardState`: the open incident, cooldown, latches and sustain
  clocks (saved to disk by the loop so a restart keeps them);
- :class:`Evaluation`: all of the above for one instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("ok", "watching", "firing", "inconclusive", "no-data")


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """What one trigger saw and concluded at one evaluation."""

    trigger: str
    status: str
    action: str
    severity: str
    revision: str
    signal: str
    comparator: str
    threshold: float
    value: float | None = None  # the candidate's value (rate, seconds, ratio for baselines)
    samples: int = 0
    window_s: float | None = None
    bound: float | None = None  # the Wilson bound compared, when confidence is set
    baseline_value: float | None = None
    baseline_samples: int | None = None
    p_value: float | None = None
    # the sequential test (rate triggers with ``sequential``): -log10 of its per-look p-value on
    # the window where it is strongest (among those whose rate passes the threshold), and of the
    # level it must reach to decide; None when it does not apply or the rate does not pass
    evidence: float | None = None
    evidence_needed: float | None = None
    breach_for_s: float = 0.0
    time_left_s: float | None = None
    latched: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the history and ``--json``."""
        d = {k: getattr(self, k) for k in self.__slots__}
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return d


@dataclass(frozen=True, slots=True)
class Decision:
    """The guard's verdict: the action to take and the trigger that caused it."""

    action: str  # none | watch | notify | gradual | standard | emergency
    trigger: str | None = None
    reason: str = ""
    held: str | None = None  # why a firing trigger did not lead to an action
    needs_approval: bool = False
    alerts: tuple[str, ...] = ()  # messages to send (no-data, notify-only, held, approval)

    @property
    def acts(self) -> bool:
        """True when the guard should run a rollback procedure now."""
        return self.action in ("emergency", "standard", "gradual") and not self.needs_approval

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "trigger": self.trigger,
            "reason": self.reason,
            "held": self.held,
            "needs_approval": self.needs_approval,
            "alerts": list(self.alerts),
        }


@dataclass(frozen=True)
class Incident:
    """An action taken: when, which, by which trigger; open until cleared."""

    opened_at: float
    action: str
    trigger: str
    triggers: tuple[str, ...]


@dataclass(frozen=True)
class GuardState:
    """What the guard remembers between evaluations (all times on the evaluation clock)."""

    breach_since: dict[str, float] = field(default_factory=dict)
    latched_at: dict[str, float] = field(default_factory=dict)
    clear_since: dict[str, float] = field(default_factory=dict)
    incident: Incident | None = None
    last_action_at: float | None = None
    no_data_alerted: frozenset[str] = frozenset()  # triggers whose no-data was alerted

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the guard keeps it on disk so a restart keeps its incident)."""
        inc = self.incident
        return {
            "breach_since": dict(self.breach_since),
            "latched_at": dict(self.latched_at),
            "clear_since": dict(self.clear_since),
            "incident": None if inc is None else {
                "opened_at": inc.opened_at, "action": inc.action, "trigger": inc.trigger,
                "triggers": list(inc.triggers),
            },
            "last_action_at": self.last_action_at,
            "no_data_alerted": sorted(self.no_data_alerted),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardState:
        """Inverse of :meth:`to_dict`; unknown or missing parts start empty."""
        inc = d.get("incident")
        incident = None
        if isinstance(inc, dict):
            incident = Incident(float(inc["opened_at"]), str(inc["action"]), str(inc["trigger"]),
                                tuple(inc.get("triggers") or ()))
        f = lambda k: {str(a): float(b) for a, b in (d.get(k) or {}).items()}  # noqa: E731
        last = d.get("last_action_at")
        return cls(f("breach_since"), f("latched_at"), f("clear_since"), incident,
                   float(last) if last is not None else None,
                   frozenset(str(x) for x in (d.get("no_data_alerted") or ()) if isinstance(d.get("no_data_alerted"), list)))


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: when, each trigger's result, the decision, and the state after it."""

    at: float
    results: tuple[TriggerResult, ...]
    decision: Decision
    state: GuardState
    unavailable: dict[str, str] = field(default_factory=dict)
    weights: dict[str, int] | None = None  # the traffic split in force, when a source knew it

    @property
    def building(self) -> bool:
        """True when a trigger that has not fired has a sequential test past half the level it
        needs (in log: its p-value under the square root of its level): the guard looks again
        after ``fast_interval``
        instead of ``interval``, so that it decides when the evidence suffices."""
        return any(
            r.evidence is not None and r.evidence_needed is not None and r.status != "firing"
            and not r.latched and r.evidence >= r.evidence_needed / 2
            for r in self.results
        )

    def result(self, name: str) -> TriggerResult:
        """The result of the trigger called ``name``."""
        for r in self.results:
            if r.trigger == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "decision": self.decision.to_dict(),
            "triggers": [r.to_dict() for r in self.results],
            "unavailable": dict(self.unavailable),
            "weights": self.weights,
        }


__all__ = ["STATUSES", "TriggerResult", "Decision", "Incident", "GuardState", "Evaluation"]
