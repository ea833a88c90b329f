"""The I/O of each step kind. Every action is idempotent: it looks first, acts only if needed.

An action returns a :class:`StepResult` or raises a ``RolloutError`` (the runner turns it
into a failed step). Decisions are delegated to the pure functions of :mod:`.assess` and
:mod:`.cache_decision`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ..errors import RolloutError
from ..notify import Notification, deliver
from ..sources.signals import RevisionSignals, SignalsUnavailable
from .assess import blue_degraded, confirm_issue, green_emergency
from .cache_decision import decide_cache
from .context import Context, Status, StepResult
from .control import ROLLBACKS
from .plans import Step
from .revisions import RevisionRefused

Action = Callable[[Context, Step], StepResult]


def _w(weights: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in weights.items())


def _read_signals(ctx: Context) -> dict[str, RevisionSignals] | None:
    if ctx.signals is None:
        return None
    return ctx.signals.read()


def _show_signals(ctx: Context, sig: dict[str, RevisionSignals]) -> None:
    """Print the signals per revision (the runbook's step 1: look before acting)."""
    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0f} ms"

    for name, s in sig.items():
        ctx.emit(f"  {name:<8} {s.count:6d} req  err {s.error_rate:6.2%}  p50 {ms(s.p50_ms):>8}  "
                 f"p95 {ms(s.p95_ms):>8}  TTFT p50 {ms(s.ttft_p50_ms):>8}  p95 {ms(s.ttft_p95_ms):>8}"
                 + (f"  ({s.window_s:g} s window)" if s.window_s else ""))


def snapshot(ctx: Context, step: Step) -> StepResult:
    weights = ctx.traffic.get_weights()
    unknown = [n for n in (ctx.blue, ctx.green) if n not in weights]
    if unknown:
        return StepResult("failed", f"traffic target does not know revision(s) {', '.join(unknown)} "
                          f"(it has {', '.join(weights) or 'none'})", {"weights": weights})
    health: dict[str, Any] = {}
    for name in step.params.get("revisions", list(ctx.targets.revisions)):
        try:
            h = ctx.revisions.health(name)
            health[name] = {"status": h.get("status"), "cache_format_version":
                            h.get("cache_format_version"), "revision": h.get("revision")}
        except RolloutError as e:
            health[name] = {"status": "unreachable", "error": str(e)}
    values: dict[str, Any] = {"weights": weights, "health": health}
    try:  # blue's signals before the rollback: the baseline `ethos rollback verify` compares to
        sig = _read_signals(ctx)
        if sig is not None:
            values["signals"] = {k: v.to_dict() for k, v in sig.items()}
    except SignalsUnavailable as e:
        values["signals_error"] = str(e)
    if health.get(ctx.blue, {}).get("status") == "unreachable":
        return StepResult("failed", f"{ctx.blue} (the revision to roll back to) is unreachable: "
                          f"{health[ctx.blue]['error']}", values)
    shown = "; ".join(f"{n} {h['status']}" + (f" (format {h.get('cache_format_version')})"
                      if h.get("cache_format_version") is not None else "") for n, h in health.items())
    return StepResult("ok", f"traffic {_w(weights)}; {shown}", values)


def decide(ctx: Context, step: Step) -> StepResult:
    health = ctx.results.get("snapshot", {}).get("health", {})
    p = step.params

    def fmt(name: str) -> int | None:
        v = health.get(name, {}).get("cache_format_version")
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else None

    d = decide_cache(p.get("mode", "clear"), fmt(p.get("blue", ctx.blue)),
                     fmt(p.get("green", ctx.green)), p.get("cause", "unspecified"))
    if d.action == "refuse":
        return StepResult("failed", d.reason, d.to_dict())
    return StepResult("ok", f"cache will be {'cleared' if d.action == 'clear' else 'preserved'}: "
                      f"{d.reason}", d.to_dict())


