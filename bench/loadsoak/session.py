"""One load run from start to end: a stack in a temporary state dir, the mix, the drive,
the report; the stack is stopped whatever happens (used by bench/load_soak.py and the CI test).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from .run import default_events, drive
from .stack import LocalStack


def run_load(*, rate: float, seconds: float, seed: int, short: bool = False, semantic: bool = True,
             data_dir: Path | None = None, rss_interval_s: float = 5.0, warmup_s: float | None = None,
             stream_share: float | None = None, shares: dict[str, float] | None = None, keep_state: bool = False,
             timeout_s: float = 30.0, events_within: float = 1.0, log=print) -> dict[str, Any]:
    """Start a stack in a temporary state dir, drive it, stop it (always); the report."""
    import shutil
    import tempfile

    from .mix import DEFAULT_STREAM_SHARE, build_mix, default_topics

    topics = default_topics(data_dir, seed)
    requests = build_mix(int(rate * seconds), seed, topics, shares=shares,
                         stream_share=DEFAULT_STREAM_SHARE if stream_share is None else stream_share)
    events = default_events(seconds, short=short, within=events_within)
    warm = warmup_s if warmup_s is not None else min(120.0, 0.2 * seconds)
    root = Path(tempfile.mkdtemp(prefix="ethos-load-"))
    env_args: list[str] = []
    if not semantic:
        env_args = ["--blue-env", "ETHOS_SEMANTIC_ENABLED=false", "--green-env", "ETHOS_SEMANTIC_ENABLED=false"]
    try:
        with LocalStack(root / "state", *env_args) as stack:
            log(f"stack up in {stack.up_s:.1f}s: router {stack.state.router}, pids {stack.state.pids}")
            if semantic:
                _wait_semantic(stack, log)
            res = asyncio.run(drive(stack, requests, rate, events, rss_interval_s=rss_interval_s,
                                    timeout_s=timeout_s, log=log))
        rep = res.report(warm)
        rep["warmup_s"] = warm
        rep["state_dir"] = str(root / "state") if keep_state else None
        rep["topics"] = len(topics)
        return rep
    finally:
        if not keep_state:
            shutil.rmtree(root, ignore_errors=True)


def _wait_semantic(stack: LocalStack, log, timeout_s: float = 180.0) -> None:
    """Wait until both revisions report the semantic tier ready (its model loads after start)."""
    t0 = time.monotonic()
    assert stack.state is not None
    pending = dict(stack.state.revisions)
    while pending and time.monotonic() - t0 < timeout_s:
        for name, url in list(pending.items()):
            try:
                h = httpx.get(url + "/health", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                continue
            if _semantic_ready(h):
                del pending[name]
        if pending:
            time.sleep(1)
    log(f"semantic tier ready on {sorted(set(stack.state.revisions) - set(pending))} after "
        f"{time.monotonic() - t0:.1f}s" + (f"; NOT ready: {sorted(pending)}" if pending else ""))


def _semantic_ready(health: dict[str, Any]) -> bool:
    """``/health`` says ``"semantic": "ready"`` (or ``"off"``: nothing to wait for)."""
    return health.get("semantic") in ("ready", "off")


__all__ = ["run_load"]
