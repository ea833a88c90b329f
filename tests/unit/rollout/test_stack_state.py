"""The stack state file: round trip, absence, corruption, the status shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethos.rollout.errors import StackError
from ethos.rollout.stack import StackState, load_stack, remove_stack, resolve_state_dir, save_stack


def test_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "admin_key"
    key.write_text("s3cret\n")
    state = StackState(
        router="http://127.0.0.1:9000",
        revisions={"blue": "http://127.0.0.1:9001", "green": "http://127.0.0.1:9002"},
        admin_key_file=str(key),
        pids={"router": 1, "blue": 2, "green": 3},
        base_port=9000,
    )
    save_stack(state, tmp_path)
    loaded = load_stack(tmp_path)
    assert loaded == state
    assert loaded.public() == {
        "router": "http://127.0.0.1:9000",
        "revisions": {"blue": "http://127.0.0.1:9001", "green": "http://127.0.0.1:9002"},
    }
    assert remove_stack(tmp_path) and load_stack(tmp_path) is None


def test_admin_key_prefers_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "k"
    key.write_text("fromfile\n")
    state = StackState(router="r", revisions={}, admin_key_file=str(key))
    monkeypatch.delenv("ETHOS_ADMIN_API_KEY", raising=False)
    assert state.admin_key() == "fromfile"
    monkeypatch.setenv("ETHOS_ADMIN_API_KEY", "fromenv")
    assert state.admin_key() == "fromenv"


def test_missing_and_corrupt(tmp_path: Path) -> None:
    assert load_stack(tmp_path / "nope") is None
    (tmp_path / "stack.json").write_text("{not json")
    with pytest.raises(StackError, match="not valid JSON"):
        load_stack(tmp_path)
    (tmp_path / "stack.json").write_text('{"router": "x"}')
    with pytest.raises(StackError, match="lacks"):
        load_stack(tmp_path)


def test_resolve_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETHOS_STATE_DIR", str(tmp_path))
    assert resolve_state_dir() == tmp_path
    assert resolve_state_dir("/x") == Path("/x")
    monkeypatch.delenv("ETHOS_STATE_DIR")
    assert resolve_state_dir() == Path(".ethos")
