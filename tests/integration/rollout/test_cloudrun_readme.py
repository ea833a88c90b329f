"""Every `gcloud` and `ethos` command in deploy/cloudrun/README.md's code blocks exists, with every flag it uses.

Each command's help (`gcloud GROUP COMMAND --help`, `ethos GROUP COMMAND --help`) must name
the command as written and list each `--flag`: a misspelt command, a flag that does not exist
(`gcloud monitoring time-series list`, say) or one from another command fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.integration.rollout._gcloud import REPO, gcloud_path

pytestmark = pytest.mark.slow  # some 30 `gcloud … --help` runs, 2-3 s each

README = REPO / "deploy" / "cloudrun" / "README.md"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SEPARATORS = {";", "|", "||", "&&", "(", ")", "&", "$"}
KEYWORDS = {"do", "then", "else", "!"}


def commands(text: str) -> list[list[str]]:
    """The simple commands of the README's bash blocks, split as the shell splits them."""
    out: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            out += _line(line)
    return out


def _line(line: str) -> list[list[str]]:
    out: list[list[str]] = []
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    current: list[str] = []
    for tok in [*lex, ";"]:
        for inner in re.findall(r"\$\(([^()]*)\)", tok):  # "$(gcloud …)" inside one quoted word
            out += _line(inner)
        if tok in SEPARATORS or set(tok) <= set(";|&()$"):
            while current and current[0] in KEYWORDS:
                current.pop(0)
            if current:
                out.append(current)
            current = []
        elif tok.endswith("=$") and not current:  # VAR=$( … ): the command starts after
            continue
        else:
            current.append(tok)
    return out


def _path(cmd: list[str]) -> list[str]:
    words = []
    for tok in cmd[1:]:
        if tok.startswith("-"):
            break
        words.append(tok)
    return words


@cache
def gcloud_help(path: tuple[str, ...]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update({"CLOUDSDK_CONFIG": str(Path(os.environ.get("TMPDIR", "/tmp")) / "ethos-readme-gcloud-config"),
                "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
                "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true", "PAGER": "cat", "CLOUDSDK_CORE_PAGER": ""})
    p = subprocess.run([gcloud_path(), *path, "--help"], capture_output=True, text=True, env=env, timeout=120,
                       stdin=subprocess.DEVNULL)
    return p.returncode, ANSI.sub("", p.stdout + p.stderr)


@cache
def ethos_help(path: tuple[str, ...]) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", *path, "--help"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


ALL = commands(README.read_text(encoding="utf-8"))
GCLOUD = [c for c in ALL if c[0] == "gcloud"]
ETHOS = [c for c in ALL if c[0] == "ethos"]


def test_the_readme_has_the_commands_the_issue_asks_for() -> None:
    lines = [" ".join(c) for c in ALL]
    for needle in ("gcloud artifacts repositories create", "podman push", "gcloud run deploy",
                   "gcloud run services update-traffic", "gcloud run services replace",
                   "ethos rollback emergency --traffic cloudrun"):
        assert any(line.startswith(needle) for line in lines), needle
    assert any("--no-traffic" in c and "--tag=green" in c for c in GCLOUD)
    assert any(any(t.startswith("--to-tags=") for t in c) for c in GCLOUD)
    assert len(GCLOUD) >= 20 and len(ETHOS) >= 5


def gcloud_command(cmd: list[str]) -> tuple[list[str], str]:
    """(the gcloud command ``cmd`` runs, its help). Positionals (a file that is not there, say)
    may make ``--help`` refuse, so the longest leading words whose help works are the command;
    a group there, with words left, is a command that does not exist."""
    words = _path(cmd)
    for n in range(len(words), 0, -1):
        code, text = gcloud_help(tuple(words[:n]))
        if code == 0:
            m = re.search(r"NAME\s+(gcloud[ a-z0-9-]*?) - ", text)
            assert m, text[:500]
            name = m.group(1).split()[1:]
            assert words[: len(name)] == name, f"{' '.join(cmd)}: help is for gcloud {' '.join(name)}"
            group = re.search(r"^\s*(GROUP|COMMAND) is one of the following", text, flags=re.M)
            assert not (group and len(words) > len(name)), (
                f"{' '.join(cmd)}: gcloud {' '.join(name)} has no command {words[len(name)]!r}")
            return name, text
    raise AssertionError(f"{' '.join(cmd)}: no gcloud command: {text[-600:]}")


@pytest.mark.parametrize("cmd", GCLOUD, ids=lambda c: " ".join(c)[:80])
def test_gcloud_command_and_flags_exist(cmd: list[str]) -> None:
    name, text = gcloud_command(cmd)
    for tok in cmd:
        if tok.startswith("--"):
            flag = tok.split("=", 1)[0]
            assert re.search(re.escape(flag) + r"(?![a-z-])", text), f"gcloud {' '.join(name)} has no {flag}"


@pytest.mark.parametrize("cmd", ETHOS, ids=lambda c: " ".join(c)[:80])
def test_ethos_command_and_flags_exist(cmd: list[str]) -> None:
    code, text = ethos_help(tuple(_path(cmd)))
    assert code == 0, text[-800:]
    for tok in cmd:
        if tok.startswith("--"):
            flag = tok.split("=", 1)[0]
            assert re.search(re.escape(flag) + r"(?![a-z-])", text), f"ethos {' '.join(_path(cmd))} has no {flag}"


def test_the_check_catches_what_the_runbook_gets_wrong() -> None:
    # the checker itself: the runbook's metrics command has no gcloud command behind it
    (bad,) = commands("```bash\ngcloud monitoring time-series list --filter='x'\n```\n")
    with pytest.raises(AssertionError, match="gcloud monitoring has no command 'time-series'"):
        gcloud_command(bad)
    (flag,) = commands("```bash\ngcloud run services update-traffic s --to-tag=blue=100\n```\n")
    with pytest.raises(AssertionError, match="has no --to-tag"):
        test_gcloud_command_and_flags_exist(flag)
