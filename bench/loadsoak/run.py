"""The load run: an open-loop generator through the router of a real stack, weight changes
and an emergency rollback on a schedule, RSS of every stack process sampled from /proc.

Open loop: request ``i`` is due at ``t0 + i / rate`` whatever happened to the others, so a
slow server shows as latency and never slows the offered load. ``lag`` is how late the
generator itself sent a request (its own CPU starvation); latency runs from the actual send
to the last byte (for a stream: its final event).

A request failed when: no response or a transport error, a status other than 200, a JSON
answer without a reply, a stream without its final ``done`` event (or with an ``error``
event), a PII-bearing message answered by an exact cache hit (it was stored), or a reply
holding a personal value another request sent (a leak).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ethos.rollout.sources.process import read_process
from ethos.rollout.traffic import LocalRouterTraffic

from .mix import Request
from .stack import ETHOS, LocalStack, stack_env
from .stats import Outcome, by_phase, percentile, rss_trend, summarise

CHAT = "/api/ai/marketing-chat"
CACHE_HITS = ("HIT", "SEMANTIC-HIT")


@dataclass(frozen=True)
class Event:
    """At ``at_s`` seconds: set ``weights`` (phase ``label``), or run an emergency rollback."""

    at_s: float
    action: str  # "weights" | "rollback"
    weights: dict[str, int] | None = None
    label: str = ""


def default_events(duration_s: float, short: bool = False) -> list[Event]:
    """The schedule. Full: 90/10, 50/50, 0/100 in the first quarter, rollback past half way
    (green serves everything for a while, blue serves everything after the rollback).
    Short (CI): one change to 50/50, then the rollback."""
    d = duration_s
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


def parse_sse(text: str) -> list[tuple[str, str]]:
    """``(event, data)`` pairs of a server-sent event stream (event ``message`` when unnamed)."""
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        ev, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((ev, "\n".join(data)))
    return out


def judge_stream(events: Sequence[tuple[str, str]]) -> str | None:
    """Why a stream failed, or None: it must end with a ``done`` event, carry no ``error``."""
    if any(e == "error" for e, _ in events):
        return "stream_error_event"
    if not events or events[-1][0] != "done":
        return "stream_incomplete"
    try:
        json.loads(events[-1][1])
    except ValueError:
        return "stream_bad_done"
    if not any(e == "message" for e, _ in events):
        return "stream_empty"
    return None


class PiiValues:
    """The personal values the run sends (emails, phone and card digits), to find them elsewhere."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.emails: set[str] = set()
        self.digits: set[str] = set()
        for m in messages:
            e, d = self.of(m)
            self.emails |= e
            self.digits |= d

    @staticmethod
    def of(text: str) -> tuple[set[str], set[str]]:
        emails = {x.lower() for x in re.findall(r"[\w.]+@example\.com", text)}
        digits = {re.sub(r"\D", "", x) for x in re.findall(r"\d[\d ]{8,}\d", text)}
        return emails, digits

    def foreign(self, reply: str, own_message: str) -> bool:
        """True when ``reply`` holds a value the run sent that its own message did not carry."""
        e, d = self.of(reply)
        own_e, own_d = self.of(own_message)
        return bool(((e & self.emails) - own_e) or ((d & self.digits) - own_d))


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
                reply = "".join(_delta(d) for e, d in events if e == "message")
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


def _delta(data: str) -> str:
    try:
        return str(json.loads(data).get("delta", ""))
    except (ValueError, AttributeError):
        return ""


PII_HITS: list[str] = []


def mask_pii(message: str) -> str:
    """The message with the synthetic emails, digit runs and names replaced (for reports)."""
    from .mix import _FIRST, _LAST

    m = re.sub(r"[\w.]+@example\.com", "<EMAIL>", message)
    m = re.sub(r"\d[\d ]{6,}\d", "<NUMBER>", m)
    return re.sub(r"\b(%s)\b" % "|".join(_FIRST + _LAST), "<NAME>", m)


def log_pii_hit(message: str, cache: str, similarity: str | None) -> None:
    """Remember (masked) which PII-bearing message the cache answered, for the report."""
    PII_HITS.append(f"{cache} (similarity {similarity}): {mask_pii(message)}")


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


def pii_in_store(cache_url: str | None, messages: Sequence[str]) -> dict[str, int] | None:
    """Stored entries, and how many hold an email or a digit run (phone, card) of the PII sent."""
    if not cache_url or not cache_url.startswith("sqlite:///"):
        return None
    values = PiiValues(messages)
    needles = values.emails | values.digits
    try:
        db = sqlite3.connect(f"file:{cache_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT question || ' ' || data FROM entries").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    found = 0
    for (text,) in rows:
        low, digits = text.lower(), re.sub(r"\D", "", text)
        if any(n in low or (n.isdigit() and n in digits) for n in needles):
            found += 1
    return {"entries": len(rows), "with_pii": found}


@dataclass
class RunResult:
    """Everything measured; :meth:`report` turns it into the figures."""

    rate: float
    duration_s: float
    outcomes: list[Outcome] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
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
            "loadavg_start_end": self.loadavg,
            "stack_up_s": self.stack_up_s,
        }


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
            status, reason, cache, rev = await one_request(client, url, rq, pii_values)
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


__all__ = ["Event", "default_events", "drive", "RunResult", "Timeline", "parse_sse", "judge_stream",
           "one_request", "pii_in_store", "PiiValues", "mask_pii"]


def run_load(*, rate: float, seconds: float, seed: int, short: bool = False, semantic: bool = True,
             data_dir: Path | None = None, rss_interval_s: float = 5.0, warmup_s: float | None = None,
             stream_share: float | None = None, keep_state: bool = False, log=print) -> dict[str, Any]:
    """Start a stack in a temporary state dir, drive it, stop it (always); the report."""
    import shutil
    import tempfile

    from .mix import DEFAULT_STREAM_SHARE, build_mix, default_topics

    topics = default_topics(data_dir, seed)
    requests = build_mix(int(rate * seconds), seed, topics,
                         stream_share=DEFAULT_STREAM_SHARE if stream_share is None else stream_share)
    events = default_events(seconds, short=short)
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
            res = asyncio.run(drive(stack, requests, rate, events, rss_interval_s=rss_interval_s, log=log))
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
