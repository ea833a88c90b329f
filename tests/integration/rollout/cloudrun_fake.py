"""A server on 127.0.0.1 that speaks the Cloud Run Admin API v2 REST shape (the parts we use).

GET   /v2/projects/P/locations/R/services/S     -> Service
PATCH /v2/projects/P/locations/R/services/S     -> Operation (pending; done after `polls_until_done` GETs)
GET   /v2/projects/P/locations/R/operations/ID  -> Operation (with the updated Service as response)

Enums arrive as integers (the client sends `$alt=json;enum-encoding=int`) and leave as names.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
_TYPES = {0: "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED", 1: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
          2: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"}


class FakeCloudRun:
    def __init__(self, project: str = "proj", region: str = "australia-southeast1", service: str = "marketing-api") -> None:
        self.name = f"projects/{project}/locations/{region}/services/{service}"
        self.service: dict[str, Any] = {
            "name": self.name,
            "uid": "u-1",
            "etag": '"e1"',
            "latestReadyRevision": f"{self.name}/revisions/{service}-green",
            "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": f"{service}-blue", "percent": 90},
                        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": f"{service}-green", "percent": 10}],
        }
        self.service["trafficStatuses"] = [dict(t) for t in self.service["traffic"]]
        self.requests: list[tuple[str, str, Any]] = []
        self.operations: dict[str, dict[str, Any]] = {}
        self.polls_until_done = 1
        self.fail_with: tuple[int, str] | None = None  # (HTTP status, google status) for the next call
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeCloudRun:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.requests.append((method, self.path, body))
                    if fake.fail_with:
                        status, code = fake.fail_with
                        fake.fail_with = None
                        self._reply(status, {"error": {"code": status, "message": f"fake {code}", "status": code}})
                        return
                    if path == f"/v2/{fake.name}" and method == "GET":
                        self._reply(200, fake.service)
                    elif path == f"/v2/{fake.name}" and method == "PATCH":
                        fake._apply(body)
                        op_name = f"{fake.name.split('/services/')[0]}/operations/op-{len(fake.operations) + 1}"
                        fake.operations[op_name] = {"polls": 0}
                        self._reply(200, {"name": op_name, "done": False,
                                          "metadata": {"@type": SERVICE_TYPE, "name": fake.name}})
                    elif (m := re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+/operations/[^/]+)", path)) and method == "GET":
                        op = fake.operations.get(m.group(1))
                        if op is None:
                            self._reply(404, {"error": {"code": 404, "message": "no such operation", "status": "NOT_FOUND"}})
                            return
                        op["polls"] += 1
                        done = op["polls"] >= fake.polls_until_done
                        payload: dict[str, Any] = {"name": m.group(1), "done": done}
                        if done:
                            payload["response"] = {"@type": SERVICE_TYPE, **fake.service}
                        self._reply(200, payload)
                    else:
                        self._reply(404, {"error": {"code": 404, "message": f"no route {method} {path}", "status": "NOT_FOUND"}})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler

    def _apply(self, body: dict[str, Any]) -> None:
        traffic = []
        for t in body.get("traffic", []):
            kind = t.get("type", 0)
            traffic.append({"type": _TYPES.get(kind, kind) if isinstance(kind, int) else kind,
                            "revision": t.get("revision", ""), "percent": int(t.get("percent", 0))})
        self.service["traffic"] = traffic
        self.service["trafficStatuses"] = [dict(t) for t in traffic]
        self.service["etag"] = '"e2"'
