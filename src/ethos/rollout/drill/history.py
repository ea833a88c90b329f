"""Drill reports and their history: ``<state dir>/drills/`` (Markdown + JSON per drill, one index)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .plan import DrillReport, render_markdown


class DrillHistory:
    """``drills/history.jsonl`` (one summary line per drill) and ``drill_<stamp>_<scenario>.{md,json}``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir) / "drills"
        self.index = self.dir / "history.jsonl"

    def record(self, report: DrillReport) -> tuple[Path, Path]:
        """Write the report's two files and append it to the history; returns (md, json)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = report.started.replace("-", "").replace(":", "").replace("+0000", "Z").split("+")[0]
        base = self.dir / f"drill_{stamp}_{report.scenario}"
        data = report.to_dict()
        base.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        base.with_suffix(".md").write_text(render_markdown(report))
        summary = {"started": report.started, "scenario": report.scenario, "passed": report.passed,
                   "report": str(base.with_suffix(".md")),
                   "steps": {s.name: s.duration_s for s in report.steps},
                   "failed_checks": [c.id for c in report.checks if c.status == "fail"]}
        with self.index.open("a") as f:
            f.write(json.dumps(summary) + "\n")
        return base.with_suffix(".md"), base.with_suffix(".json")

    def read(self) -> list[dict[str, Any]]:
        """Every drill summary, oldest first."""
        try:
            lines = self.index.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


__all__ = ["DrillHistory"]
