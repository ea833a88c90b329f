"""Where the router keeps its weights so that they survive a restart.

``router-weights.json``: ``{"weights": {...}, "fence": int | null, "updated_at": "..."}``.
``fence`` is the router's fencing high-water mark (the highest ``X-Ethos-Fence`` it has
accepted); files written before fencing have no ``fence`` and read as ``None``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import RolloutError
from ..weights import MAX_FENCE, Weights, validate_weights

WEIGHTS_FILE = "router-weights.json"


@dataclass(frozen=True)
class SavedState:
    """What the state file holds: the weights (None: none valid for these revisions) and the fence."""

    weights: Weights | None
    fence: int | None


def load_state(path: Path, known: Sequence[str]) -> SavedState:
    """The saved weights (if valid for ``known`` revisions) and fencing high-water mark.

    The fence is read even when the weights are stale (other revision names): a mark never
    goes back while its file exists. A missing or corrupt file gives ``SavedState(None, None)``.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return SavedState(None, None)
    if not isinstance(data, dict):
        return SavedState(None, None)
    fence = data.get("fence")
    if isinstance(fence, bool) or not isinstance(fence, int) or not 0 <= fence <= MAX_FENCE:
        fence = None  # absent (a file from before fencing), null or not a fence
    try:
        weights: Weights | None = validate_weights(data["weights"], known)
    except (KeyError, TypeError, RolloutError):
        # A stale file (other revisions) holds no weights: start from defaults.
        weights = None
    return SavedState(weights, fence)


def load_weights(path: Path, known: Sequence[str]) -> Weights | None:
    """Saved weights if the file exists and is valid for ``known`` revisions, else None."""
    return load_state(path, known).weights


def save_weights(path: Path, weights: Mapping[str, int], fence: int | None = None) -> None:
    """Write the weights and fencing mark atomically: a crash mid-write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    payload = {"weights": dict(weights), "fence": fence,
               "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp.write_text(json.dumps(payload) + "\n")
    os.replace(tmp, path)


def initial_weights(known: Sequence[str], requested: Mapping[str, int] | None) -> Weights:
    """``requested`` validated, else 100 to the first revision (blue) and 0 to the others."""
    if requested:
        return validate_weights(requested, known)
    return {name: (100 if i == 0 else 0) for i, name in enumerate(known)}


__all__ = ["WEIGHTS_FILE", "SavedState", "load_state", "load_weights", "save_weights", "initial_weights"]
