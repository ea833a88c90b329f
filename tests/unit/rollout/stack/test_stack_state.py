"""The stack state file: round trip, absence, corruption, the status shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethos.rollout.errors import StackError
from ethos.rollout.stack.state import StackState, load_stack, remove_stack, resolve_state_dir, save_stack


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


def test_plan_stack(tmp_path: Path) -> None:
    from ethos.rollout.stack.state import parse_env_pairs, plan_stack

    specs = plan_stack(
        state_dir=tmp_path, base_port=9100, ethos_argv=["ethos"],
        revision_env={"blue": {}, "green": parse_env_pairs(["ETHOS_CACHE_URL=sqlite:///other.db", "X=a=b",
                                                            "ETHOS_ONNX_THREADS=2"])},
        weights={"blue": 90, "green": 10},
    )
    by = {s.name: s for s in specs}
    assert [s.name for s in specs] == ["blue", "green", "router"]
    assert by["blue"].url == "http://127.0.0.1:9101" and by["green"].url == "http://127.0.0.1:9102"
    assert by["router"].url == "http://127.0.0.1:9100"
    assert by["blue"].argv[1:] == ["serve", "--host", "127.0.0.1", "--port", "9101", "--revision", "blue"]
    assert by["blue"].env["ETHOS_CACHE_URL"] == f"sqlite:///{tmp_path.resolve() / 'cache.sqlite3'}"
    assert by["green"].env["ETHOS_CACHE_URL"] == "sqlite:///other.db"  # per-revision override
    assert by["green"].env["X"] == "a=b"
    # the revisions share the machine's cores: one model thread each, unless a revision says
    assert by["blue"].env["ETHOS_ONNX_THREADS"] == "1" and by["green"].env["ETHOS_ONNX_THREADS"] == "2"
    assert "--revision" in by["router"].argv and "blue=http://127.0.0.1:9101" in by["router"].argv
    assert by["router"].argv[-2:] == ["--weights", "blue=90,green=10"]
    assert by["router"].health_url.endswith("/router/health")


def test_parse_env_pairs_refuses() -> None:
    from ethos.rollout.stack.state import parse_env_pairs

    with pytest.raises(StackError):
        parse_env_pairs(["NOEQUALS"])