def verify_issue(ctx: Context, step: Step) -> StepResult:
    """Standard step 1, on the router's longest window (the runbook: "> 2 % for 5 minutes")."""
    force = bool(step.params.get("force"))
    try:
        source = ctx.sustained_signals or ctx.signals
        sig = source.read() if source is not None else None
    except SignalsUnavailable as e:
        if force:
            return StepResult("warn", f"signals unavailable ({e}); going ahead (--force)")
        return StepResult("stopped", f"cannot verify the issue: {e}; use --force to roll back anyway")
    if sig is None:
        if force:
            return StepResult("warn", "no signal source; going ahead (--force)")
        return StepResult("stopped", "no signal source to verify the issue; use --force")
    values: dict[str, Any] = {"signals": {k: v.to_dict() for k, v in sig.items()}}
    _show_signals(ctx, sig)
    ok, reasons = confirm_issue(sig, ctx.blue, ctx.green, ctx.thresholds)
    values["confirmed"], values["reasons"] = ok, reasons
    if ok:
        return StepResult("ok", "issue confirmed: " + "; ".join(reasons), values)
    if force:
        return StepResult("warn", "issue not confirmed (" + "; ".join(reasons) + "); going ahead (--force)",
                          values)
    return StepResult("stopped", "issue not confirmed: " + "; ".join(reasons)
                      + "; nothing changed (use --force to roll back anyway)", values)


def baseline(ctx: Context, step: Step) -> StepResult:
    try:
        sig = _read_signals(ctx)
    except SignalsUnavailable as e:
        return StepResult("warn", f"no baseline ({e}); monitoring uses the runbook's thresholds only")
    if sig is None:
        return StepResult("warn", "no signal source; stages are timed but not watched")
    b = sig.get(step.params.get("blue", ctx.blue))
    values = {"signals": {k: v.to_dict() for k, v in sig.items()},
              "baseline": b.to_dict() if b else None}
    if b is None:
        return StepResult("warn", f"no signals for {ctx.blue} yet", values)
    return StepResult("ok", f"{ctx.blue}: {b.count} requests, error rate {b.error_rate:.1%}, "
                      f"p95 {b.p95_ms if b.p95_ms is not None else 'n/a'} ms", values)


def set_traffic(ctx: Context, step: Step) -> StepResult:
    """Put the step's weights in force, under control (checked, fenced).

    In a rollback (:data:`~.control.ROLLBACKS`) the step never raises green's share: a stage
    at or above green's current share is skipped and says so (only an operator raises green).
    """
    target = {k: int(v) for k, v in step.params["weights"].items()}
    before = ctx.traffic.get_weights()
    if ctx.procedure in ROLLBACKS and target.get(ctx.green, 0) > before.get(ctx.green, 0):
        return StepResult("skipped", f"{ctx.green} is at {before.get(ctx.green, 0)}%, below this stage's "
                          f"{target.get(ctx.green, 0)}%: a rollback never raises {ctx.green}'s share",
                          {"before": before, "after": before, "not_raised": True})
    if all(before.get(k, 0) == v for k, v in target.items()):
        return StepResult("skipped", f"already {_w(target)}", {"before": before, "after": before})
    with ctx.control.acting() as fence:
        after = ctx.traffic.set_weights(target, fence=fence)
    values = {"before": before, "after": after}
    if any(after.get(k, 0) != v for k, v in target.items()):
        return StepResult("failed", f"asked {_w(target)} but traffic is {_w(after)}", values)
    return StepResult("ok", f"{_w(after)} (was {_w(before)})", values)


def collect_top(ctx: Context, step: Step) -> StepResult:
    if ctx.cache_action() == "preserve":
        return StepResult("skipped", "cache preserved: nothing to warm")
    try:
        qs = ctx.revisions.top_questions(step.params["revision"], int(step.params["n"]))
    except RevisionRefused as e:
        hint = " (the revision has no /api/admin/cache/top route)" if e.status == 404 else ""
        return StepResult("warn", f"cannot read the most asked questions{hint}: {e}", {"questions": []})
    return StepResult("ok", f"{len(qs)} questions remembered", {"questions": qs})


