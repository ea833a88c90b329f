"""Where the router keeps its weights so that they survive a restart."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..errors import RolloutError
from ..traffic import Weights, validate_weights

WEIGHTS_FILE = "router-weights.json"


def load_weights(path: Path, known: Sequence[str]) -> Weights | None:
    """Saved weights if the file exists and is valid for ``known`` revisions, else None."""
    try:
        data = json.loads(path.read_text())
        return validate_weights(data["weights"], known)
    except (OSError, ValueError, KeyError, TypeError, RolloutError):
        # A missing, corrupt or stale file (other revisions) is no state: start from defaults.
        return None


def save_weights(path: Path, weights: Mapping[str, int]) -> None:
    """Write atomically: a crash mid-write leaves the old file, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    payload = {"weights": dict(weights), "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp.write_text(json.dumps(payload) + "\n")
    os.replace(tmp, path)


def initial_weights(known: Sequence[str], requested: Mapping[str, int] | None) -> Weights:
    """``requested`` validated, else 100 to the first revision (blue) and 0 to the others."""
    if requested:
        return validate_weights(requested, known)
    return {name: (100 if i == 0 else 0) for i, name in enumerate(known)}


__all__ = ["WEIGHTS_FILE", "load_weights", "save_weights", "initial_weights"]
