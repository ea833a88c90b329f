"""Every evaluation, recorded: ``<state dir>/guard/history.jsonl`` and the guard's state.

One JSON line per evaluation: ``ts`` (ISO 8601 UTC), ``t`` (unix seconds), ``decision``
(action, trigger, reason, held, alerts), ``triggers`` (each with status, value, threshold,
samples, window, bound, baseline value, p-value, time left), ``unavailable`` sources, and when
the guard acted, ``outcome`` (the procedure's exit code, rollback id, seconds). The file
rolls over to ``history.jsonl.1`` past ``max_bytes``. ``state.json`` holds the
:class:`~.evaluate.GuardState` so that a restarted guard keeps its open incident and cooldown.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .evaluate import Evaluation, GuardState

GUARD_DIR = "guard"


class GuardHistory:
    """Append-only history and the saved state under ``state_dir/guard``."""

    def __init__(self, state_dir: str | os.PathLike[str], max_bytes: int = 50 * 1024 * 1024) -> None:
        self.dir = Path(state_dir) / GUARD_DIR
        self.path = self.dir / "history.jsonl"
        self.state_path = self.dir / "state.json"
        self.max_bytes = max_bytes

    def append(self, ev: Evaluation, outcome: dict[str, Any] | None = None,
               deliveries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Write one evaluation; returns the record written."""
        rec = {
            "ts": datetime.fromtimestamp(ev.at, UTC).isoformat(timespec="milliseconds"),
            "t": ev.at,
            **ev.to_dict(),
        }
        if outcome is not None:
            rec["outcome"] = outcome
        if deliveries:
            rec["deliveries"] = deliveries
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.path.stat().st_size > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except FileNotFoundError:
            pass
        with self.path.open("a") as f:
            f.write(json.dumps(rec, default=str, separators=(",", ":")) + "\n")
        return rec

    def read(self, since: float | None = None) -> Iterator[dict[str, Any]]:
        """Records, oldest first (the rolled-over file first), with ``t >= since``."""
        for p in (self.path.with_name(self.path.name + ".1"), self.path):
            try:
                f = p.open()
            except FileNotFoundError:
                continue
            with f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash
                    if since is None or float(rec.get("t", 0)) >= since:
                        yield rec

    def save_state(self, state: GuardState, at: float) -> None:
        """Keep the state (atomically) with the time of the evaluation that made it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"at": at, "state": state.to_dict()}))
        os.replace(tmp, self.state_path)

    def load_state(self) -> tuple[GuardState, float | None]:
        """The saved state and when it was made; a fresh state when none or unreadable."""
        try:
            d = json.loads(self.state_path.read_text())
            return GuardState.from_dict(d["state"]), float(d["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return GuardState(), None


__all__ = ["GuardHistory", "GUARD_DIR"]
