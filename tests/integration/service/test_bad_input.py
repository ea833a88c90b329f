from __future__ import annotations

import pytest

from ethos.settings import MAX_MESSAGE_CHARS

BAD = [
    ({"content": b"{not json"}, 400),
    ({"content": b"[1, 2]"}, 400),
    ({"content": b"\"just a string\""}, 400),
    ({"json": {}}, 422),
    ({"json": {"message": ""}}, 422),
    ({"json": {"message": None}}, 422),
    ({"json": {"message": 7}}, 422),
    ({"json": {"message": "x" * (MAX_MESSAGE_CHARS + 1)}}, 422),
    ({"json": {"message": "hi", "stream": "maybe"}}, 422),
    ({"json": {"message": "hi", "cache": {"ttl": -5}}}, 422),
    ({"json": {"message": "hi", "cache": {"namespace": "../../etc"}}}, 422),
    ({"json": {"message": "hi", "cache": "yes"}}, 422),
]


@pytest.mark.parametrize(("kwargs", "status"), BAD)
def test_bad_bodies_get_clear_json_errors_and_change_nothing(service, kwargs, status):
    client, app = service
    before = app.state.ethos.cache.store.count()
    headers = {"Content-Type": "application/json"}
    r = client.post("/api/ai/marketing-chat", headers=headers, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert "Traceback" not in r.text
    assert app.state.ethos.cache.store.count() == before


def test_unknown_route_and_method(service):
    client, _ = service
    assert client.get("/nope").json()["error"] == "not_found"
    assert client.get("/api/ai/marketing-chat").status_code == 405
