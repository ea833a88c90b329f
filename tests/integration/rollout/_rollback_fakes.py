"""Fake revision, router and webhook servers on 127.0.0.1 for the rollback's integration tests.

Plain ``http.server`` in threads: they speak just enough of ``docs/api.md`` and the router's
admin API, and record every call so tests can check what a procedure did.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ethos.rollout.router.windows import STATUS_CLASSES, RouterStats, WindowStats


class Hold:
    """Holds the requests a fake answers while ``when()`` is true open until :meth:`release`.

    The client sees an answer that has begun (200, then a byte of JSON whitespace every
    ``trickle_s``, so no read timeout fires) and ends only when the test releases it: the step
    that asked is in flight for as long as the test wants, however slow the machine is.
    ``holding`` is set once a request is held.
    """

    def __init__(self, when: Callable[[], bool], trickle_s: float = 0.2) -> None:
        self.when = when
        self.trickle_s = trickle_s
        self.holding = threading.Event()
        self.released = threading.Event()

    def active(self) -> bool:
        return not self.released.is_set() and self.when()

    def release(self) -> None:
        self.released.set()

    def serve(self, handler: BaseHTTPRequestHandler, payload: Callable[[], Any]) -> None:
        # HTTP/1.0 without content-length: the body ends when the connection closes
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.end_headers()
        self.holding.set()
        try:
            while not self.released.wait(self.trickle_s):
                handler.wfile.write(b" ")
            handler.wfile.write(json.dumps(payload()).encode())
        except OSError:  # the client is gone (killed, interrupted)
            pass


class _Server:
    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = urlsplit(self.path)
                with owner.lock:
                    owner.calls.append((self.command, parts.path))
                args = (self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                status, payload = owner.handle(*args)
                if isinstance(payload, Hold):
                    payload.serve(self, lambda: owner.handle(*args)[1])
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.holds: list[Hold] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def start(self) -> _Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        for hold in self.holds:
            hold.release()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class FakeRevision(_Server):
    """One revision: /health, cache admin (invalidate, top), marketing chat."""

    def __init__(self, name: str, key: str = "k", fmt: int = 1) -> None:
        super().__init__()
        self.name, self.key, self.fmt = name, key, fmt
        self.entries = 10
        self.status = "ok"
        self.fail_invalidate = False
        self.top: list[str] | None = ["What are your pricing plans?", "Do you offer a free trial?"]

    def handle(self, method, path, query, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        if path == "/health":
            return 200, {"status": self.status, "revision": self.name, "cache_format_version": self.fmt}
        if path.startswith("/api/admin/"):
            if "x-admin-api-key" not in lower:
                return 401, {"error": "missing_admin_key", "detail": "send X-Admin-API-Key"}
            if lower["x-admin-api-key"] != self.key:
                return 403, {"error": "forbidden", "detail": "wrong key"}
            if path == "/api/admin/cache/invalidate" and method == "POST":
                if self.fail_invalidate:
                    return 500, {"error": "store_unavailable", "detail": "store down"}
                n, self.entries = self.entries, 0
                return 200, {"removed": n, "key_pattern": query.get("key_pattern", [""])[0]}
            if path == "/api/admin/cache/top" and self.top is not None:
                return 200, {"questions": self.top[: int(query.get("n", ["20"])[0])]}
        if path == "/api/ai/marketing-chat" and method == "POST":
            return 200, {"reply": f"answer from {self.name}", "cache": "miss", "revision": self.name}
        return 404, {"error": "not_found", "detail": path}


class FakeRouter(_Server):
    """The router's admin API (/router/traffic, /router/stats) and a chat answered by the top weight.

    ``stats``: per revision, the figures of its one 60 s window that a test sets; the rest of the
    window (and of the answer) is filled in, so ``/router/stats`` has the router's exact shape.
    """

    def __init__(self, names: list[str], key: str = "k") -> None:
        super().__init__()
        self.key = key
        self.weights = {n: 0 for n in names}
        self.weights[names[-1]] = 100
        self.stats: dict[str, dict[str, Any]] = {n: {"count": 100, "error_rate": 0.0,
                                                    "p50_latency_ms": 20.0, "p95_latency_ms": 40.0}
                                                for n in names}

    def hold_stats(self, green_percent: int) -> Hold:
        """Hold ``/router/stats`` while green has ``green_percent`` (a monitoring window) until released."""
        green = list(self.weights)[-1]
        hold = Hold(lambda: self.weights.get(green) == green_percent)
        self.holds.append(hold)
        return hold

    def handle(self, method, path, query, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        if path == "/router/traffic" and method == "GET":
            return 200, {"weights": self.weights}
        if path == "/router/traffic" and method == "PUT":
            if lower.get("x-admin-api-key") != self.key:
                return 403, {"error": "forbidden", "detail": "wrong key"}
            w = json.loads(body)
            unknown = [k for k in w if k not in self.weights]
            if unknown:
                return 400, {"error": "unknown_revision", "detail": f"unknown revision {unknown[0]}"}
            if sum(w.values()) != 100:
                return 400, {"error": "invalid_weights", "detail": "must sum to 100"}
            self.weights = {k: int(w.get(k, 0)) for k in self.weights}
            return 200, {"weights": self.weights}
        if path == "/router/stats":
            hold = next((h for h in self.holds if h.active()), None)
            if hold is not None:
                return 200, hold
            return 200, RouterStats(weights=dict(self.weights), sticky=False, windows_s=(60,),
                                    revisions={n: {"60s": _window(s)} for n, s in self.stats.items()}).to_json()
        if path == "/api/ai/marketing-chat":
            top = max(self.weights, key=lambda k: self.weights[k])
            return 200, {"reply": f"answer from {top}", "cache": "miss", "revision": top}
        return 404, {"error": "not_found"}


def _window(figures: dict[str, Any]) -> WindowStats:
    """The 60 s window ``figures`` describe, complete as the router sends it (errors from the rate if not given)."""
    f = dict(figures)
    f.setdefault("errors", round(f.get("error_rate", 0.0) * f.get("count", 0)))
    status = {**dict.fromkeys(STATUS_CLASSES, 0), **f.pop("status", {})}
    return WindowStats(60, status=status, **f)


class WebhookReceiver(_Server):
    """Records JSON posts; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.received: list[tuple[str, Any]] = []

    def handle(self, method, path, query, headers, body):
        if self.fail_first > 0:
            self.fail_first -= 1
            return 500, {"error": "try later"}
        self.received.append((path, json.loads(body)))
        return 200, {"ok": True}
