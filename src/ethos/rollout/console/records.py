"""The open incident and the last drill, read through their own packages when installed.

Incidents (``ethos.rollout.incidents``) and drills (``ethos.rollout.drill``) are built in
their own modules; the console only reads them. When a package (or the reading function the
console needs) is missing, the page shows *not available* with the reason instead of failing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _find(module: str, names: tuple[str, ...]) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for n in names:
        fn = getattr(mod, n, None)
        if callable(fn):
            return fn
    return None


def _safe(fn: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - another part's failure never breaks the page
        return {"available": False, "detail": f"cannot read the {what}: {type(e).__name__}: {e}"}


def open_incident(state_dir: Path) -> dict[str, Any]:
    """``{"available": True, "incident": {...} | None}`` or ``{"available": False, "detail"}``."""
    reader = _find("ethos.rollout.incidents", ("console_view", "open_incident_view"))
    if reader is None:
        return {"available": False,
                "detail": "incidents are not available in this installation (ethos.rollout.incidents)"}
    return _safe(lambda: {"available": True, "incident": reader(state_dir)}, "open incident")


def last_drill(state_dir: Path) -> dict[str, Any]:
    """``{"available": True, "drill": {...} | None}`` or ``{"available": False, "detail"}``."""
    reader = _find("ethos.rollout.drill", ("console_view", "drill_status"))
    if reader is None:
        return {"available": False, "detail": "drills are not available in this installation (ethos.rollout.drill)"}
    return _safe(lambda: {"available": True, "drill": reader(state_dir)}, "last drill")


def drill_command() -> list[str] | None:
    """The command line that starts a drill, when the drill package is installed."""
    try:
        importlib.import_module("ethos.cli.drill")
    except ImportError:
        return None
    return ["drill", "run", "--yes", "--json"]


__all__ = ["open_incident", "last_drill", "drill_command"]
