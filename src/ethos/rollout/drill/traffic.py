"""Steady chat traffic through the router while a drill runs, counted per revision and status."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

QUESTIONS = (
    "What are your pricing plans?", "How much is the Team plan?", "Where is my data stored?",
    "Do you integrate with Slack?", "How do I contact support?", "Is there a free trial?",
    "What does the Enterprise plan include?", "Can I export my data?", "Who founded the company?",
    "Do you offer an API?", "How secure is the platform?", "What integrations do you support?",
)


class Traffic:
    """``workers`` threads posting questions to ``url`` until :meth:`stop`; never raises."""

    def __init__(self, url: str, workers: int = 6, pause_s: float = 0.0) -> None:
        self.url = url.rstrip("/") + "/api/ai/marketing-chat"
        self.workers = workers
        self.pause_s = pause_s
        self.counts: Counter[tuple[str, int]] = Counter()  # (revision, status)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.phase = "before"
        self.by_phase: Counter[tuple[str, str, int]] = Counter()

    def _run(self, i: int) -> None:
        n = i
        with httpx.Client(timeout=10.0) as c:
            while not self._stop.is_set():
                q = QUESTIONS[n % len(QUESTIONS)]
                n += self.workers
                try:
                    r = c.post(self.url, json={"message": q})
                    key = (r.headers.get("x-revision") or "?", r.status_code)
                except httpx.HTTPError:
                    key = ("?", 0)
                with self._lock:
                    self.counts[key] += 1
                    self.by_phase[(self.phase, *key)] += 1
                if self.pause_s:
                    self._stop.wait(self.pause_s)

    def start(self) -> Traffic:
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i,), name=f"drill-traffic-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def total(self, revision: str | None = None) -> int:
        with self._lock:
            return sum(v for (rev, _), v in self.counts.items() if revision is None or rev == revision)

    def errors(self, phase: str | None = None) -> int:
        """5xx or no answer (status 0); the injected faults answer 500 without a revision header."""
        with self._lock:
            return sum(v for (ph, _, st), v in self.by_phase.items()
                       if (phase is None or ph == phase) and (st >= 500 or st == 0))

    def wait_for(self, n: int, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.total() >= n:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def summary(self) -> dict[str, dict[str, int]]:
        """phase -> {"requests", "errors"}."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (ph, _, st), v in self.by_phase.items():
                d = out.setdefault(ph, {"requests": 0, "errors": 0})
                d["requests"] += v
                if st >= 500 or st == 0:
                    d["errors"] += v
        return out


__all__ = ["Traffic", "QUESTIONS"]
