"""A Cloud Logging ``entries:list`` fake on 127.0.0.1 (REST, for tests; never production).

``POST /v2/entries:list`` with ``resourceNames``, ``filter``, ``orderBy``, ``pageSize`` and
``pageToken`` answers ``{"entries": [...], "nextPageToken": "..."}`` in the LogEntry JSON of
Cloud Logging. The filter grammar it accepts is the part ethos uses: clauses joined by ``AND``,
each ``FIELD = "v"``, ``FIELD >= "v"`` / ``<=`` (timestamps, RFC 3339), or a parenthesised
``(FIELD = "a" OR FIELD = "b")``, on ``resource.type``, ``resource.labels.X``, ``logName``,
``severity`` and ``timestamp``; anything else is 400 ``INVALID_ARGUMENT``. Pages hold at most
``pageSize`` (and at most ``max_page_size``) entries.

``deny = True`` answers 403 (a caller without ``roles/logging.viewer``); ``fail_next(429)``
injects an error answer; every request body is kept in :attr:`requests`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CMP = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*(=|>=|<=|>|<)\s*"((?:[^"\\]|\\.)*)"\s*$')


def _split(text: str, word: str) -> list[str]:
    """Split on `` WORD `` outside parentheses and quotes."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quoted, i = 0, False, 0
    token = f" {word} "
    while i < len(text):
        ch = text[i]
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if not quoted and depth == 0 and text.startswith(token, i):
            parts.append("".join(cur))
            cur = []
            i += len(token)
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _ts(text: str) -> float:
    s = text.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        s = f"{head}.{digits[:6]}{rest[len(digits):]}"
    return datetime.fromisoformat(s).timestamp()


def _value(entry: Mapping[str, Any], key: str) -> Any:
    if key.startswith("resource.labels."):
        return ((entry.get("resource") or {}).get("labels") or {}).get(key[len("resource.labels."):])
    if key == "resource.type":
        return (entry.get("resource") or {}).get("type")
    if key in ("logName", "severity", "timestamp"):
        return entry.get(key)
    raise ValueError(f"unknown filter field {key!r}")


def _match(entry: Mapping[str, Any], clause: str) -> bool:
    clause = clause.strip()
    if clause.startswith("(") and clause.endswith(")"):
        return any(_match(entry, c) for c in _split(clause[1:-1], "OR"))
    m = _CMP.match(clause)
    if not m:
        raise ValueError(f"cannot parse filter clause {clause!r}")
    key, op, want = m.groups()
    have = _value(entry, key)
    if key == "timestamp":
        a, b = _ts(str(have)), _ts(want)
        return {"=": a == b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
    if op != "=":
        raise ValueError(f"{op} is for timestamps here, got {clause!r}")
    return have == want


def matches(entry: Mapping[str, Any], flt: str) -> bool:
    """Whether ``entry`` passes the filter; ValueError for a filter outside the grammar."""
    return all(_match(entry, c) for c in _split(flt, "AND") if c)


class FakeCloudLogging:
    """The fake (a context manager); ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, project: str = "proj", region: str = "australia-southeast1",
                 service: str = "marketing-api", *, max_page_size: int = 1000) -> None:
        self.project, self.region, self.service = project, region, service
        self.max_page_size = max_page_size
        self.entries: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.deny = False
        self._fail: list[int] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    body = None
                status, payload = fake._handle(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-cloud-logging", daemon=True)

    def start(self) -> FakeCloudLogging:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeCloudLogging:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._fail.extend([status] * times)

    def add(self, revision: str, t: float, *, log: str = "requests", severity: str = "INFO",
            http: Mapping[str, Any] | None = None, text: str | None = None,
            payload: Mapping[str, Any] | None = None, service: str | None = None) -> dict[str, Any]:
        """One LogEntry of ``revision`` at epoch ``t``, as Cloud Run writes it."""
        stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        e: dict[str, Any] = {
            "logName": f"projects/{self.project}/logs/run.googleapis.com%2F{log}",
            "resource": {"type": "cloud_run_revision",
                         "labels": {"project_id": self.project, "service_name": service or self.service,
                                    "revision_name": revision, "location": self.region,
                                    "configuration_name": service or self.service}},
            "timestamp": stamp, "receiveTimestamp": stamp, "severity": severity,
            "insertId": f"{len(self.entries):08x}",
            "trace": f"projects/{self.project}/traces/{len(self.entries):032x}",
        }
        if http is not None:
            e["httpRequest"] = dict(http)
        if text is not None:
            e["textPayload"] = text
        if payload is not None:
            e["jsonPayload"] = dict(payload)
        with self._lock:
            self.entries.append(e)
        return e

    def _handle(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        def error(code: int, status: str, msg: str) -> tuple[int, dict[str, Any]]:
            return code, {"error": {"code": code, "message": msg, "status": status}}

        with self._lock:
            self.requests.append(body if isinstance(body, dict) else {})
            fail = self._fail.pop(0) if self._fail else None
        if path.split("?")[0] != "/v2/entries:list":
            return error(404, "NOT_FOUND", f"no route {path}")
        if fail is not None:
            return error(fail, {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(fail, "INTERNAL"),
                         "Quota exceeded for quota metric 'Read requests'" if fail == 429 else "injected")
        if self.deny:
            return error(403, "PERMISSION_DENIED", "Permission 'logging.logEntries.list' denied on resource.")
        if not isinstance(body, dict) or body.get("resourceNames") != [f"projects/{self.project}"]:
            return error(400, "INVALID_ARGUMENT", "resourceNames must name projects/" + self.project)
        flt = str(body.get("filter") or "")
        try:
            with self._lock:
                found = [e for e in self.entries if matches(e, flt)]
        except ValueError as e:
            return error(400, "INVALID_ARGUMENT", f"Invalid filter: {e}")
        order = str(body.get("orderBy") or "timestamp asc")
        found.sort(key=lambda e: _ts(e["timestamp"]), reverse=order.endswith("desc"))
        size = min(int(body.get("pageSize") or 50), self.max_page_size, 1000)
        offset = int(body.get("pageToken") or 0)
        page = found[offset:offset + size]
        out: dict[str, Any] = {"entries": page}
        if offset + size < len(found):
            out["nextPageToken"] = str(offset + size)
        return 200, out


__all__ = ["FakeCloudLogging", "matches"]
