"""A slow or failing LLM provider behind a real service: a clear 504/502, nothing cached, and
the guard's error-rate trigger fires from the revision's own ``/metrics``.

The provider is a raw TCP server on 127.0.0.1, so that it can misbehave below HTTP too
(reset the connection after reading the request), not only answer badly.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading

import httpx
import pytest

from ethos.rollout.guard import GuardState, evaluate, load_policy
from ethos.rollout.sources import RevisionMetricsSource
from ethos.rollout.sources.base import collect_snapshot

REPLY = "EthosPrompt has five plans: Free, Starter, Team, Business and Enterprise."
API_KEY = "sk-fault-test-secret-9f2"
SLOW_S = 3.0  # the service waits SLOW_TIMEOUT_S per attempt
SLOW_TIMEOUT_S = 0.5
# A provider that answers (or fails) at once gets a timeout it cannot hit on a loaded machine:
# CI once saw a 0.5 s one expire, and a 504 where the test counted 502s.
TIMEOUT_S = 10.0


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        prov: FaultyProvider = self.server.provider  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        body = _read_request(sock)
        if body is None:
            return
        prov.calls += 1
        mode = prov.mode
        if mode == "reset":
            # RST instead of FIN: the client sees "connection reset by peer"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if mode == "slow":
            prov.release.wait(SLOW_S)
            mode = "ok"
        if mode == "http500":
            _send(sock, 500, "application/json", b'{"error":{"message":"internal error"}}')
        elif mode == "garbage":
            _send(sock, 200, "application/json", b"<html>502 Bad Gateway</html>")
        elif body.get("stream"):
            chunks = [json.dumps({"choices": [{"index": 0, "delta": {"content": w + " "},
                                                "finish_reason": None}]}) for w in REPLY.split(" ")]
            chunks.append(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            sse = "".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n"
            _send(sock, 200, "text/event-stream", sse.encode())
        else:
            _send(sock, 200, "application/json", json.dumps({
                "id": "x", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                             "finish_reason": "stop"}],
            }).encode())


def _read_request(sock: socket.socket) -> dict | None:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        if not got:
            return None
        data += got
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        got = sock.recv(65536)
        if not got:
            return None
        rest += got
    return json.loads(rest[:length] or b"{}")


def _send(sock: socket.socket, status: int, ctype: str, body: bytes) -> None:
    reason = {200: "OK", 500: "Internal Server Error"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        sock.sendall(head + body)
    except OSError:
        pass  # the client gave up (a timeout): nothing to tell it


class FaultyProvider:
    """OpenAI-compatible chat completions; ``mode``: ok | slow | http500 | garbage | reset."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self.release = threading.Event()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.provider = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, name="faulty-llm", daemon=True)

    def __enter__(self) -> FaultyProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()  # slow handlers return at once
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def provider():
    with FaultyProvider() as p:
        yield p


def _service(make_service, provider: FaultyProvider, retries: int = 1, revision: str = "blue",
             timeout_s: float = TIMEOUT_S):
    url, app = make_service(
        llm_base_url=provider.url, llm_api_key=API_KEY, llm_model="fault-model",
        llm_timeout_s=timeout_s, llm_retries=retries, revision=revision,
    )
    return httpx.Client(base_url=url, timeout=30), app


def chat(client: httpx.Client, message: str, stream: bool) -> httpx.Response:
    return client.post("/api/ai/marketing-chat", json={"message": message, "stream": stream})


def assert_clear_error(r: httpx.Response, status: int, error: str, words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == error
    assert words in body["detail"], body
    assert "Traceback" not in r.text and API_KEY not in r.text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_slow_provider_is_504_and_nothing_is_cached(make_service, provider, stream: bool) -> None:
    client, app = _service(make_service, provider, timeout_s=SLOW_TIMEOUT_S)
    with client:
        q = "What are your pricing plans?"
        provider.mode = "slow"
        r = chat(client, q, stream)
        assert_clear_error(r, 504, "upstream_timeout", "did not answer in time")
        assert provider.calls == 2  # one retry, then the timeout is given
        assert app.state.ethos.cache.store.count() == 0
        provider.mode = "ok"
        provider.release.set()
        r = client.post("/api/ai/marketing-chat", json={"message": q})
        assert r.status_code == 200 and r.headers["X-Cache"] == "MISS"  # not a stored failure
        assert r.json()["reply"] == REPLY
        assert client.post("/api/ai/marketing-chat", json={"message": q}).headers["X-Cache"] == "HIT"


@pytest.mark.parametrize(
    ("mode", "words", "calls"),
    [("http500", "HTTP 500", 2), ("garbage", "malformed", 1), ("reset", "connection to the LLM provider broke", 2)],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_failing_provider_is_502_and_nothing_is_cached(
    make_service, provider, mode: str, words: str, calls: int, stream: bool
) -> None:
    client, app = _service(make_service, provider)
    with client:
        q = "Do you integrate with HubSpot?"
        provider.mode = mode
        r = chat(client, q, stream)
        assert_clear_error(r, 502, "upstream_error", words)
        assert provider.calls == calls
        assert app.state.ethos.cache.store.count() == 0
        provider.mode = "ok"
        r = client.post("/api/ai/marketing-chat", json={"message": q})
        assert r.status_code == 200 and r.headers["X-Cache"] == "MISS"
        metrics = client.get("/metrics").text
    assert 'ethos_answerer_errors_total{revision="blue",status="502"} 1.0' in metrics


def test_error_rate_trigger_fires_from_the_revisions_metrics(make_service, provider) -> None:
    """After provider failures, the default policy's error-rate trigger reads them from green's
    own /metrics (no router in between) and fires an emergency rollback."""
    client, app = _service(make_service, provider, retries=0, revision="green")
    policy = load_policy()
    source = RevisionMetricsSource({"green": str(client.base_url)})
    try:
        with client:
            for i in range(10):
                assert chat(client, f"Is there a free plan? ({i})", False).status_code == 200
            t0 = 1_000_000.0
            before = collect_snapshot([source], policy.needs(), ["green"], t0)
            assert before.get("green", "error_rate", 10.0) is not None
            ev = evaluate(policy, before, GuardState(), t0)
            assert ev.result("error_rate_critical").status in ("ok", "inconclusive")

            sent = failed = 0
            others = []
            for i, mode in enumerate(["http500", "garbage", "reset"] * 20):
                provider.mode = mode
                r = chat(client, f"Do you offer refunds? ({i})", False)
                sent += 1
                failed += r.status_code == 502
                if r.status_code != 502:
                    others.append((mode, r.status_code, r.text[:200]))
            provider.mode = "ok"
            for i in range(10):
                assert chat(client, f"Can I export my data? ({i})", False).status_code == 200
            assert (sent, failed) == (60, 60), others

            t1 = t0 + 10.0
            snap = collect_snapshot([source], policy.needs(), ["green"], t1)
            m = snap.get("green", "error_rate", 10.0)
            assert (m.events, m.samples) == (60, 70)
            ev = evaluate(policy, snap, GuardState(), t1)
            r = ev.result("error_rate_critical")
            assert r.status == "firing", r
            assert ev.decision.action == "emergency" and ev.decision.trigger == "error_rate_critical"
            stored = [e.question for batch in app.state.ethos.cache.store.scan() for e in batch]
            assert stored and not any("refunds" in q for q in stored)  # no failure was stored
    finally:
        source.close()
