"""What the CLI says on bad durations and on an empty history (issue 20's messages)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ethos.cli import cli
from ethos.cli.errors import CLIError
from ethos.rollout.incidents.evidence import parse_since


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), ("300", 300)])
def test_durations_are_read(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["abc", "", "1x", "-5m", "0", "nan", "inf"])
def test_a_bad_duration_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="like 90s, 15m, 1h or 2d"):
        parse_since(text)


def test_evidence_export_rejects_a_bad_since_in_words(tmp_path) -> None:
    r = CliRunner().invoke(cli, ["evidence", "export", "--since", "abc", "--state-dir", str(tmp_path)])
    # main() prints a CLIError as one `error:` line and exits with its code (a usage error: 2)
    assert isinstance(r.exception, CLIError) and r.exception.exit_code == 2
    assert str(r.exception) == "--since: expected a duration like 90s, 15m, 1h or 2d, got 'abc'"


def test_rollback_history_says_when_there_are_no_runs(tmp_path) -> None:
    r = CliRunner().invoke(cli, ["rollback", "history", "--state-dir", str(tmp_path)])
    assert r.exit_code == 0
    assert r.output.strip() == f"no rollbacks recorded in {tmp_path.resolve()}"
    r = CliRunner().invoke(cli, ["rollback", "history", "--json", "--state-dir", str(tmp_path)])
    assert r.exit_code == 0 and r.output.strip() == "[]"


def test_state_dir_help_names_the_environment_variable() -> None:
    r = CliRunner().invoke(cli, ["rollback", "history", "--help"])
    assert "$ETHOS_STATE_DIR" in r.output
