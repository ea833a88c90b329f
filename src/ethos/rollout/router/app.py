"""The router: a weighted, streaming reverse proxy in front of the revisions (an ASGI app).

Per request: read the body (small JSON chat requests), choose a revision with
:func:`~.choice.route` from a snapshot of the weights, forward over a pooled keep-alive
connection (:mod:`.upstream`),
pass the response through chunk by chunk as it arrives, record the outcome. A weight change
swaps the weights mapping; requests already routed keep their revision, so a change never
fails a request in flight. A refused connection (nothing was sent) is retried once on the
other revision.

Own routes under ``/router/``: ``health``, ``stats``, ``metrics``, ``traffic`` (GET, and PUT
with the admin key). Everything else is proxied.

Fencing: a PUT may carry ``X-Ethos-Fence: <epoch>``, the epoch of the procedure holding
control of traffic. The router keeps the highest fence it has accepted (persisted with the
weights) and refuses a lower one with ``409 {"error": "fenced"}``, weights untouched: a
procedure preempted while its process was hung cannot apply a stale change when it wakes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...pii import redact
from ...security import AuthCounters, LimitSettings
from ..errors import FencedError, RolloutError, UnknownRevisionError
from ..weights import MAX_FENCE, Weights, validate_weights
from . import openapi
from .asgi import MAX_BODY, Receive, Scope, Send, header, read_body, send_bytes, send_json
from .auth import AdminGate
from .choice import fallback_revision, route, session_id_of
from .ejection import Ejections
from .metrics import RouterMetrics
from .upstream import UpstreamConnectError, UpstreamError, UpstreamPool, UpstreamTimeout
from .weights_store import initial_weights, load_state, save_weights
from .windows import DEFAULT_WINDOWS, Outcome, RouterStats, SlidingWindows, status_class

log = logging.getLogger("ethos.router")

# Hop-by-hop headers (RFC 9110 7.6.1) are for one connection and never forwarded.
_HOP = frozenset(
    b"connection keep-alive proxy-authenticate proxy-authorization te trailer "
    b"transfer-encoding upgrade proxy-connection".split()
)
# Not forwarded either: the pool writes its own host and length; the body is already read.
_DROP_REQUEST = _HOP | {b"host", b"content-length", b"expect"}
# X-Ethos-Fence: ASCII digits only (no sign, no spaces, no "1_000"); the value is then bounded.
_FENCE = re.compile(r"[0-9]{1,19}")


def parse_fence(value: str | None) -> int | None:
    """The fence of an ``X-Ethos-Fence`` header (None: no header); ``ValueError`` if not 0..2**63-1."""
    if value is None:
        return None
    if not _FENCE.fullmatch(value) or int(value) > MAX_FENCE:
        raise ValueError("X-Ethos-Fence must be a non-negative integer")
    return int(value)


@dataclass
class RouterConfig:
    """Everything the router needs; built by ``ethos router`` from its flags."""

    revisions: dict[str, str]  # name -> base URL, in order (first is the default 100%)
    admin_key: str | None = None
    sticky: bool = False
    state_file: Path | None = None  # where weights persist; None: not persisted
    initial_weights: dict[str, int] | None = None  # used only when no saved weights exist
    windows: Sequence[int] = DEFAULT_WINDOWS  # seconds
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 300.0  # longest silence from a revision mid-response
    idle_timeout_s: float = 2.0  # reuse a kept-alive connection only if idle less than this
    eject_base_s: float = 1.0  # after a refused connection, pass the revision over this long (0: never)
    eject_max_s: float = 30.0  # ... doubling per refusal in a row, up to this
    auth_limits: LimitSettings | None = None  # wrong-key lockouts (None: the defaults)
    extra: dict[str, Any] = field(default_factory=dict)


class RouterApp:
    """The ASGI application. ``clock`` and ``rng`` are injectable for tests."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        metrics: RouterMetrics | None = None,
    ) -> None:
        if not config.revisions:
            raise RolloutError("the router needs at least one --revision NAME=URL")
        self.config = config
        self.known = list(config.revisions)
        self._upstreams = {n: u.rstrip("/") for n, u in config.revisions.items()}
        self._clock = clock
        self._rng = rng
        self.metrics = metrics or RouterMetrics()
        self.windows = SlidingWindows(config.windows, clock=clock)
        saved = load_state(config.state_file, self.known) if config.state_file else None
        if saved is not None and saved.weights is not None:
            self.weights: Weights = saved.weights
        else:
            self.weights = initial_weights(self.known, config.initial_weights)
        #: fencing high-water mark: the highest X-Ethos-Fence accepted (None: none yet)
        self.fence: int | None = saved.fence if saved else None
        self.metrics.set_weights(self.weights)
        self._weights_lock = asyncio.Lock()
        self._pools: dict[str, UpstreamPool] = {}
        self.ejections = Ejections(config.eject_base_s, config.eject_max_s)
        self.gate = AdminGate(config.auth_limits,
                              AuthCounters(self.metrics.admin_auth_failures, self.metrics.admin_auth_lockouts),
                              clock=clock)

    # --- lifecycle ---------------------------------------------------------------------

    async def startup(self) -> None:
        """Make one connection pool per revision."""
        c = self.config
        self._pools = {
            name: UpstreamPool(url, connect_timeout_s=c.connect_timeout_s, read_timeout_s=c.read_timeout_s,
                               idle_timeout_s=c.idle_timeout_s)
            for name, url in self._upstreams.items()
        }
        if self.config.state_file and not self.config.state_file.exists():
            save_weights(self.config.state_file, self.weights, self.fence)

    async def shutdown(self) -> None:
        """Close every upstream connection."""
        for pool in self._pools.values():
            pool.close()
        self._pools = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/router/") or path == "/router":
            await self._admin(scope, receive, send)
        else:
            await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- weights -----------------------------------------------------------------------

    async def set_weights(self, requested: Mapping[str, Any], *, fence: int | None = None) -> Weights:
        """Validate, check the fence, persist, then put in force. Raises TrafficError subclasses.

        ``fence`` lower than the high-water mark: :class:`FencedError`, nothing changed. Else
        the mark becomes max(mark, fence), persisted with the weights. ``None``: always
        accepted, mark unchanged.
        """
        checked = validate_weights(requested, self.known)
        async with self._weights_lock:
            # Under the lock: the check and the change are one step for concurrent PUTs.
            mark = self.fence
            if fence is not None:
                if mark is not None and fence < mark:
                    raise FencedError(fence, mark)
                mark = fence if mark is None else max(mark, fence)
            if self.config.state_file:
                # Persist first: a crash after this line restarts with the new weights and mark.
                await asyncio.to_thread(save_weights, self.config.state_file, checked, mark)
            self.fence = mark
            self.weights = checked  # one reference swap; routed requests keep their choice
            self.metrics.set_weights(checked)
        log.info("weights set: %s (fence %s)", checked, fence)
        return dict(checked)

    def traffic_view(self) -> dict[str, Any]:
        """The body of ``GET /router/traffic``."""
        return {"weights": dict(self.weights), "revisions": dict(self._upstreams), "sticky": self.config.sticky,
                "fence": self.fence}

    # --- admin routes ------------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        if path == "/router/health" and method in ("GET", "HEAD"):
            await send_json(send, 200, {"status": "ok", "revisions": dict(self._upstreams), "weights": self.weights,
                                        "ejected": self.ejections.view(self._clock())})
        elif path == "/router/stats" and method == "GET":
            stats = RouterStats(weights=self.weights, sticky=self.config.sticky, windows_s=self.windows.windows,
                                revisions=self.windows.stats(self.known), ejected=self.ejections.view(self._clock()))
            await send_json(send, 200, stats.to_json())
        elif path == "/router/metrics" and method == "GET":
            await send_bytes(send, 200, self.metrics.render(), b"text/plain; version=0.0.4; charset=utf-8")
        elif path == "/router/traffic" and method == "GET":
            await send_json(send, 200, self.traffic_view())
        elif path == "/router/traffic" and method in ("PUT", "POST"):
            await self._put_traffic(scope, receive, send)
        elif path == "/router/openapi.json" and method == "GET":
            await send_json(send, 200, openapi.document(self.known))
        elif path in ("/router/health", "/router/stats", "/router/metrics", "/router/traffic"):
            await send_json(send, 405, {"error": "method_not_allowed", "detail": f"{method} is not allowed on {path}"})
        else:
            # The path is not echoed: it may hold personal data.
            await send_json(send, 404, {"error": "not_found", "detail": "no such router route: /router/health,"
                                        " /router/stats, /router/metrics, /router/traffic"})

    async def _put_traffic(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        # The router is the first hop: a client's own X-Forwarded-For is never believed here.
        address = self.gate.address(client[0] if client else None, ())
        denied = self.gate.check(address, header(scope, b"x-admin-api-key"), self.config.admin_key)
        if denied is not None:
            await send_json(send, denied.status, denied.body(),
                            [(k.lower().encode(), v.encode()) for k, v in denied.headers().items()])
            return
        try:
            fence = parse_fence(header(scope, b"x-ethos-fence"))
        except ValueError:
            # The value is not echoed: whatever a client sends may hold personal data.
            await send_json(send, 400, {"error": "invalid_fence",
                                        "detail": f"X-Ethos-Fence must be an integer 0..{MAX_FENCE}"})
            return
        try:
            data = json.loads(await read_body(receive, limit=64 * 1024) or b"null")
        except (ValueError, RecursionError):  # not JSON, too large or too deep to be weights
            await send_json(send, 400, {"error": "invalid_json", "detail": 'body must be JSON, e.g. {"blue": 100, "green": 0}'})
            return
        if isinstance(data, dict) and isinstance(data.get("weights"), dict):
            data = data["weights"]  # accept the GET shape too
        try:
            await self.set_weights(data, fence=fence)
        except FencedError as e:
            log.warning("weight change refused: fence %s < %s", e.fence, e.current)
            await send_json(send, 409, {"error": "fenced", "detail": str(e), "fence": e.current})
            return
        except UnknownRevisionError:
            # The name is not echoed: whatever a client sends may hold personal data.
            await send_json(send, 400, {"error": "unknown_revision",
                                        "detail": f"unknown revision name; known revisions: {', '.join(self.known)}"})
            return
        except RolloutError as e:
            await send_json(send, 400, {"error": "invalid_weights", "detail": redact(str(e))})
            return
        await send_json(send, 200, self.traffic_view())

    # --- the proxy ---------------------------------------------------------------------

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = self._clock()
        try:
            body = await read_body(receive, limit=MAX_BODY)
        except ValueError:
            await send_json(send, 413, {"error": "body_too_large", "detail": f"request bodies are limited to {MAX_BODY} bytes"})
            return
        headers: list[tuple[bytes, bytes]] = []
        sid_header = ctype = None
        for k, v in scope["headers"]:
            if k in _DROP_REQUEST:
                continue
            if k == b"x-session-id":
                sid_header = v.decode("latin-1")
            elif k == b"content-type":
                ctype = v.decode("latin-1")
            headers.append((k, v))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode()))
        weights = self.weights  # snapshot: this request's choice is final
        sid = session_id_of(sid_header, body, ctype) if self.config.sticky else None
        revision = route(weights, self._rng() * 100.0, sid)
        if self.ejections.any:  # a revision refused moments ago: do not make this client wait on it
            chosen, revision = revision, self.ejections.divert(weights, revision, self._clock())
            if revision != chosen:
                self.metrics.diverted.labels(chosen, revision).inc()
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target = target + b"?" + scope["query_string"]
        retried = False
        while True:
            try:
                await self._forward(scope["method"], revision, target, headers, body, send, t0, retried)
                if self.ejections.any:
                    self.ejections.accepted(revision)  # it took the connection: back in
                return
            except UpstreamConnectError as e:
                # Refused before anything was sent upstream: safe to try the other revision once.
                self._record(Outcome(revision, None, self._clock() - t0, None, connect_failed=True, retried=retried))
                self.metrics.connect_failures.labels(revision).inc()
                self.ejections.refused(revision, self._clock())
                other = None if retried else fallback_revision(weights, revision)
                if other is None:
                    await send_json(send, 502, {"error": "upstream_unreachable",
                                            "detail": f"revision {revision!r} refused the connection: {e}"})
                    return
                self.metrics.retries.labels(revision, other).inc()
                log.warning("revision %s refused a connection; retrying on %s", revision, other)
                revision, retried = other, True

    async def _forward(
        self, method: str, revision: str, target: bytes, headers: list[tuple[bytes, bytes]],
        body: bytes, send: Send, t0: float, retried: bool,
    ) -> None:
        pool = self._pools[revision]
        try:
            resp = await pool.request(method, target, headers, body)
        except UpstreamConnectError:
            raise  # nothing was sent: the caller may try the other revision
        except UpstreamError as e:
            self._record(Outcome(revision, None, self._clock() - t0, None, retried=retried))
            timeout = isinstance(e, UpstreamTimeout)
            await send_json(send, 504 if timeout else 502,
                        {"error": "upstream_timeout" if timeout else "upstream_failed",
                         "detail": f"revision {revision!r}: {e}"})
            return
        ttft: float | None = None
        status: int | None = resp.status
        try:
            out = [(k, v) for k, v in resp.headers if k.lower() not in _HOP]
            out.append((b"x-routed-to", revision.encode()))
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            async for chunk in resp.chunks():
                if ttft is None:
                    ttft = self._clock() - t0
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if ttft is None:
                ttft = self._clock() - t0
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamError:
            # Started: the client sees a truncated body (no clean end), which is the truth.
            status = None
        finally:
            pool.release(resp)
        self._record(Outcome(revision, status, self._clock() - t0, ttft, retried=retried))

    def _record(self, o: Outcome) -> None:
        self.windows.record(o)
        self.metrics.record(o.revision, status_class(o.status), o.latency_s, o.ttft_s)


__all__ = ["RouterApp", "RouterConfig"]