def invalidate_cache(ctx: Context, step: Step) -> StepResult:
    name = step.params["revision"]
    if ctx.cache_action() == "preserve":
        return StepResult("skipped", "cache preserved (see decide_cache)")
    removed = ctx.revisions.invalidate_all(name)
    return StepResult("ok", f"removed {removed} entries on {name}", {"removed": removed})


def warm_cache(ctx: Context, step: Step) -> StepResult:
    if ctx.cache_action() == "preserve":
        return StepResult("skipped", "cache preserved: no warming needed")
    qs = list(ctx.results.get("collect_top", {}).get("questions") or [])
    if not qs:
        return StepResult("skipped", "no questions to warm with")
    url = ctx.revisions.url(step.params["revision"])

    def ask(q: str) -> bool:
        try:
            return ctx.revisions.chat(url, q).status == 200
        except RolloutError:
            return False

    with ThreadPoolExecutor(max_workers=4) as pool:
        ok = sum(pool.map(ask, qs))
    values = {"asked": len(qs), "answered": ok}
    status: Status = "ok" if ok == len(qs) else "warn"
    return StepResult(status, f"warmed {ok}/{len(qs)} questions on {step.params['revision']}", values)


def verify_traffic(ctx: Context, step: Step) -> StepResult:
    target = {k: int(v) for k, v in step.params["weights"].items()}
    now: dict[str, int] = {}
    for attempt in range(3):
        now = ctx.traffic.get_weights()
        if all(now.get(k, 0) == v for k, v in target.items()):
            return StepResult("ok", f"traffic is {_w(now)}", {"weights": now})
        ctx.sleep(0.2 * (attempt + 1))
    return StepResult("failed", f"traffic is {_w(now)}, expected {_w(target)}", {"weights": now})


def verify_health(ctx: Context, step: Step) -> StepResult:
    required = set(step.params.get("required", [ctx.blue]))
    health: dict[str, Any] = {}
    bad_required: list[str] = []
    bad_other: list[str] = []
    for name in step.params.get("revisions", list(ctx.targets.revisions)):
        try:
            st = ctx.revisions.health(name).get("status")
        except RolloutError as e:
            st = f"unreachable ({e})"
        health[name] = st
        if st != "ok":
            (bad_required if name in required else bad_other).append(f"{name}: {st}")
    values = {"health": health}
    if bad_required:
        return StepResult("failed", "health not ok: " + "; ".join(bad_required), values)
    if bad_other:
        return StepResult("warn", "required revisions ok; others: " + "; ".join(bad_other), values)
    return StepResult("ok", "all revisions ok", values)


def probe(ctx: Context, step: Step) -> StepResult:
    base = ctx.targets.router or ctx.revisions.url(ctx.blue)
    r = ctx.revisions.chat(base, step.params["message"])
    values = {"status": r.status, "reply_chars": len(r.reply), "cache": r.cache, "revision": r.revision}
    if r.status != 200 or not r.reply.strip():
        return StepResult("failed", f"probe answered {r.status} with {len(r.reply)} chars {r.detail}".strip(), values)
    expect = step.params.get("expect_revision")
    # on Cloud Run a revision reports its own name (marketing-api-00012-xuv): the one the tag
    # of ``expect`` pointed at when the targets were resolved is ``expect`` too
    also = (ctx.targets.cloudrun.get("resolved") or {}).get(expect) if expect else None
    if expect and r.revision and r.revision not in (expect, also):
        return StepResult("failed", f"probe was answered by {r.revision}, expected {expect}"
                          + (f" ({also})" if also else ""), values)
    return StepResult("ok", f"200, {len(r.reply)} chars, answered by {r.revision or '?'} ({r.cache})", values)


