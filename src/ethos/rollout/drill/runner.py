"""One drill, end to end, on a sandbox stack the drill starts itself (or a given one).

Sequence: webhook receiver on 127.0.0.1 -> ``ethos stack up`` on free ports with the fault
injected in green (``ETHOS_FAULTS=error_rate=0.3``) -> a question cached on blue (HIT) ->
traffic through the router -> the guard evaluates the runbook policy (its alert goes to the
receiver) -> the scenario's command (``ethos rollback emergency|standard|gradual`` or ``ethos
incident pii-leak``) as a child process, timed -> the checks: traffic 100% blue, the cached
question is a MISS, the guard fired, the receiver got the alert and the rollback notification,
the runbook and policy are current -> incident report and evidence export -> ``stack down``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from ..errors import TrafficError
from ..router.client import RouterClient
from ..settings import RolloutSettings
from ..stack.processes import ethos_argv
from ..stack.state import free_base_port, load_stack
from .cloudrun import CloudRunSandbox, sandbox_for
from .plan import (
    CHECKS,
    DRILL_STAGES,
    Check,
    DrillReport,
    StepTime,
    budget_for,
    documentation_check,
    runbook_facts,
)
from .receiver import WebhookReceiver
from .traffic import Traffic

SEED_QUESTION = "What does the company do?"  # never asked by the drill's traffic
#: the seed and verify requests' patience: they check what the cache answers, not how fast (a
#: revision of a sandbox stack loads its model on the first one: 6.8 s for one drill alone on a
#: slow two-core machine, 30 s with four drills starting at once, where 15 s failed the check)
CACHE_CHECK_TIMEOUT_S = 90.0
APPROVER = "drill-approver"
RUNBOOK_CANDIDATES = ("../shared/spec/rollback-procedures.md", "spec/rollback-procedures.md",
                      "docs/rollback-procedures.md")


@dataclass
class DrillOptions:
    """How to drill. ``target``: the state dir of a running stack (else a sandbox is started)."""

    scenario: str = "emergency"
    workdir: Path = field(default_factory=lambda: Path("."))
    target: Path | None = None
    fault: str = "error_rate=0.3"
    runbook: Path | None = None
    policy: Path | None = None
    stages: str = DRILL_STAGES
    approved_by: str = APPROVER  # must hold a role in the target's authority.yaml (the sandbox's has it)
    min_green_requests: int = 70
    traffic_timeout_s: float = 90.0
    stack_timeout_s: float = 90.0
    echo: Callable[[str], None] = lambda line: None


def find_runbook(explicit: Path | None) -> Path | None:
    """``--runbook``, ``$ETHOS_RUNBOOK``, or the runbook next to the repository."""
    if explicit is not None:
        return explicit if explicit.is_file() else None
    if (p := RolloutSettings.from_env().runbook) is not None:
        return p if p.is_file() else None
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        for rel in RUNBOOK_CANDIDATES:
            if (base / rel).is_file():
                return (base / rel).resolve()
    return None


def _ethos(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, dict[str, Any], str]:
    p = subprocess.run([*ethos_argv(), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)
    result: dict[str, Any] = {}
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            result = obj
            break
    return p.returncode, result, (p.stderr.strip() or p.stdout.strip())[-600:]


class _Timer:
    def __init__(self, report: DrillReport, echo: Callable[[str], None]) -> None:
        self.report, self.echo = report, echo

    def add(self, name: str, t0: float, ok: bool, detail: str, budget: float | None = None) -> StepTime:
        s = StepTime(name, round(time.monotonic() - t0, 3), ok, detail, budget)
        self.report.steps.append(s)
        extra = "" if budget is None else f" (budget {budget:g} s)"
        self.echo(f"{'ok ' if ok else 'FAIL'} {name:<22} {s.duration_s:7.2f} s{extra}  {detail}")
        return s


def _seed_cache(blue_url: str) -> tuple[bool, str]:
    with httpx.Client(timeout=CACHE_CHECK_TIMEOUT_S) as c:
        states = [c.post(f"{blue_url}/api/ai/marketing-chat", json={"message": SEED_QUESTION}).headers.get("x-cache")
                  for _ in range(2)]
    return states[-1] == "HIT", " then ".join(str(s) for s in states)


def _inject_pii(cache_url: str) -> str:
    """Write one entry holding a phone number straight into the store: a leak past the gate."""
    from ...cache import Entry, open_store

    key = f"marketing:v1:drill:call-me:{random.getrandbits(64):016x}"
    store = open_store(cache_url)
    try:
        store.put(Entry(key=key, namespace="marketing", format_version=1, scope="drill",
                        question="Can you call me back?", reply="Sure, we will call you on 0412 345 678.",
                        created_at=time.time(), ttl_s=3600))
    finally:
        store.close()
    return key


#: the drill's revisions scan their store this often (s) in the pii-leak scenario, so that the
#: planted entry reaches the guard through the revisions' gauge within seconds
DRILL_PII_SCAN_INTERVAL_S = "0.5"


def _pii_gauge(revisions: dict[str, str]) -> dict[str, float | None]:
    """``ethos_cache_pii_leaks`` as each revision exports it (None: not exported yet)."""
    from ..sources.promtext import Scrape

    out: dict[str, float | None] = {}
    for name, url in revisions.items():
        try:
            s = Scrape.parse(time.time(), httpx.get(f"{url.rstrip('/')}/metrics", timeout=2).text)
            vals = list(s.by_label("ethos_cache_pii_leaks", "revision").values())
            out[name] = max(vals) if s.has("ethos_cache_pii_leaks") and vals else None
        except (httpx.HTTPError, ValueError):
            out[name] = None
    return out


def _wait_for_pii_scan(revisions: dict[str, str], timeout_s: float) -> tuple[bool, str]:
    """Wait until a revision's periodic scan has found the planted entry (its gauge > 0)."""
    end = time.monotonic() + timeout_s
    seen: dict[str, float | None] = {}
    while True:
        seen = _pii_gauge(revisions)
        found = {k: v for k, v in seen.items() if v}
        if found:
            return True, "periodic scan found it: ethos_cache_pii_leaks " + ", ".join(
                f"{k}={v:g}" for k, v in sorted(found.items()))
        if time.monotonic() >= end:
            return False, f"ethos_cache_pii_leaks still {seen} after {timeout_s:g} s (is the periodic scan on?)"
        time.sleep(0.2)


