"""The incident report in Markdown, from a Jinja2 template users can replace.

Template lookup: ``$ETHOS_INCIDENT_TEMPLATE``, else ``<state dir>/incident_reports/TEMPLATE.md``,
else the default shipped with ethos (``ethos/rollout/incidents/TEMPLATE.md``; copy it to start).
The template gets one variable, ``incident`` (the record as stored in ``<id>.json``).

Sections people write live between ``<!-- human:NAME -->`` and ``<!-- /human -->``; when the
report is rendered again (a checklist tick, a criterion evaluated) the text people wrote there
is kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from ..settings import RolloutSettings

TEMPLATE_ENV = "ETHOS_INCIDENT_TEMPLATE"
REPORTS_DIR = "incident_reports"
TEMPLATE_NAME = "TEMPLATE.md"
DEFAULT_TEMPLATE = Path(__file__).with_name(TEMPLATE_NAME)
_HUMAN = re.compile(r"<!-- human:(?P<name>[a-z_]+) -->\n(?P<body>.*?)<!-- /human -->", re.S)


class TemplateError(Exception):
    """The template cannot be read or rendered."""


def template_path(state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """Where the template comes from (see the module docstring)."""
    explicit = RolloutSettings.from_env(env).incident_template
    if explicit is not None:
        return explicit
    custom = Path(state_dir) / REPORTS_DIR / TEMPLATE_NAME
    return custom if custom.is_file() else DEFAULT_TEMPLATE


def load_template(state_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> tuple[str, Path]:
    """The template's text and its path."""
    p = template_path(state_dir, env)
    try:
        return p.read_text(encoding="utf-8"), p
    except OSError as e:
        raise TemplateError(f"cannot read the incident template {p}: {e.strerror or e}") from e


def render_report(incident: Mapping[str, Any], template: str, previous: str | None = None) -> str:
    """Render ``template`` for ``incident``; keep the human sections of ``previous``. Pure."""
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    try:
        text = env.from_string(template).render(incident=incident)
    except jinja2.TemplateError as e:
        raise TemplateError(f"the incident template does not render: {e}") from e
    return keep_human_sections(text, previous) if previous else text


def keep_human_sections(new: str, previous: str) -> str:
    """Put the bodies of ``previous``'s human sections into ``new``'s. Pure."""
    kept = {m.group("name"): m.group("body") for m in _HUMAN.finditer(previous)}

    def sub(m: re.Match[str]) -> str:
        body = kept.get(m.group("name"), m.group("body"))
        return f"<!-- human:{m.group('name')} -->\n{body}<!-- /human -->"

    return _HUMAN.sub(sub, new)


def human_sections(text: str) -> dict[str, str]:
    """Name -> text of each human section. Pure."""
    return {m.group("name"): m.group("body").strip() for m in _HUMAN.finditer(text)}


__all__ = ["render_report", "load_template", "template_path", "keep_human_sections", "human_sections",
           "TemplateError", "TEMPLATE_ENV", "REPORTS_DIR", "DEFAULT_TEMPLATE"]
