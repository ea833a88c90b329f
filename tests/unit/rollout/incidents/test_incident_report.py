"""Incident reports: built from the journal, rendered from the default or a custom template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethos.rollout.incidents.record import IncidentStore, after_rollback, incident_from_run
from ethos.rollout.incidents.report import (
    DEFAULT_TEMPLATE,
    TemplateError,
    human_sections,
    keep_human_sections,
    render_report,
)
from tests.unit.rollout.incidents._incident_fixtures import write_run


def _log(state_dir: Path, revision: str, t: float, status: int, n: int) -> None:
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{revision}.log").open("a") as f:
        f.write("ethos serving (not JSON)\n")
        for i in range(n):
            f.write(json.dumps({"ts": t + i * 0.01, "revision": revision, "msg": "request",
                                "route": "/api/ai/marketing-chat", "status": status,
                                "request_id": "%016x" % i}) + "\n")


def test_default_template_renders_timeline_trigger_impact_and_human_sections(tmp_path):
    run = write_run(tmp_path)
    t = run.events[0]["t"]
    _log(tmp_path, "green", t - 30, 500, 7)
    _log(tmp_path, "green", t - 20, 200, 93)
    _log(tmp_path, "blue", t - 20, 200, 50)
    inc = after_rollback(tmp_path, run.rollback_id, notify=False, env={})
    md = IncidentStore(tmp_path, env={}).report_path(inc["id"]).read_text()
    assert inc["id"] == "inc-" + run.rollback_id[3:]
    assert "## Timeline (UTC)" in md and "shift_traffic: ok" in md
    assert "error rate 7.4% on green" in md
    assert "green: 100 requests, 7 errors (7.0%)" in md
    assert "Cache entries cleared: 12" in md
    assert "- [x] `clear_cache` Clear cache" in md
    assert "- [x] `create_report`" in md
    assert human_sections(md) == {"root_cause": "_To be completed._", "lessons": "_To be completed._",
                                  "follow_up": "_To be completed._"}
    assert "| immediate | Traffic 100% on blue (stable) revision | pass |" in md


def test_what_people_wrote_survives_a_re_render(tmp_path):
    run = write_run(tmp_path)
    store = IncidentStore(tmp_path, env={})
    inc = after_rollback(tmp_path, run.rollback_id, notify=False, env={})
    path = store.report_path(inc["id"])
    path.write_text(path.read_text().replace("<!-- human:root_cause -->\n_To be completed._",
                                             "<!-- human:root_cause -->\nGreen's pool size was 1."))
    again = after_rollback(tmp_path, run.rollback_id, notify=False, env={})
    assert again["id"] == inc["id"] and store.ids() == [inc["id"]]
    assert "Green's pool size was 1." in path.read_text()


def test_a_custom_template_in_the_state_dir_replaces_the_default(tmp_path):
    run = write_run(tmp_path)
    custom = tmp_path / "incident_reports" / "TEMPLATE.md"
    custom.parent.mkdir(parents=True)
    custom.write_text("ACME incident {{ incident.id }} by {{ incident.authority.actor }}; "
                      "cleared {{ incident.impact.cache_entries_cleared }}\n"
                      "{% for i in incident.checklist if i.done %}{{ i.id }} {% endfor %}\n")
    inc = after_rollback(tmp_path, run.rollback_id, notify=False, env={})
    md = IncidentStore(tmp_path, env={}).report_path(inc["id"]).read_text()
    assert md.startswith(f"ACME incident {inc['id']} by dev; cleared 12\n")
    assert "clear_cache" in md and inc["template"] == str(custom)


def test_template_from_the_environment_and_a_broken_one(tmp_path):
    run = write_run(tmp_path)
    inc = incident_from_run(run, requests={}, now=run.events[0]["t"])
    tpl = tmp_path / "t.md"
    tpl.write_text("{{ incident.procedure }} {{ incident.nothing.deeper }}!")
    store = IncidentStore(tmp_path, env={"ETHOS_INCIDENT_TEMPLATE": str(tpl)})
    assert store.report_path(inc["id"]) == store.save(inc)
    assert store.report_path(inc["id"]).read_text() == "standard !"
    with pytest.raises(TemplateError):
        render_report(inc, "{% for %}")


def test_keep_human_sections_is_pure():
    new = "a\n<!-- human:x -->\ndefault\n<!-- /human -->\nb\n"
    old = "<!-- human:x -->\nmine\n<!-- /human -->"
    assert keep_human_sections(new, old) == "a\n<!-- human:x -->\nmine\n<!-- /human -->\nb\n"
    assert DEFAULT_TEMPLATE.is_file()


def test_the_rollback_hook_opens_the_incident_and_never_raises(tmp_path):
    from ethos.rollout.incidents.hook import on_rollback_finished

    run = write_run(tmp_path)
    got = on_rollback_finished(tmp_path, run.rollback_id, env={})
    assert got["incident"] == "inc-" + run.rollback_id[3:] and Path(got["report"]).is_file()
    assert on_rollback_finished(tmp_path, "rb-nope", env={})["error"].startswith("IncidentError")
    assert on_rollback_finished(tmp_path, run.rollback_id, env={"ETHOS_NO_AUTO_INCIDENT": "1"})["incident"] is None