def _guard_step(state_dir: Path, router: str, webhook: str, policy: Path | None,
                revisions: dict[str, str] | None = None) -> dict[str, Any]:
    """One guard evaluation on the router's signals (and, given ``revisions``, on their own
    ``/metrics`` too: the PII-in-cache trigger reads the revisions' leak gauge)."""
    from ..guard.actuator import Alerter, FakeActuator
    from ..guard.build import build_guard, watch_sources
    from ..guard.history import GuardHistory
    from ..guard.policy import load_policy
    from ..notify import WebhookNotifier

    pol = load_policy(policy)
    watch = watch_sources(pol, router=router, revisions=revisions)
    # The drill runs the scenario's procedure itself (timed); the guard only has to fire and alert.
    g = build_guard(pol, watch, FakeActuator(), Alerter([WebhookNotifier(webhook)]), GuardHistory(state_dir))
    try:
        r = g.step()
    finally:
        g.close()
    d = r.evaluation.decision
    firing = [x for x in r.evaluation.results if x.status == "firing"]
    return {"action": d.action, "trigger": d.trigger, "reason": d.reason, "acts": d.acts or d.needs_approval,
            "firing": [f"{x.trigger}: {x.reason}" for x in firing], "policy": pol.name,
            "firing_triggers": [x.trigger for x in firing],
            "pii_triggers": [t.name for t in pol.triggers if t.signal == "pii_leaks"],
            "policy_triggers": len(pol.triggers), "alerts": len(d.alerts) + (1 if d.acts else 0)}


