"""`ethos pii scan` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ETHOS = Path(sys.executable).parent / "ethos"


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "ETHOS_PII_ALLOW"}
    full_env.update(env or {})
    return subprocess.run(
        [str(ETHOS), "pii", "scan", *args], input=stdin, capture_output=True, text=True,
        timeout=60, env=full_env,
    )


def test_one_text() -> None:
    p = run("I'm Ana, call 0412 345 678 about the Team plan at $49/month")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [(f["entity"], f["start"], f["end"]) for f in out["findings"]] == [
        ("PERSON", 4, 7), ("PHONE_NUMBER", 14, 26)
    ]
    assert all(set(f) == {"entity", "start", "end", "score"} for f in out["findings"])


def test_jsonl_one_output_line_per_input_line(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    texts = ["mail jo@example.org", "Team is $49/month", "TFN 123 456 782", "support@ethosprompt.com"]
    f.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n", encoding="utf-8")
    p = run("--jsonl", str(f))
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert [[g["entity"] for g in x["findings"]] for x in lines] == [
        ["EMAIL_ADDRESS"], [], ["AU_TFN"], []
    ]


def test_jsonl_from_stdin_and_allow_env() -> None:
    p = run("--jsonl", "-", stdin='{"text": "call 02 9999 0000"}\n', env={"ETHOS_PII_ALLOW": "02 9999 0000"})
    assert p.returncode == 0 and json.loads(p.stdout) == {"findings": []}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": oops}\n', "line 2: not JSON"),
        ('{"text": "ok"}\n\n["a list"]\n', "line 3: expected an object"),
        ('{"txt": "ok"}\n', "line 1: expected an object"),
    ],
)
def test_bad_lines_exit_2_with_the_line_number(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(content, encoding="utf-8")
    p = run("--jsonl", str(f))
    assert p.returncode == 2
    assert message in p.stderr and "Traceback" not in p.stderr


def test_missing_file_and_bad_usage(tmp_path: Path) -> None:
    p = run("--jsonl", str(tmp_path / "nope.jsonl"))
    assert p.returncode == 2 and "cannot read" in p.stderr and "Traceback" not in p.stderr
    p = run()
    assert p.returncode == 2 and "exactly one" in p.stderr
    f = tmp_path / "bin.jsonl"
    f.write_bytes(b"\xff\xfe\x00bad")
    p = run("--jsonl", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr
