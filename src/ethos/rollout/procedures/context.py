"""What a step may use: targets, traffic manager, revision client, signals, notifiers, journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..notify import Notifier
from ..sources.signals import SignalsReader
from ..traffic import TrafficManager
from ..traffic.targets import Targets
from .assess import Thresholds
from .control import Control, Unguarded
from .journal import Run
from .revisions import RevisionClient

Status = Literal["ok", "skipped", "warn", "failed", "held", "stopped", "inconclusive", "escalate",
                 "superseded"]


@dataclass
class StepResult:
    """How a step ended: ``status``, one readable line, and the values it saw and did."""

    status: Status
    message: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Everything the actions of one run share. ``results``: values of completed steps."""

    targets: Targets
    traffic: TrafficManager
    revisions: RevisionClient
    run: Run
    procedure: str
    signals: SignalsReader | None = None
    #: the same source over its longest window (standard step 1: "error rate > 2 % for 5 minutes")
    sustained_signals: SignalsReader | None = None
    notifiers: list[Notifier] = field(default_factory=list)
    reason: str = ""
    executed_by: str = ""
    approved_by: str = ""
    authority: str = ""  # on whose authority it runs (ethos.rollout.procedures.authority.Approval.authority)
    thresholds: Thresholds = field(default_factory=Thresholds)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    poll_s: float = 5.0  # how often a monitoring window reads the signals, seconds
    notify_attempts: int = 3
    notify_backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    emit: Callable[[str], None] = lambda line: None  # progress inside long steps
    #: notifiers that already delivered this run's final notification (from the journal, on resume)
    delivered: set[str] = field(default_factory=set)
    #: control of traffic (:mod:`.control`): checked before each step and each traffic change
    control: Control | Unguarded = field(default_factory=Unguarded)
    #: runs this one is linked to (``superseded_by`` …), copied into the Outcome
    links: dict[str, str] = field(default_factory=dict)

    @property
    def blue(self) -> str:
        return self.targets.blue

    @property
    def green(self) -> str:
        return self.targets.green

    def cache_action(self) -> str:
        """The cache decision taken earlier in the run (``clear`` when none was recorded)."""
        return str(self.results.get("decide_cache", {}).get("action", "clear"))


__all__ = ["Context", "StepResult", "Status"]