def _procedure_args(o: DrillOptions, sd: Path, targets: Sequence[str] = ()) -> list[str]:
    common = ["--state-dir", str(sd), "--yes", "--json"]
    if o.scenario == "pii-leak":
        return ["incident", "pii-leak", "--by", "drill", "--justification", "monthly drill", *common]
    procedure = "emergency" if o.scenario == "cloudrun" else o.scenario  # cloudrun: targets from the fake
    args = ["rollback", procedure, "--reason", f"drill: injected fault {o.fault} on green",
            "--executed-by", "drill", *common, *targets]
    if o.scenario in ("standard", "gradual"):
        args += ["--approved-by", o.approved_by]
    else:
        args += ["--justification", "monthly drill"]
    if o.scenario == "gradual":
        # the drill checks invalidation, so it asks for the runbook's recommended clear
        args += ["--stages", o.stages, "--poll", "0.5", "--cache", "clear"]
    return args


def _stopped(sd: Path, pids: dict[str, int], timeout_s: float = 10.0) -> bool:
    """True once none of ``pids`` is alive (a killed process may take a moment to go)."""
    from ..procedures.journal import pid_alive

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if not any(pid_alive(p) for p in pids.values()):
            return True
        time.sleep(0.2)
    return False


def run_drill(o: DrillOptions) -> DrillReport:
    """Run the drill; never raises for a failed step (it is recorded), only for bad options."""
    from .. import sources  # noqa: F401 - imported here so that the guard step times the guard, not imports
    from ..guard import loop  # noqa: F401

    started = datetime.now(UTC)
    sd = (o.target or (o.workdir / f"drill-{started.strftime('%Y%m%d_%H%M%S')}-{o.scenario}")).resolve()
    report = DrillReport(o.scenario, started.isoformat(timespec="seconds"), str(sd))
    tm = _Timer(report, o.echo)
    with WebhookReceiver() as hook:
        env = {**os.environ, "ETHOS_NOTIFY_WEBHOOK_URL": hook.url, "ETHOS_STATE_DIR": str(sd)}
        if o.scenario == "pii-leak":  # the revisions find the planted entry by themselves
            env["ETHOS_PII_SCAN_INTERVAL_S"] = DRILL_PII_SCAN_INTERVAL_S
        env.pop("ETHOS_SLACK_WEBHOOK_URL", None)  # a drill never pages the real channel
        env.pop("ETHOS_AUTHORITY_FILE", None)
        env.pop("ETHOS_NOTIFY_CONFIG", None)
        started_stack = False
        try:
            if o.target is None:
                sd.mkdir(parents=True, exist_ok=True)
                (sd / "authority.yaml").write_text(f"primary: [{o.approved_by}]\nemergency: [drill-cto]\n")
                t0 = time.monotonic()
                base = free_base_port()
                code, res, err = _ethos(["stack", "up", "--base-port", str(base), "--state-dir", str(sd),
                                         "--weights", "blue=20,green=80", "--green-env", f"ETHOS_FAULTS={o.fault}",
                                         "--timeout", str(o.stack_timeout_s), "--json"], env, o.stack_timeout_s + 30)
                started_stack = code == 0
                tm.add("stack_up", t0, started_stack, f"base port {base}" if started_stack else err)
                if not started_stack:
                    return report
            stack = load_stack(sd)
            if stack is None:
                tm.add("stack", time.monotonic(), False, f"no stack file in {sd}")
                return report
            with sandbox_for(o.scenario, stack) as cloud:  # the cloudrun scenario's Cloud Run (drill/cloudrun.py)
                _drill_body(o, sd, stack, env, hook, report, tm, cloud)
        finally:
            if started_stack:
                t0 = time.monotonic()
                st = load_stack(sd)
                pids = dict(st.pids) if st else {}
                code, _, err = _ethos(["stack", "down", "--state-dir", str(sd), "--json"], env, 60)
                gone = code == 0 or _stopped(sd, pids)
                tm.add("stack_down", t0, gone, "stopped" if code == 0 else
                       (f"`stack down` said: {err.splitlines()[-1] if err else code}; " +
                        ("all processes gone after" if gone else "processes STILL RUNNING after") + " waiting"))
    return report


