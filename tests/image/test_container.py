"""The image serves as Cloud Run runs it: read-only root, tmpfs /tmp, PORT, a non-root user."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.image.image_helpers import IMAGE_UID, Container

pytestmark = pytest.mark.image

CHAT = "/api/ai/marketing-chat"


@pytest.fixture(scope="module")
def served(image: str) -> Iterator[Container]:
    with Container() as c:
        c.wait_health()
        yield c


def test_health_answers_with_the_embedding_model_loaded(served: Container) -> None:
    # the ONNX export made at build time, run without torch
    assert served.wait_semantic() == "ready", served.logs()[-3000:]
    body = httpx.get(f"{served.url}/health", timeout=5).json()
    assert body["status"] == "ok"
    assert body["store"] == {"backend": "sqlite", "reachable": True, "detail": None}


def test_a_chat_request_is_answered_then_served_from_the_cache(served: Container) -> None:
    assert served.wait_semantic() == "ready"
    ask = {"message": "What are your pricing plans?"}
    first = httpx.post(f"{served.url}{CHAT}", json=ask, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "MISS"
    assert first.json()["reply"] and first.json()["sources"], first.json()  # answered from the KB
    again = httpx.post(f"{served.url}{CHAT}", json=ask, timeout=30)
    assert again.headers["x-cache"] == "HIT" and again.json()["reply"] == first.json()["reply"]
    # a paraphrase is found by the embedding model
    para = httpx.post(f"{served.url}{CHAT}", json={"message": "what pricing plans do you offer"}, timeout=30)
    assert para.headers["x-cache"] == "SEMANTIC-HIT", para.headers
    # the SQLite cache lives in the state directory under /tmp
    assert served.exec("test", "-s", "/tmp/ethos/cache.sqlite3").returncode == 0


def test_a_stream_is_answered(served: Container) -> None:
    with httpx.stream("POST", f"{served.url}{CHAT}", timeout=30,
                      json={"message": "Where is my data stored?", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    assert '"delta"' in body and "event: done" in body


def test_the_server_runs_as_a_non_root_user_on_a_read_only_root(served: Container) -> None:
    status = served.exec("cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(IMAGE_UID)] * 4, status
    assert "ethos" in served.exec("cat", "/proc/1/cmdline").stdout  # PID 1 is the server itself
    assert served.exec("id", "-un").stdout.strip() == "ethos"
    denied = served.exec("touch", "/opt/ethos/written")
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr


def test_torch_is_not_in_the_image(served: Container) -> None:
    r = served.exec("python", "-c", "import torch")
    assert r.returncode == 1 and "No module named 'torch'" in r.stderr
    r = served.exec("python", "-c", "import sentence_transformers")
    assert r.returncode == 1 and "No module named 'sentence_transformers'" in r.stderr
