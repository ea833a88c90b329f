"""The console's HTTP side: one page, its static files, and a JSON API scripts can use too.

Routes (documented in ``docs/console.md``):

- ``GET /``: the page; ``GET /static/...``: its scripts, styles and the vendored uPlot;
- ``GET /api/console/state``: revisions, weights, health, triggers, journal, incident, drill;
- ``GET /api/console/history[?since=T]``: the charted signals of the last hour, by column;
- ``GET /api/console/auth``: 204 when the ``X-Admin-API-Key`` header is right (the page checks
  a key once when it is entered);
- ``POST /api/console/actions/{emergency|gradual|weights|invalidate|drill}``: with the key;
  ``{"dry_run": true}`` answers the plan without acting;
- ``GET /metrics``: Prometheus text (refused admin requests and lockouts).

Errors are JSON ``{"error", "detail"}``: 401 no key, 403 wrong key, 503 no key configured,
429 too many wrong keys from this address (``Retry-After``), 400 bad body, 404 unknown
action, 409 another run holds the lock.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...security import AdminGate, AuthCounters, LimitSettings
from ..guard.history import GuardHistory
from ..guard.policy import Policy
from ..procedures.control import read_holder
from ..procedures.journal import Journal, JournalError
from ..stack.processes import ethos_argv as default_ethos_argv
from . import openapi
from .actions import ActionError, Operator
from .records import drill_command, last_drill, open_incident
from .sampler import Sampler
from .series import CHARTS, SeriesStore, columns
from .views import CHART_WINDOW_S, chart_specs, guard_is_fresh, revision_rows, timeline, trigger_rows

STATIC = Path(str(resources.files("ethos.rollout.console") / "static"))
ACTIONS = ("emergency", "gradual", "weights", "invalidate", "drill")


@dataclass
class Console:
    """Everything the routes share."""

    policy: Policy
    sampler: Sampler
    series: SeriesStore
    operator: Operator
    state_dir: Path
    admin_key: Callable[[], str | None]
    guard_history: GuardHistory
    ethos_argv: tuple[str, ...] = tuple(default_ethos_argv())

    # ------------------------------------------------------------------ reads

    def _triggers(self, now: float) -> dict[str, Any]:
        last = _last_record(self.guard_history.path)
        reading = self.sampler.latest()
        if guard_is_fresh(last, now, self.policy.interval_s):
            assert last is not None
            src, ev = "guard", last
        else:
            src, ev = "console", reading.evaluation or {}
        return {"source": src, "at": ev.get("t", ev.get("at")), "decision": ev.get("decision"),
                "last_call": reading.last_call if src == "console" else None,
                "unavailable": ev.get("unavailable") or {},
                "rows": trigger_rows(self.policy, ev.get("triggers") or [])}

    def state(self) -> dict[str, Any]:
        """The body of ``GET /api/console/state``."""
        now = time.time()
        r = self.sampler.latest()
        journal = Journal(self.state_dir)
        try:
            runs = timeline(journal.runs())
        except JournalError as e:
            runs = [{"error": str(e)}]
        holder = read_holder(journal.dir)
        lock = {k: v for k, v in holder.items() if k != "token"} if holder else None
        return {
            "generated_at": now, "sampled_at": r.at, "interval_s": self.sampler.interval_s,
            "router": self.sampler.router, "state_dir": str(self.state_dir.resolve()),
            "auth": {"configured": bool(self.admin_key())},
            "policy": {"name": self.policy.name, "candidate": self.policy.candidate,
                       "baseline": self.policy.baseline, "interval_s": self.policy.interval_s},
            "revisions": revision_rows(r.weights, self.sampler.revisions, r.health),
            "weights": r.weights, "traffic_error": r.traffic_error,
            "now": latest.to_dict()["values"] if (latest := self.series.latest()) else {},
            "triggers": self._triggers(now), "sources_unavailable": r.unavailable,
            "journal": runs, "lock": lock, "jobs": self.operator.running(),
            "incident": open_incident(self.state_dir), "drill": last_drill(self.state_dir),
            "actions": {"drill": drill_command(self.state_dir) is not None},
        }

    def history(self, since: float | None) -> dict[str, Any]:
        """The body of ``GET /api/console/history``."""
        revs = list(self.sampler.revisions)
        return {"window_s": CHART_WINDOW_S, "horizon_s": self.series.horizon_s, "revisions": revs,
                "baseline": self.policy.baseline, "candidate": self.policy.candidate,
                "charts": chart_specs(self.policy),
                **columns(self.series.samples(since), CHARTS, revs)}

    # ------------------------------------------------------------------ acts

    def drill(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Start ``ethos drill`` in the background (it starts a sandbox of its own), journaled."""
        cmd = drill_command(self.state_dir)
        who = body.get("executed_by")
        if not isinstance(who, str) or not who.strip():
            raise ActionError(400, "missing_executed_by", "say who you are: executed_by is recorded in the journal")
        if cmd is None:
            raise ActionError(501, "not_available", "drills are not available in this installation (ethos drill)")
        title = "run `ethos drill`: a sandbox stack of its own, a fault on its green, the emergency " \
                "procedure timed against the runbook's budgets, the test checklist, a report"
        if body.get("dry_run"):
            return 200, {"action": "drill", "dry_run": True, "lines": [title]}
        log = self.state_dir / "console" / "drill.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        reason = str(body.get("reason") or "monthly drill from the console")[:500]
        try:
            run = Journal(self.state_dir).start("drill", [{"name": "drill", "kind": "drill", "params": {},
                                                           "critical": True, "title": title}],
                                                params={"via": "console", "action": "drill"}, targets={},
                                                executed_by=who.strip()[:80], reason=reason)
        except JournalError as e:
            raise ActionError(500, "journal", str(e)) from None
        with log.open("ab") as out:
            proc = subprocess.Popen([*self.ethos_argv, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        run.step_started("drill", "drill", {"pid": proc.pid, "log": str(log)})
        t0 = time.monotonic()

        def reap() -> None:
            code = proc.wait()
            status = "ok" if code == 0 else "failed"
            msg = f"ethos drill exited {code} (see {log} and ethos drill status)"
            try:
                run.step_ended("drill", status, msg, {"exit_code": code}, time.monotonic() - t0)
                run.ended("done" if code == 0 else "failed", msg)
            except JournalError:
                pass

        threading.Thread(target=reap, name="console-drill-reaper", daemon=True).start()
        return 202, {"action": "drill", "status": "started", "rollback_id": run.rollback_id,
                     "pid": proc.pid, "log": str(log)}


def _last_record(path: Path, tail: int = 256 * 1024) -> dict[str, Any] | None:
    """The guard history's last complete line, read from the end (the file may be 50 MB)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - tail))
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # cut by a crash, or the first partial line of the tail
        if isinstance(rec, dict):
            return rec
    return None


def _err(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # an unknown path or method: JSON like every other error; the path is not echoed
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # JSON like every other error, and no traceback or exception text (it may quote input)
    return _err(500, "internal_error", "an unexpected error occurred; see the console's log")


def create_app(console: Console, *, start_sampler: bool = True,
               auth_limits: LimitSettings | None = None) -> Starlette:
    """The ASGI app; the sampler runs while the app is up (``start_sampler``).

    ``auth_limits``: the wrong-admin-key lockout (default: ``ETHOS_ADMIN_AUTH_*``).
    """
    registry = CollectorRegistry(auto_describe=True)
    gate = AdminGate(auth_limits or LimitSettings.from_env(), AuthCounters(
        Counter("ethos_console_admin_auth_failures", "Admin requests refused, by reason (missing, wrong,"
                " not_configured, locked_out).", ["reason"], registry=registry),
        Counter("ethos_console_admin_auth_lockouts", "Client addresses locked out after repeated wrong"
                " admin keys.", registry=registry)))

    def denied(request: Request) -> JSONResponse | None:
        # The console is the first hop: a client's X-Forwarded-For is not believed.
        address = gate.address(request.client.host if request.client else None, ())
        d = gate.check(address, request.headers.get("x-admin-api-key"), console.admin_key())
        return None if d is None else JSONResponse(d.body(), status_code=d.status, headers=d.headers() or None)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(console.state), headers={"Cache-Control": "no-store"})

    async def history(request: Request) -> Response:
        given = request.query_params.getlist("since")  # once, a finite number (or not at all)
        try:
            t = float(given[0]) if len(given) == 1 else None
        except ValueError:
            t = None
        if given and (t is None or not math.isfinite(t)):
            return _err(400, "invalid_since", "since must be unix seconds, once, e.g. 1764345600.5")
        return JSONResponse(console.history(t), headers={"Cache-Control": "no-store"})

    async def auth(request: Request) -> Response:
        return denied(request) or Response(status_code=204)

    async def action(request: Request) -> Response:
        name = request.path_params["action"]
        if name not in ACTIONS:
            # the name is not echoed: a path may hold personal data
            return _err(404, "unknown_action", f"no such action: {', '.join(ACTIONS)}")
        refused = denied(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            return _err(400, "invalid_json", "the body must be a JSON object")
        if not isinstance(body, dict):
            return _err(400, "invalid_json", "the body must be a JSON object")
        try:
            if name == "drill":
                status, payload = await run_in_threadpool(console.drill, body)
                return JSONResponse(payload, status_code=status)
            if body.get("dry_run"):
                return JSONResponse(await run_in_threadpool(console.operator.preview, name, body))
            job, outcome = await run_in_threadpool(console.operator.start, name, body)
        except ActionError as e:
            return _err(e.status, e.error, e.detail)
        if outcome is None:
            return JSONResponse({"rollback_id": job.rollback_id, "action": name, "status": "running",
                                 "detail": "still running: follow it in the journal"}, status_code=202)
        body_out = {"action": name, **outcome.to_dict()}
        if job.outcome and "incident" in job.outcome:
            body_out["incident"] = job.outcome["incident"]
        if outcome.status == "done":
            return JSONResponse(body_out)
        return JSONResponse({"error": "action_failed", "detail": outcome.message, **body_out}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if start_sampler:
            console.sampler.start()
        try:
            yield
        finally:
            if start_sampler:
                await run_in_threadpool(console.sampler.stop)

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/console/state", state),
        Route("/api/console/history", history),
        Route("/api/console/auth", auth),
        Route("/api/console/openapi.json", lambda request: JSONResponse(openapi.document(ACTIONS))),
        Route("/api/console/actions/{action}", action, methods=["POST"]),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan, exception_handlers={HTTPException: _http_error, Exception: _unexpected})
    app.state.admin_gate = gate
    return app


__all__ = ["Console", "create_app", "ACTIONS", "STATIC"]