def _drill_body(o: DrillOptions, sd: Path, stack: Any, env: dict[str, str], hook: WebhookReceiver,
                report: DrillReport, tm: _Timer, cloud: CloudRunSandbox | None = None) -> None:
    blue_url = stack.revisions["blue"]
    t0 = time.monotonic()
    try:
        seeded, seed_detail = _seed_cache(blue_url)
    except httpx.HTTPError as e:
        seeded, seed_detail = False, f"{type(e).__name__}: {e}"
    tm.add("seed_cache", t0, seeded, f'"{SEED_QUESTION}" on blue: {seed_detail}')
    if o.scenario == "pii-leak" and stack.cache_url:
        t0 = time.monotonic()
        key = _inject_pii(stack.cache_url)
        tm.add("inject_pii_leak", t0, True, f"entry {key.rsplit(':', 1)[0]}:… holds a phone number")
        # nobody runs a scan: the revisions' periodic scan must find it and export the gauge
        t0 = time.monotonic()
        found, detail = _wait_for_pii_scan(dict(stack.revisions), 20.0 if o.target is None else 90.0)
        tm.add("pii_scan_detects", t0, found, detail)
    traffic = Traffic(stack.router).start()
    try:
        t0 = time.monotonic()
        enough = traffic.wait_for(int(o.min_green_requests / 0.8) + 10, o.traffic_timeout_s)
        tm.add("traffic", t0, enough, f"{traffic.total()} requests, {traffic.errors()} errors "
                                      f"(green {traffic.total('green')} answered)")
        t0 = time.monotonic()
        try:
            pii = o.scenario == "pii-leak"
            g = _guard_step(sd, stack.router, hook.url, o.policy, dict(stack.revisions) if pii else None)
            fired = bool(g["acts"]) and g["action"] in ("emergency", "standard", "gradual")
            if pii:  # the PII trigger itself, not the injected errors' trigger
                fired = bool(g["acts"]) and any(t in g["firing_triggers"] for t in g["pii_triggers"])
            tm.add("guard_detects", t0, fired, f"{g['action']} by {g['trigger']}: {g['reason']}")
        except Exception as e:  # noqa: BLE001 - a drill records, never crashes
            g = {"action": "none", "error": f"{type(e).__name__}: {e}", "policy": None, "policy_triggers": 0}
            fired = False
            tm.add("guard_detects", t0, False, g["error"])
        report.facts["guard"] = g
        traffic.phase = "during"
        t0 = time.monotonic()
        args = _procedure_args(o, sd, cloud.args() if cloud is not None else ())
        code, res, err = _ethos(args, env, 900)
        status = res.get("status") if o.scenario != "pii-leak" else ("done" if res.get("ok") else "failed")
        wall = time.monotonic() - t0
        proc_s = res.get("elapsed_s")
        if o.scenario == "pii-leak":
            rb = (res.get("steps") or {}).get("emergency_rollback") or {}
            proc_s = rb.get("procedure_s", rb.get("duration_s"))
        budget = budget_for(o.scenario, o.stages)
        detail = (f"{status}, exit {code}; procedure {proc_s if proc_s is not None else '?'} s, "
                  f"command {wall:.2f} s (with start-up)") if res else f"exit {code}: {err}"
        if o.scenario == "pii-leak":
            # the runbook's budget (< 1 min) is for the immediate actions: rollback and clear ALL
            steps = res.get("steps") or {}
            s = tm.add("pii_leak_response", t0, code == 0 and status == "done", detail)
            rb = steps.get("emergency_rollback") or {}
            rb_s = rb.get("procedure_s") if isinstance(rb.get("procedure_s"), (int, float)) else rb.get("duration_s")
            immediate = float(rb_s or 0) + sum(float((steps.get(k) or {}).get("duration_s") or 0)
                                               for k in ("scan_before", "clear_all_cache"))
            report.steps.append(StepTime("immediate_actions", round(immediate, 3), s.ok,
                                         "scan before clearing + emergency procedure + clear ALL cache "
                                         f"(the emergency command took {rb.get('duration_s')} s with start-up)", budget))
        else:
            # The budget is the procedure's (journal-timed, first step to last); the command's
            # wall time adds the interpreter's start-up, shown beside it.
            ok = code == 0 and status == "done"
            s = StepTime("rollback", round(float(proc_s), 3) if isinstance(proc_s, (int, float)) else round(wall, 3),
                         ok, detail, budget)
            report.steps.append(s)
            o.echo(f"{'ok ' if ok else 'FAIL'} {'rollback':<22} {s.duration_s:7.2f} s (budget {budget:g} s)  {detail}")
        report.facts["procedure_s"] = proc_s
        report.facts["rollback_result"] = {k: v for k, v in res.items() if k not in ("steps",)} if o.scenario != "pii-leak" else res
        traffic.phase = "after"
        time.sleep(1.0)  # a little traffic on blue alone
    finally:
        traffic.stop()
    report.facts["traffic"] = traffic.summary()
    rollback_ok = s.ok
    _checks(o, sd, stack, hook, report, tm, rollback_ok, g, fired, seeded, res, cloud)


