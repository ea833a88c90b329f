"""CPU and memory of local revision processes, read from ``/proc`` (Linux).

The revisions' ``/metrics`` carry no process series (their registries are their own), so on
one machine the guard reads ``/proc/<pid>/stat`` (CPU seconds) and ``/proc/<pid>/status``
(resident memory) of the pids ``ethos stack up`` recorded. ``memory_utilisation`` = resident
memory / the limit (the cgroup's ``memory.max`` when set, else the machine's memory);
``cpu_utilisation`` = CPU seconds per second over the window / ``cpu_limit_cores`` (default
1: a Python server's event loop saturates one core).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import Needs, SignalSource
from .measurements import Key, Measurement

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def memory_limit_bytes(proc: Path = Path("/proc"), cgroup: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The cgroup v2 ``memory.max`` if numeric, else ``MemTotal`` of /proc/meminfo."""
    try:
        text = (cgroup / "memory.max").read_text().strip()
        if text.isdigit():
            return float(text)
    except OSError:
        pass
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def read_process(pid: int, proc: Path = Path("/proc")) -> tuple[float, float] | None:
    """(CPU seconds used, resident bytes) of ``pid``; None when it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime (fields 14, 15)
    rss = 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = float(line.split()[1]) * 1024
            break
    return cpu, rss


class ProcessSource(SignalSource):
    """``cpu_utilisation`` / ``memory_utilisation`` of local processes (``{revision: pid}``)."""

    name = "processes"

    def __init__(
        self,
        pids: Mapping[str, int],
        *,
        cpu_limit_cores: float = 1.0,
        memory_limit: float | None = None,
        proc: Path = Path("/proc"),
    ) -> None:
        self.pids = dict(pids)
        self.cpu_limit = cpu_limit_cores
        self.memory_limit = memory_limit if memory_limit is not None else memory_limit_bytes(proc)
        self.proc = proc
        self._cpu: dict[str, deque[tuple[float, float]]] = {k: deque(maxlen=400) for k in self.pids}

    def collect(self, needs: Needs, revisions: Sequence[str], now: float) -> dict[Key, Measurement]:
        out: dict[Key, Measurement] = {}
        for name, pid in self.pids.items():
            got = read_process(pid, self.proc)
            if got is None:
                continue  # gone: `up` says so; no figure is better than a made-up one
            cpu, rss = got
            hist = self._cpu[name]
            hist.append((now, cpu))
            for w in needs.get("memory_utilisation", ()):
                if self.memory_limit:
                    out[(name, "memory_utilisation", float(w))] = Measurement(
                        rss / self.memory_limit, 1, window_s=0.0, source="proc")
            for w in needs.get("cpu_utilisation", ()):
                base = next((p for p in reversed(hist) if p[0] <= now - w), hist[0])
                span = now - base[0]
                if span <= 0:  # one reading: a rate needs two
                    out[(name, "cpu_utilisation", float(w))] = Measurement(None, 0, source="proc")
                    continue
                out[(name, "cpu_utilisation", float(w))] = Measurement(
                    (cpu - base[1]) / span / self.cpu_limit, 1, window_s=span, source="proc")
        return out


__all__ = ["ProcessSource", "memory_limit_bytes", "read_process"]
