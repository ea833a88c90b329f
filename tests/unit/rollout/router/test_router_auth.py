"""The admin-key decision and weight persistence helpers."""

from __future__ import annotations

from pathlib import Path

from ethos.rollout.router.auth import check_admin_key
from ethos.rollout.router.weights_store import initial_weights, load_weights, save_weights


def test_admin_key_decisions() -> None:
    assert check_admin_key("k", "k") is None
    assert check_admin_key(None, "k").status == 401
    assert check_admin_key("", "k").status == 401
    assert check_admin_key("x", "k").status == 403
    assert check_admin_key("k", None).status == 503
    assert "ETHOS_ADMIN_API_KEY" in check_admin_key("k", "").detail


def test_weights_store(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    assert load_weights(path, ["blue", "green"]) is None
    save_weights(path, {"blue": 30, "green": 70})
    assert load_weights(path, ["blue", "green"]) == {"blue": 30, "green": 70}
    assert load_weights(path, ["red"]) is None  # stale file for other revisions: ignored
    path.write_text("garbage")
    assert load_weights(path, ["blue", "green"]) is None


def test_initial_weights() -> None:
    assert initial_weights(["blue", "green"], None) == {"blue": 100, "green": 0}
    assert initial_weights(["blue", "green"], {"green": 100}) == {"blue": 0, "green": 100}