def _checks(o: DrillOptions, sd: Path, stack: Any, hook: WebhookReceiver, report: DrillReport, tm: _Timer,
            rollback_ok: bool, g: dict[str, Any], fired: bool, seeded: bool, res: dict[str, Any],
            cloud: CloudRunSandbox | None = None) -> None:
    titles = dict(CHECKS)
    # 1. rollback works: the command succeeded and the router now sends everything to blue
    with RouterClient(stack.router, timeout=5) as router:
        try:
            weights: dict[str, int] | None = router.traffic().weights
        except TrafficError:
            weights = None
    on_blue = weights is not None and weights.get("blue") == 100
    after = report.facts["traffic"].get("after", {})
    where = ""
    if cloud is not None:  # Cloud Run's state (and gcloud's view of it) must say blue too
        cr = report.facts["cloudrun"] = cloud.facts()
        on_blue = on_blue and cr["weights"] == {"blue": 100, "green": 0} and cr.get("gcloud_agrees", True)
        view = ("gcloud agrees" if cr.get("gcloud_agrees") else f"gcloud: {cr['gcloud']}")
        where = f"Cloud Run {cr['in_force']} (tags {cr['tags']}; {view}); "
    report.checks.append(Check("rollback_works", titles["rollback_works"],
                               "pass" if rollback_ok and on_blue else "fail",
                               f"command {'succeeded' if rollback_ok else 'failed'}; {where}router weights {weights}; "
                               f"after: {after.get('requests', 0)} requests, {after.get('errors', 0)} errors"))
    # 2. cache invalidation: the question cached before is a MISS now
    t0 = time.monotonic()
    try:
        r = httpx.post(f"{stack.revisions['blue']}/api/ai/marketing-chat", json={"message": SEED_QUESTION},
                       timeout=CACHE_CHECK_TIMEOUT_S)
        xc = r.headers.get("x-cache")
    except httpx.HTTPError as e:
        xc = f"error {type(e).__name__}"
    ok = seeded and xc == "MISS"
    tm.add("verify_cache_miss", t0, ok, f"seeded HIT before: {seeded}; now {xc}")
    report.checks.append(Check("cache_invalidation_works", titles["cache_invalidation_works"],
                               "pass" if ok else "fail", f'"{SEED_QUESTION}" was HIT before the rollback, {xc} after'))
    # 3. monitoring alerts trigger (pii-leak: the PII-in-cache trigger itself)
    pii_note = ""
    if o.scenario == "pii-leak":
        pii = [t for t in g.get("firing_triggers") or [] if t in (g.get("pii_triggers") or [])]
        pii_note = (f"PII trigger {', '.join(pii)} fired; " if pii else
                    f"PII trigger {', '.join(g.get('pii_triggers') or []) or '(none in the policy)'} did NOT fire; ")
    report.checks.append(Check("monitoring_alerts_trigger", titles["monitoring_alerts_trigger"],
                               "pass" if fired else "fail",
                               f"{pii_note}guard policy {g.get('policy')!r}: {g.get('action')} by {g.get('trigger')} "
                               f"({'; '.join(g.get('firing') or []) or g.get('error') or 'nothing fired'})"))
    # 4. team receives notifications: the guard's alert and the procedure's notification
    bodies = [x["body"] for x in hook.received if isinstance(x.get("body"), dict)]
    alerts = [b for b in bodies if str(b.get("title", "")).startswith("ethos guard")]
    rollbacks = [b for b in bodies if b.get("type") == "ethos.rollback" and b.get("procedure")
                 and not str(b.get("title", "")).startswith("ethos guard")]
    ok = bool(alerts) and bool(rollbacks)
    report.checks.append(Check("team_receives_notifications", titles["team_receives_notifications"],
                               "pass" if ok else "fail",
                               f"webhook receiver on 127.0.0.1 got {len(hook.received)} posts: {len(alerts)} guard "
                               f"alert(s), {len(rollbacks)} rollback notification(s)"))
    # 5. documentation current
    rb = find_runbook(o.runbook)
    facts = runbook_facts(rb.read_text(encoding="utf-8")) if rb else None
    report.facts["runbook"] = {"path": str(rb) if rb else None, **(facts or {})}
    report.checks.append(documentation_check(facts, g.get("policy"), int(g.get("policy_triggers") or 0),
                                             date.today()))
    # the post-rollback actions the runbook asks for: incident report and evidence
    _post_rollback(sd, report, tm, res, o.scenario)


