"""`ethos router` refuses bad flags with a clear message and the usage exit code."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ethos.cli.errors import EXIT_USAGE, CLIError
from ethos.cli.router import router


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--revision", "blue=https://x:1"], "NAME=http://HOST:PORT"),
        (["--revision", "blue"], "NAME=http://HOST:PORT"),
        ([], "at least one --revision"),
        (["--revision", "blue=http://127.0.0.1:1", "--revision", "blue=http://127.0.0.1:2"], "twice"),
        (["--revision", "blue=http://127.0.0.1:1", "--weights", "blue=5"], "sum to 100"),
        (["--revision", "blue=http://127.0.0.1:1", "--weights", "red=100"], "unknown revision"),
        (["--revision", "blue=http://127.0.0.1:1", "--listen", "nope"], "HOST:PORT"),
        (["--revision", "blue=http://127.0.0.1:1", "--windows", "0"], "positive"),
    ],
)
def test_bad_flags(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(router, args)
    assert isinstance(result.exception, CLIError), result.output
    assert result.exception.exit_code == EXIT_USAGE and needle in str(result.exception)
