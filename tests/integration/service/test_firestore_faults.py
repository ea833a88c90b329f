"""The real service on a real Firestore emulator that is killed, hung, and started again,
under traffic.

A private emulator on a free port (never the session's). A thread keeps asking repeated and
new questions throughout. Asserted: no request fails and none is a 5xx; while the emulator is
down or hung, lookups are ``bypass`` and ``/health`` says ``degraded`` with the reason
(``DeadlineExceeded`` when hung); once it is back (empty: the emulator keeps nothing),
``/health`` is ``ok`` again by itself and repeated questions are hits again. The metrics
count store errors by kind and Firestore operations with ``store="firestore"``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.integration.service.service_helpers import ask
from tests.polling import eventually

pytestmark = [pytest.mark.firestore, pytest.mark.slow]

REPEATED = [
    "What are your pricing plans?",
    "Do you integrate with HubSpot?",
    "Do you offer refunds?",
    "Is there a free plan?",
]


@dataclass
class Traffic:
    """Requests from a thread: results by phase, and every failure."""

    url: str
    phase: str = "up"
    results: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    n: int = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                self.n += 1
                q = REPEATED[self.n % len(REPEATED)] if self.n % 3 else f"Do you support tool number {self.n}?"
                try:
                    r = ask(client, q)
                except httpx.HTTPError as e:
                    self.failures.append(f"{type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code}: {r.text[:200]}")
                    continue
                self.results[(self.phase, r.json()["cache"])] += 1
                time.sleep(0.01)




def health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()


def test_emulator_killed_hung_and_back_under_traffic(make_service, firestore_emulator_factory,
                                                     monkeypatch) -> None:
    emulator = firestore_emulator_factory().start()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    url, _ = make_service(cache_url="firestore://faults-test?collection=cache&timeout=0.5")
    assert health(url)["status"] == "ok"
    assert health(url)["store"]["backend"] == "firestore"

    traffic = Traffic(url)
    thread = threading.Thread(target=traffic.run, daemon=True)
    thread.start()
    try:
        assert eventually(lambda: traffic.results[("up", "hit")] >= 5, 60), traffic.results

        # --- killed ---------------------------------------------------------------------
        traffic.phase = "killed"
        emulator.kill()
        assert eventually(lambda: health(url)["status"] == "degraded", 30)
        h = health(url)
        assert h["store"]["reachable"] is False and "Firestore cache" in h["store"]["detail"]
        traffic.phase = "down"
        assert eventually(lambda: traffic.results[("down", "bypass")] >= 10, 60), traffic.results
        assert traffic.results[("down", "hit")] == 0  # the memory tier stops serving too

        # --- back, empty ----------------------------------------------------------------
        traffic.phase = "restarting"
        emulator.start()
        assert eventually(lambda: health(url)["status"] == "ok", 60), health(url)
        traffic.phase = "back"
        assert eventually(lambda: traffic.results[("back", "hit")] >= 5, 60), traffic.results

        # --- hung (SIGSTOP): calls time out ------------------------------------------------
        traffic.phase = "hung"
        emulator.pause()
        assert eventually(lambda: health(url)["status"] == "degraded", 30)
        assert "DeadlineExceeded" in health(url)["store"]["detail"]
        traffic.phase = "hung-steady"
        assert eventually(lambda: traffic.results[("hung-steady", "bypass")] >= 5, 60), traffic.results
        emulator.resume()
        traffic.phase = "resumed"
        assert eventually(lambda: health(url)["status"] == "ok", 60), health(url)
        assert eventually(lambda: traffic.results[("resumed", "hit")] >= 5, 60), traffic.results
    finally:
        traffic.stop.set()
        thread.join(30)
        emulator.resume()

    print(f"\nsent {traffic.n} requests, {len(traffic.failures)} failed; by phase and result: {dict(traffic.results)}")
    assert traffic.failures == []
    text = httpx.get(f"{url}/metrics", timeout=10).text
    errors = {m[0]: float(m[1]) for m in re.findall(
        r'ethos_store_errors_total\{kind="(\w+)",revision="blue"\} (\S+)', text)}
    assert errors.get("unavailable", 0) >= 1 and errors.get("deadline", 0) >= 1, errors
    for op in ("read", "write"):
        m = re.search(rf'ethos_store_operations_total\{{op="{op}",revision="blue",store="firestore"\}} (\S+)', text)
        assert m and float(m.group(1)) > 0, op
    cost = re.search(r'ethos_store_estimated_cost_usd_total\{revision="blue",store="firestore"\} (\S+)', text)
    assert cost and float(cost.group(1)) > 0