def monitor(ctx: Context, step: Step) -> StepResult:
    """A gradual stage's window: watch both revisions every ``--poll`` seconds.

    - green shows a runbook *emergency* trigger (:func:`~.assess.green_emergency`) -> ``escalate``:
      the session starts an emergency rollback, which preempts this run;
    - blue degrades as it takes the load -> ``held`` (traffic left as is, reasons journaled);
    - the window ends with too few requests on blue to call it healthy -> ``inconclusive``
      (the run holds; it does not pass);
    - the stage was skipped (green already below it) -> ``skipped``.
    Control is checked at every read: a run that lost it stops at once.
    """
    seconds = float(step.params["seconds"])
    blue, pct = step.params.get("blue", ctx.blue), step.params.get("green_percent")
    green = step.params.get("green", ctx.green)
    shift = ctx.results.get(f"shift_traffic@{pct}", {})
    if shift.get("not_raised"):
        return StepResult("skipped", f"stage skipped: {green} was already below {pct}%",
                          {"skipped_stage": pct})
    now = ctx.traffic.get_weights().get(green, 0)
    if pct is not None and now < int(pct):  # e.g. resumed after an emergency: nothing to watch here
        return StepResult("skipped", f"stage skipped: {green} is at {now}% now, below this stage's {pct}%",
                          {"skipped_stage": pct, "green_now": now})
    base_d = ctx.results.get("baseline", {}).get("baseline")
    base = RevisionSignals.from_dict(base_d) if base_d else None
    if ctx.signals is None:
        ctx.sleep(seconds)
        ctx.control.check()
        return StepResult("warn", f"waited {seconds:g} s unwatched (no signal source)")
    start, reads, last, last_green = ctx.clock(), 0, None, None
    errors = 0
    while True:
        elapsed = ctx.clock() - start
        if elapsed >= seconds and reads > 0:
            break
        ctx.sleep(min(ctx.poll_s, max(0.0, seconds - elapsed)))
        ctx.control.check()
        try:
            sig = ctx.signals.read()
        except SignalsUnavailable as e:
            errors += 1
            ctx.emit(f"  monitor: signals unavailable ({e})")
            if errors >= 3:
                return StepResult("held", f"held at green={pct}%: cannot read signals ({e})",
                                  {"reads": reads})
            continue
        reads += 1
        last, last_green = sig.get(blue), sig.get(green)
        values: dict[str, Any] = {"reads": reads, "blue": last.to_dict() if last else None,
                                  "green": last_green.to_dict() if last_green else None,
                                  "elapsed_s": round(ctx.clock() - start, 3)}
        urgent = green_emergency(last_green, green, ctx.thresholds)
        if urgent:
            values["reasons"] = urgent
            return StepResult("escalate", f"{green} at {pct}% shows an emergency trigger: "
                              + "; ".join(urgent), values)
        reasons = blue_degraded(last, base, blue, ctx.thresholds)
        if reasons:
            values["reasons"] = reasons
            return StepResult("held", f"held at green={pct}%: " + "; ".join(reasons)
                              + " (fix, then `ethos rollback resume`)", values)
        if last is not None:
            ctx.emit(f"  monitor {ctx.clock() - start:6.1f}/{seconds:g} s: {blue} "
                     f"{last.count} req, err {last.error_rate:.1%}, p95 {last.p95_ms} ms"
                     + (f"; {green} {last_green.count} req, err {last_green.error_rate:.1%}"
                        if last_green is not None else ""))
    values = {"reads": reads, "blue": last.to_dict() if last else None,
              "green": last_green.to_dict() if last_green else None}
    seen = 0 if last is None else last.count
    if seen < ctx.thresholds.min_samples:
        window = f" in the {last.window_s:g} s window" if last is not None and last.window_s else ""
        values["needs_requests"] = ctx.thresholds.min_samples
        return StepResult("inconclusive", f"inconclusive at green={pct}%: {seen} requests on {blue}{window}, "
                          f"needs {ctx.thresholds.min_samples} to call it healthy; traffic left as is "
                          "(send traffic, then `ethos rollback resume`)", values)
    return StepResult("ok", f"{blue} stayed healthy for {seconds:g} s ({reads} reads, {seen} requests)", values)