def _post_rollback(sd: Path, report: DrillReport, tm: _Timer, res: dict[str, Any], scenario: str) -> None:
    from ..incidents.evidence import export_evidence, stamp, verify_manifest
    from ..incidents.record import IncidentStore, after_rollback

    t0 = time.monotonic()
    rid = res.get("rollback_id") or ((res.get("steps") or {}).get("emergency_rollback") or {}).get("rollback_id")
    try:
        if scenario == "pii-leak":
            inc = IncidentStore(sd).load(str(res.get("incident")))
        else:
            inc = after_rollback(sd, str(rid), notify=False)  # idempotent: the rollback hook may have opened it
        done = [i["id"] for i in inc["checklist"] if i["done"]]
        tm.add("incident_report", t0, True, f"{inc['id']}: {len(done)}/{len(inc['checklist'])} checklist items ticked")
        report.facts["incident"] = inc["id"]
    except Exception as e:  # noqa: BLE001
        tm.add("incident_report", t0, False, f"{type(e).__name__}: {e}")
    t0 = time.monotonic()
    try:
        out = sd / "evidence" / stamp(time.time())
        exp = export_evidence(sd, out, since_s=3600, now=time.time())
        v = verify_manifest(out)
        tm.add("evidence_export", t0, exp.clean and v["ok"],
               f"{exp.counts}; PII {'clean' if exp.clean else 'FOUND'}; manifest {'verifies' if v['ok'] else 'BROKEN'}")
        report.facts["evidence"] = str(out)
    except Exception as e:  # noqa: BLE001
        tm.add("evidence_export", t0, False, f"{type(e).__name__}: {e}")


__all__ = ["DrillOptions", "run_drill", "free_base_port", "find_runbook"]
