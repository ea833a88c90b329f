"""The load run: an open-loop generator through the router of a real stack, weight changes
and an emergency rollback on a schedule, RSS of every stack process sampled from /proc.

Open loop: request ``i`` is due at ``t0 + i / rate`` whatever happened to the others, so a
slow server shows as latency and never slows the offered load. ``lag`` is how late the
generator itself sent a request (its own CPU starvation); latency runs from the actual send
to the last byte (for a stream: its final event). A request not answered in full within
``timeout_s`` (30 s) in all is a failure (``timeout``).

A request failed when: no response or a transport error, a status other than 200, a JSON
answer without a reply, a stream without its final ``done`` event (or with an ``error``
event), a PII-bearing message answered by an exact cache hit (it was stored), or a reply
holding a personal value another request sent (a leak).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ethos.rollout.sources.process import read_process
from ethos.rollout.traffic import LocalRouterTraffic

from .checks import CACHE_HITS, PII_HITS, PiiValues, delta_text, judge_stream, log_pii_hit, parse_sse, pii_in_store, store_entries
from .mix import Request
from .stack import ETHOS, LocalStack, stack_env
from .stats import MIB, Outcome, by_phase, percentile, rss_trend, summarise, tail_slope

CHAT = "/api/ai/marketing-chat"


@dataclass(frozen=True)
class Event:
    """At ``at_s`` seconds: set ``weights`` (phase ``label``), or run an emergency rollback."""

    at_s: float
    action: str  # "weights" | "rollback"
    weights: dict[str, int] | None = None
    label: str = ""


def default_events(duration_s: float, short: bool = False, within: float = 1.0) -> list[Event]:
    """The schedule. Full: 90/10, 50/50, 0/100 in the first quarter, rollback past half way
    (green serves everything for a while, blue serves everything after the rollback).
    Short (CI): one change to 50/50, then the rollback. ``within`` (0 to 1] fits the same
    schedule into that share of the run, leaving the rest steady (a memory soak's tail)."""
    if not 0 < within <= 1:
        raise ValueError(f"--events-within must be in (0, 1], not {within}")
    d = duration_s * within
    if short:
        return [Event(0.3 * d, "weights", {"blue": 50, "green": 50}, "w50/50"),
                Event(0.6 * d, "rollback", label="rollback")]
    return [Event(0.10 * d, "weights", {"blue": 90, "green": 10}, "w90/10"),
            Event(0.17 * d, "weights", {"blue": 50, "green": 50}, "w50/50"),
            Event(0.25 * d, "weights", {"blue": 0, "green": 100}, "w0/100"),
            Event(0.55 * d, "rollback", label="rollback")]


class Timeline:
    """The current phase and when each began (seconds from t0)."""

    def __init__(self) -> None:
        self.phase = "before"
        self.starts: list[tuple[str, float]] = [("before", 0.0)]

    def enter(self, phase: str, at_s: float) -> None:
        self.phase = phase
        self.starts.append((phase, at_s))

    def spans(self, end_s: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for (p, a), (_, b) in zip(self.starts, [*self.starts[1:], ("end", end_s)]):
            out[p] = out.get(p, 0.0) + max(0.0, b - a)
        return out


async def one_request(client: httpx.AsyncClient, url: str, rq: Request,
                      pii: PiiValues | None = None) -> tuple[int | None, str | None, str | None, str | None]:
    """Send one request, read it whole. Returns (status, failure reason, X-Cache, X-Revision).

    PII: a PII-bearing message answered by an exact ``HIT`` fails (it must have been stored);
    so does any reply that holds a personal value sent by another request (a leak). A
    ``SEMANTIC-HIT`` on a PII-bearing message (the answer of a clean neighbour) is remembered
    for the report, not failed.
    """
    body: dict[str, Any] = {"message": rq.message}
    reply = ""
    try:
        if rq.stream:
            body["stream"] = True
            async with client.stream("POST", url, json=body, headers={"Accept": "text/event-stream"}) as r:
                text = (await r.aread()).decode("utf-8", "replace")
                reason = None if r.status_code == 200 else f"http_{r.status_code}"
                events = parse_sse(text)
                reason = reason or judge_stream(events)
                reply = "".join(delta_text(d) for e, d in events if e == "message")
        else:
            r = await client.post(url, json=body)
            reason = None if r.status_code == 200 else f"http_{r.status_code}"
            if reason is None:
                try:
                    reply = str(r.json().get("reply") or "")
                    reason = None if reply else "empty_reply"
                except ValueError:
                    reason = "bad_json"
    except httpx.TimeoutException:
        return None, "timeout", None, None
    except httpx.ConnectError:
        return None, "connect_error", None, None
    except httpx.HTTPError as e:
        return None, f"transport_{type(e).__name__}", None, None
    cache, rev = r.headers.get("x-cache"), r.headers.get("x-revision")
    if reason is None and pii is not None and pii.foreign(reply, rq.message):
        reason = "pii_leak_in_reply"
    if reason is None and rq.pii and cache == "HIT":
        reason = "pii_exact_cache_hit"
    if rq.pii and cache in CACHE_HITS:
        log_pii_hit(rq.message, cache, r.headers.get("x-cache-similarity"))
    return r.status_code, reason, cache, rev


def _children(pids: dict[str, int]) -> dict[str, int]:
    """Descendants of the stack's processes (none today; counted if a part ever forks)."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, names = {}, {pid: name for name, pid in pids.items()}
    changed = True
    while changed:
        changed = False
        for pid, pp in parent.items():
            if pp in names and pid not in names:
                names[pid] = f"{names[pp]}/child-{pid}"
                out[names[pid]] = pid
                changed = True
    return out


@dataclass
class RunResult:
    """Everything measured; :meth:`report` turns it into the figures."""

    rate: float
    duration_s: float
    outcomes: list[Outcome] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    entries: list[tuple[float, int]] = field(default_factory=list)  # rows in the shared cache
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # CPU seconds used so far
    load: list[tuple[float, float]] = field(default_factory=list)  # 1-minute load average
    fds: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # open file descriptors
    timeline: Timeline = field(default_factory=Timeline)
    send_span_s: float = 0.0
    final_weights: dict[str, int] | None = None
    pii_entries_stored: list[dict[str, int] | None] = field(default_factory=list)
    not_blue_after_rollback: int = 0
    loadavg: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    stack_up_s: float | None = None

    def report(self, warmup_s: float) -> dict[str, Any]:
        o = self.outcomes
        lags = [x.lag_s for x in o]
        pii = [x for x in o if x.pii]
        return {
            "target_rate": self.rate,
            "achieved_rate": round(len(o) / self.send_span_s, 2) if self.send_span_s else None,
            "lag_ms": {"p50": _ms(percentile(lags, 50)), "p99": _ms(percentile(lags, 99)),
                       "max": _ms(max(lags) if lags else None)},
            "overall": summarise(o, self.duration_s),
            "phases": by_phase(o, self.timeline.spans(self.send_span_s)),
            "by_kind": {k: summarise([x for x in o if x.kind == k], self.duration_s)
                        for k in dict.fromkeys(x.kind for x in o)},
            "streams": summarise([x for x in o if x.stream], self.duration_s),
            "cache": dict(_count((x.kind, x.cache) for x in o)),
            "pii": {"sent": len(pii), "exact_hits": sum(x.cache == "HIT" for x in pii),
                    "semantic_hits": sum(x.cache == "SEMANTIC-HIT" for x in pii),
                    "leaks_in_replies": sum(x.reason == "pii_leak_in_reply" for x in o),
                    "served_from_cache_examples": PII_HITS[:20],
                    "entries_in_store": self.pii_entries_stored},
            "events": self.events,
            "final_weights": self.final_weights,
            "not_blue_after_rollback": self.not_blue_after_rollback,
            "rss": {name: rss_trend(s, warmup_s=warmup_s) for name, s in self.rss.items()},
            "rss_last_30min": {name: tail_slope(s, warmup_s=warmup_s) for name, s in self.rss.items()},
            "rss_samples_mib": {name: [(round(t, 1), round(b / MIB, 2)) for t, b in s] for name, s in self.rss.items()},
            "cache_entries": {"max": max((n for _, n in self.entries), default=None),
                              "end": self.entries[-1][1] if self.entries else None,
                              "series": self.entries[:: max(1, len(self.entries) // 40)]},
            "open_fds": {name: {"first": s[0][1], "max": max(n for _, n in s), "last": s[-1][1]}
                         for name, s in self.fds.items() if s},
            "cpu_cores": {name: _cpu_cores(s, self.timeline.starts, self.send_span_s) for name, s in self.cpu.items()},
            "loadavg_1m": {"min": min((v for _, v in self.load), default=None),
                           "median": percentile([v for _, v in self.load], 50),
                           "max": max((v for _, v in self.load), default=None),
                           "series": [(round(t), v) for t, v in self.load[:: max(1, len(self.load) // 40)]]},
            "rss_series": {name: [(round(t), round(b / MIB, 1)) for t, b in s[:: max(1, len(s) // 40)]]
                           for name, s in self.rss.items()},
            "loadavg_start_end": self.loadavg,
            "stack_up_s": self.stack_up_s,
        }


def _cpu_cores(samples: Sequence[tuple[float, float]], starts: Sequence[tuple[str, float]],
               end_s: float) -> dict[str, float | None]:
    """CPU used per wall second (cores), per phase and overall, from cumulative CPU samples."""
    def used(a: float, b: float) -> float | None:
        pts = [(t, c) for t, c in samples if a <= t <= b]
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return None
        return round((pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]), 3)

    out = {"all": used(0.0, end_s)}
    for (p, a), (_, b) in zip(starts, [*starts[1:], ("end", end_s)]):
        out[p] = used(a, b)
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, c in items:
        key = f"{k}:{c}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


async def drive(stack: LocalStack, requests: Sequence[Request], rate: float, events: Sequence[Event], *,
                rss_interval_s: float = 5.0, timeout_s: float = 30.0, log=print) -> RunResult:
    """Send ``requests`` at ``rate`` through the stack's router while ``events`` happen."""
    st = stack.state
    assert st is not None
    url = st.router + CHAT
    res = RunResult(rate=rate, duration_s=len(requests) / rate, stack_up_s=stack.up_s)
    res.loadavg = (os.getloadavg(), ())
    loop = asyncio.get_running_loop()
    tl = res.timeline
    t0 = loop.time() + 0.5
    done = asyncio.Event()
    pids = {**st.pids}
    pids.update(_children(pids))
    pids["loadgen"] = os.getpid()
    rollback_end: list[float] = []
    pii_values = PiiValues([r.message for r in requests if r.pii])
    PII_HITS.clear()

    async def sample_rss() -> None:
        while not done.is_set():
            now = loop.time() - t0
            for name, pid in list(pids.items()):
                got = read_process(pid)
                if got:
                    res.rss.setdefault(name, []).append((now, got[1]))
                    res.cpu.setdefault(name, []).append((now, got[0]))
                    try:
                        res.fds.setdefault(name, []).append((now, len(os.listdir(f"/proc/{pid}/fd"))))
                    except OSError:
                        pass
            res.load.append((now, os.getloadavg()[0]))
            n = await asyncio.to_thread(store_entries, st.cache_url)
            if n is not None:
                res.entries.append((now, n))
            try:
                await asyncio.wait_for(done.wait(), rss_interval_s)
            except TimeoutError:
                pass

    async def run_events() -> None:
        tm = LocalRouterTraffic(st.router, stack.admin_key())
        try:
            for ev in events:
                await asyncio.sleep(max(0.0, t0 + ev.at_s - loop.time()))
                a = loop.time()
                if ev.action == "weights":
                    got = await asyncio.to_thread(tm.set_weights, ev.weights or {})
                    tl.enter(ev.label, loop.time() - t0)
                    res.events.append({"at_s": round(a - t0, 2), "action": "weights", "weights": got,
                                       "took_s": round(loop.time() - a, 3)})
                    log(f"  {a - t0:7.1f}s weights -> {got}")
                else:
                    sent_pii = [o_rq.message for o_rq in requests[: int((a - t0) * rate)] if o_rq.pii]
                    res.pii_entries_stored.append(await asyncio.to_thread(pii_in_store, st.cache_url, sent_pii))
                    tl.enter("rollback", a - t0)
                    log(f"  {a - t0:7.1f}s ethos rollback emergency --yes ...")
                    proc = await asyncio.create_subprocess_exec(
                        ETHOS, "rollback", "emergency", "--yes", "--json", "--reason", "load test: emergency rollback under load",
                        "--cause", "drill", "--state-dir", str(stack.state_dir), env=stack_env(),
                        cwd=str(stack.state_dir.parent), stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                    out, err = await proc.communicate()
                    b = loop.time()
                    rollback_end.append(b - t0)
                    tl.enter("after", b - t0)
                    try:
                        doc = json.loads(out.decode() or "{}")
                    except ValueError:
                        doc = {}
                    res.events.append({"at_s": round(a - t0, 2), "action": "rollback emergency",
                                       "exit_code": proc.returncode, "status": doc.get("status"),
                                       "rollback_id": doc.get("rollback_id"), "took_s": round(b - a, 3),
                                       "stderr_tail": err.decode()[-500:] if proc.returncode else ""})
                    log(f"  {b - t0:7.1f}s rollback exit {proc.returncode} status {doc.get('status')} in {b - a:.2f}s")
            res.final_weights = await asyncio.to_thread(tm.get_weights)
        finally:
            tm.close()

    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        inflight: set[asyncio.Task] = set()

        async def one(i: int, rq: Request, sched: float, lag: float, phase: str) -> None:
            a = loop.time()
            try:
                # a user gives up after timeout_s in all (httpx's timeouts are per read/connect)
                async with asyncio.timeout(timeout_s):
                    status, reason, cache, rev = await one_request(client, url, rq, pii_values)
            except TimeoutError:
                status, reason, cache, rev = None, "timeout", None, None
            b = loop.time()
            res.outcomes.append(Outcome(i, rq.kind, rq.stream, rq.pii, phase, sched, lag,
                                        b - a if reason is None else None, status, reason is None, reason, cache, rev))
            if rollback_end and sched > rollback_end[0] and rev is not None and rev != "blue":
                res.not_blue_after_rollback += 1

        sampler = asyncio.create_task(sample_rss())
        ev_task = asyncio.create_task(run_events())
        last = 0.0
        for i, rq in enumerate(requests):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            last = loop.time()
            t = asyncio.create_task(one(i, rq, due - t0, last - due, tl.phase))
            inflight.add(t)
            t.add_done_callback(inflight.discard)
            if i and i % max(1, int(rate * 60)) == 0:
                log(f"  {last - t0:7.1f}s sent {i}, in flight {len(inflight)}, failed so far "
                    f"{sum(not o.ok for o in res.outcomes)}")
        res.send_span_s = last - t0 + 1.0 / rate
        if inflight:
            await asyncio.wait(inflight)
        await ev_task
        res.pii_entries_stored.append(await asyncio.to_thread(
            pii_in_store, st.cache_url, [r.message for r in requests if r.pii]))
        done.set()
        await sampler
    res.outcomes.sort(key=lambda o: o.i)
    res.loadavg = (res.loadavg[0], os.getloadavg())
    return res



__all__ = ["Event", "default_events", "drive", "RunResult", "Timeline", "one_request", "CHAT"]