def notification(ctx: Context, outcome: str, message: str = "") -> Notification:
    """The notification of this run (also sent by the runner when a run fails or holds)."""
    title = f"ROLLBACK {'EXECUTED' if outcome == 'done' else outcome.upper()} - Marketing Agent"
    details: dict[str, Any] = {}
    if message:
        details["Detail"] = message
    if ctx.approved_by:
        details["Approved By"] = ctx.approved_by
    if ctx.authority:
        details["Authority"] = ctx.authority
    cache = ctx.results.get("decide_cache")
    if cache:
        details["Cache"] = f"{cache.get('action')}: {cache.get('reason')}"
    return Notification(title=title, reason=ctx.reason or "(none given)",
                        time=datetime.now(UTC).isoformat(timespec="seconds"),
                        executed_by=ctx.executed_by, procedure=ctx.procedure,
                        rollback_id=ctx.run.rollback_id, outcome=outcome, details=details)


#: the journal note written as soon as a notifier has taken the run's final notification
DELIVERED_NOTE = "notification delivered"


def delivered_before(events: list[dict[str, Any]]) -> set[str]:
    """Notifiers that took this run's final ("done") notification in an earlier attempt. Pure."""
    return {str(e["values"]["notifier"]) for e in events
            if e.get("event") == "note" and e.get("message") == DELIVERED_NOTE
            and isinstance(e.get("values"), dict) and e["values"].get("outcome") == "done"
            and e["values"].get("notifier")}


def send(ctx: Context, n: Notification, *, once: bool = False) -> list[dict[str, Any]]:
    """Deliver to every notifier; each failed attempt becomes a journal note.

    ``once`` (the final notification): a notifier that took it in an earlier attempt of this
    run (``ctx.delivered``, from the journal) is not sent it again, and each delivery is
    journaled the moment it succeeds, so a process killed between two notifiers, or after
    sending and before the step's end is journaled, does not notify twice on ``resume``.
    """
    def on_failure(who: str, attempt: int, error: str) -> None:
        ctx.run.note("notification attempt failed", notifier=who, attempt=attempt, error=error)

    out: list[dict[str, Any]] = []
    for notifier in ctx.notifiers:
        who = notifier.describe()
        if once and who in ctx.delivered:
            out.append({"notifier": who, "ok": True, "attempts": 0, "error": "",
                        "note": "delivered in an earlier attempt of this run"})
            continue
        d = deliver([notifier], n, attempts=ctx.notify_attempts, backoff_s=ctx.notify_backoff_s,
                    sleep=ctx.sleep, on_failure=on_failure)[0]
        if once and d.ok:
            ctx.run.note(DELIVERED_NOTE, notifier=who, outcome=n.outcome)
            ctx.delivered.add(who)
        out.append(d.to_dict())
    return out


def notify(ctx: Context, step: Step) -> StepResult:
    if not ctx.notifiers:
        return StepResult("skipped", "no notifier configured (set ETHOS_SLACK_WEBHOOK_URL or "
                          "ETHOS_NOTIFY_WEBHOOK_URL)")
    deliveries = send(ctx, notification(ctx, "done"), once=True)
    failed = [d for d in deliveries if not d["ok"]]
    values = {"deliveries": deliveries}
    if failed:
        return StepResult("warn", "notification failed (rollback stands): "
                          + "; ".join(f"{d['notifier']}: {d['error']}" for d in failed), values)
    return StepResult("ok", "sent to " + ", ".join(d["notifier"] for d in deliveries), values)


ACTIONS: dict[str, Action] = {
    "snapshot": snapshot,
    "decide_cache": decide,
    "verify_issue": verify_issue,
    "baseline": baseline,
    "set_traffic": set_traffic,
    "collect_top": collect_top,
    "invalidate_cache": invalidate_cache,
    "warm_cache": warm_cache,
    "verify_traffic": verify_traffic,
    "verify_health": verify_health,
    "probe": probe,
    "monitor": monitor,
    "notify": notify,
}

__all__ = ["ACTIONS", "Action", "notification", "send", "delivered_before", "DELIVERED_NOTE"]
