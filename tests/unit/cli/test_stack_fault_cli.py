"""`ethos stack fault` (issue 20): bad input and a stack that is not up, each a clear `error:`
line with the exit code of the other commands (2 bad input, 1 not done); no servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ethos.cli import cli
from ethos.cli.errors import CLIError
from ethos.rollout.stack.state import StackState, save_stack

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port


def _stack(sd: Path, key: str | None = "k" * 32) -> None:
    key_file = None
    if key is not None:
        sd.mkdir(parents=True, exist_ok=True)
        (sd / "admin_key").write_text(key + "\n")
        key_file = str(sd / "admin_key")
    save_stack(StackState(router=CLOSED, revisions={"blue": CLOSED, "green": CLOSED}, admin_key_file=key_file), sd)


def _fault(sd: Path, *args: str) -> CLIError:
    r = CliRunner().invoke(cli, ["stack", "fault", *args, "--state-dir", str(sd)], env={"ETHOS_ADMIN_API_KEY": ""})
    assert isinstance(r.exception, CLIError), (r.exception, r.output)
    return r.exception


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["green", "error_rate=1.5"], "fault settings: error_rate must be within 0..1, got 1.5"),
        (["green", "error_rate=0.1", "error_rate=0.2"], "fault settings: error_rate given twice"),
        (["green", "latency=5"], "fault settings: unknown fault 'latency'; known: error_rate, latency_ms, ttft_ms"),
        (["green", "latency_ms"], "fault settings: 'latency_ms' is not NAME=VALUE"),
        (["green", "ttft_ms=2.5"], "fault settings: ttft_ms must be whole milliseconds, got '2.5'"),
        (["green", "--clear", "error_rate=1"], "give fault settings or --clear, not both"),
        (["purple", "error_rate=1"], "unknown revision 'purple'; this stack has: blue, green"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path: Path, args: list[str], words: str) -> None:
    _stack(tmp_path)
    e = _fault(tmp_path, *args)
    assert e.exit_code == 2 and words in str(e), str(e)


def test_no_stack_recorded(tmp_path: Path) -> None:
    e = _fault(tmp_path, "green", "error_rate=1")
    assert e.exit_code == 1
    assert str(e) == f"no stack recorded in {tmp_path.resolve()} (start one with `ethos stack up`)"
    (tmp_path / "stack.json").write_text("{not json")
    e = _fault(tmp_path, "green")
    assert e.exit_code == 1 and "stack.json is not valid JSON" in str(e)


def test_a_stack_that_is_not_up_anymore(tmp_path: Path) -> None:
    _stack(tmp_path)  # recorded, but its processes are gone
    e = _fault(tmp_path, "green", "--clear")
    assert e.exit_code == 1
    assert f"green at {CLOSED} does not answer" in str(e) and "ethos stack status" in str(e)


def test_no_admin_key(tmp_path: Path) -> None:
    _stack(tmp_path, key=None)
    e = _fault(tmp_path, "green", "error_rate=1")
    assert e.exit_code == 1 and str(e).startswith("no admin key: set ETHOS_ADMIN_API_KEY")
    assert json.loads((tmp_path / "stack.json").read_text())["admin_key_file"] is None
