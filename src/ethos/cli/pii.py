"""``ethos pii``: run the PII detector on texts (one, or a JSON-lines batch)."""

from __future__ import annotations

import json
import sys

import click

from .errors import EXIT_USAGE, CLIError


@click.group()
def pii() -> None:
    """Detect personal information (no network, no model)."""


def _line(findings) -> str:
    return json.dumps({"findings": [f.to_dict() for f in findings]}, separators=(", ", ": "))


@pii.command()
@click.argument("text", required=False)
@click.option("--jsonl", "jsonl", type=click.Path(dir_okay=False, allow_dash=True),
              help='File of JSON lines {"text": ...} ("-" for stdin).')
@click.option("--allow", "allow", multiple=True,
              help="Not PII (repeatable); replaces the default list and $ETHOS_PII_ALLOW.")
@click.option("--json", "as_json", is_flag=True, help="JSON output (the only format; accepted for uniformity).")
def scan(text: str | None, jsonl: str | None, allow: tuple[str, ...], as_json: bool) -> None:
    """Print {"findings": [{"entity", "start", "end", "score"}, ...]} per text.

    With --jsonl, one output line per input line (blank lines are skipped).
    """
    from ..pii import detect

    if (text is None) == (jsonl is None):
        raise CLIError("give exactly one of TEXT or --jsonl FILE", EXIT_USAGE)
    allow_list = list(allow) if allow else None
    if text is not None:
        click.echo(_line(detect(text, allow_list)))
        return
    assert jsonl is not None  # exactly one of TEXT and --jsonl was given (checked above)
    try:
        stream = sys.stdin if jsonl == "-" else open(jsonl, encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise CLIError(f"cannot read {jsonl}: {e.strerror or e}", EXIT_USAGE) from None
    try:
        for n, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise CLIError(f"{jsonl}: line {n}: not JSON ({e.msg})", EXIT_USAGE) from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise CLIError(f'{jsonl}: line {n}: expected an object with a string "text"', EXIT_USAGE)
            click.echo(_line(detect(obj["text"], allow_list)))
    except UnicodeDecodeError:
        raise CLIError(f"{jsonl}: not UTF-8 text", EXIT_USAGE) from None
    finally:
        if stream is not sys.stdin:
            stream.close()
