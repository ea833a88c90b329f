"""Policy evaluation: signal windows + clock + previous state -> per-trigger results, a decision
and the next state. Pure: no I/O, no clock of its own; the loop in :mod:`.loop` does the rest.

A rate trigger with ``sequential`` also breaches on a window whose rate passes the threshold
(at the test's ``confidence``) when the sequential test (:func:`.stats.rate_evidence`) finds
that window's count too unlikely from a revision at the normal rate: its exact p-value is under
the per-look share of the policy's false alarms a day. Its strength (-log10 p) and the level it
needs are in the trigger's ``evidence`` / ``evidence_needed`` and its reason.

Per trigger, one of:

- ``no-data``: no source reported the signal (a source down): alert and hold, never act;
- ``inconclusive``: too few samples in every window (or on the baseline): never act;
- ``ok``: the condition does not hold;
- ``watching``: it holds, for less than ``sustain`` (``time_left`` says how long to go);
- ``firing``: it has held for ``sustain`` or more.

Overall decision: the strongest action among triggers that fire *fresh* (``emergency`` >
``standard`` > ``gradual`` > ``notify``), else ``watch`` while any trigger is watching, else
``none``. No-data alerts once per outage (``notify``).

One incident, one rollback: a fired trigger is *latched* until it has been out of breach for
``clear_after`` (hysteresis, so a value hovering at the threshold cannot fire again and
again); after an action, an incident is open and actions of the same or lower strength are
held during ``cooldown`` and while any of its triggers still breaches; only a stronger
action (an escalation, e.g. a PII leak during a gradual rollback) goes through.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..sources.measurements import Measurement, Snapshot
from .policy import ACTION_RANK, Policy, Trigger
from .stats import Evidence, compare_proportions, compare_samples, rate_evidence, wilson_bounds
from .verdicts import STATUSES, Decision, Evaluation, GuardState, Incident, TriggerResult

# --------------------------------------------------------------------------- one trigger


@dataclass(frozen=True, slots=True)
class _Raw:
    """The condition of one trigger before sustain: breach / ok / inconclusive / no-data."""

    status: str  # breach | ok | inconclusive | no-data
    value: float | None = None
    samples: int = 0
    window_s: float | None = None
    bound: float | None = None
    baseline_value: float | None = None
    baseline_samples: int | None = None
    p_value: float | None = None
    revision: str = ""
    reason: str = ""
    evidence: Evidence | None = None  # the sequential test on this window, when it applies
    decided: bool = False  # ... and it decided (significant, and the effect is there)


def _pick(snapshot: Snapshot, t: Trigger, revision: str) -> tuple[Measurement | None, float]:
    """The shortest window with enough samples; else the longest window reported."""
    found: Measurement | None = None
    used = t.windows[-1]
    for w in t.windows:
        m = snapshot.get(revision, t.signal, w)
        if m is None:
            continue
        found, used = m, w
        if m.samples >= t.min_samples:
            return m, w
    return found, used


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _threshold_raw(policy: Policy, snapshot: Snapshot, t: Trigger, revision: str) -> _Raw:
    m, w = _pick(snapshot, t, revision)
    if m is None:
        return _Raw("no-data", revision=revision, reason=f"no source reported {t.signal} of {revision}")
    if m.samples < t.min_samples or m.value is None:
        return _Raw("inconclusive", m.value, m.samples, m.window_s or w, revision=revision,
                    reason=f"{m.samples} samples < {t.min_samples} needed")
    # Every window holding enough samples is a piece of evidence: the shortest reacts first
    # to a new fault, a longer one has the samples to prove it once the fault has lasted.
    # The first window that breaches is the one shown; otherwise the shortest usable one.
    candidates: list[tuple[Measurement, float]] = []
    for x in t.windows:
        if x < w:
            continue
        xm = snapshot.get(revision, t.signal, x)
        if xm is not None and xm.samples >= t.min_samples and xm.value is not None:
            candidates.append((xm, x))
    raws = [_judge(policy, snapshot, t, cm, cw, revision) for cm, cw in candidates]
    chosen = next((r for r in raws if r.status == "breach"), raws[0])
    if chosen.status != "breach":
        # Evidence building on a longer window than the one shown: say so (the operator sees
        # how far the sequential test is from deciding, the loop looks again sooner).
        best, best_ev = chosen, chosen.evidence
        for r in raws:
            if r.evidence is not None and (best_ev is None or r.evidence.log_p < best_ev.log_p):
                best, best_ev = r, r.evidence
        if best is not chosen and best_ev is not None:
            chosen = replace(chosen, evidence=best_ev, reason=f"{chosen.reason}; over {best.window_s or 0:.3g} s: "
                             f"{_sequential_text(t, best_ev)}")
    if chosen.status == "breach" and t.unless_baseline_too:
        b_rev = policy.revision_of(t.baseline.revision if t.baseline else "baseline")
        bm, _ = _pick(snapshot, t, b_rev)
        if bm is not None and bm.value is not None and bm.samples >= t.min_samples and t.passes(bm.value):
            return replace(chosen, status="ok", baseline_value=bm.value, baseline_samples=bm.samples,
                           reason=f"{b_rev} is at {_fmt(bm.value)} too: the traffic, not the release")
    return chosen


def _show(rate: bool) -> Callable[[float | None], str]:
    # Rates read as people say them in a page: "error rate 7.4% > 5% ... 1,912 requests".
    if rate:
        return lambda v: "n/a" if v is None else f"{v * 100:.3g}%"
    return _fmt


def _sequential_text(t: Trigger, ev: Evidence, effect: float | None = None, null_from: str = "") -> str:
    """``sequential: p 2.4e-11 <= 3.9e-08 at a normal 0.5% (4.6e-06 false alarms/day <= 0.01)``,
    and when the count is significant but the rate not sure enough to pass the threshold,
    ``..., but the rate is not 75%-sure past 5% (bound 4.6%)``."""
    seq = t.sequential
    assert seq is not None
    show = _show(True)
    p = math.exp(ev.log_p)
    verdict = "<=" if ev.significant else ">"
    null = f"{null_from}'s rate (99%-sure at least {show(ev.null)})" if null_from else f"a normal {show(ev.null)}"
    text = (f"sequential: p {p:.2g} {verdict} {math.exp(ev.log_level):.2g} at {null} "
            f"({ev.false_alarms_per_day:.2g} false alarms/day {verdict} {seq.alpha:g})")
    if ev.significant and effect is not None and not t.passes(effect):
        text += f", but the rate is not {seq.confidence:.0%}-sure past {show(t.threshold)} (bound {show(effect)})"
    return text


#: How sure the baseline's rate must be to raise the sequential test's null above ``normal``.
_BASELINE_CONFIDENCE = 0.99


def _evidence(policy: Policy, snapshot: Snapshot, t: Trigger, m: Measurement, w: float,
              revision: str) -> tuple[Evidence | None, bool, str]:
    """The sequential test on one window, when the trigger has one and the window's own rate
    passes the threshold; it decides when its count is significant against the normal rate (the
    test says it is not chance) AND the rate passes the threshold through its one-sided Wilson
    bound at the test's ``confidence`` (the effect is there). The null is the policy's normal
    rate, or the baseline's rate on the same window when that is clearly higher (its one-sided
    99% bound): the traffic, not the release. Returns (evidence, decided, text)."""
    seq = t.sequential
    if seq is None or m.events is None or m.samples <= 0 or not t.passes(m.events / m.samples):
        return None, False, ""
    lo, hi = wilson_bounds(m.events, m.samples, seq.confidence)
    effect = lo if t.worse == "greater" else hi
    null = seq.normal
    null_from = ""
    b_rev = policy.revision_of("baseline")
    if revision != b_rev:
        bm = snapshot.get(b_rev, t.signal, w)
        if bm is not None and bm.events is not None and bm.samples > 0:
            lo, hi = wilson_bounds(bm.events, bm.samples, _BASELINE_CONFIDENCE)
            b = lo if t.worse == "greater" else hi
            if (b > null) if t.worse == "greater" else (b < null):
                null, null_from = b, b_rev
    ev = rate_evidence(m.events, m.samples, t.threshold, null, t.worse, alpha_per_day=seq.alpha,
                       look_s=policy.look_s, windows=len(t.windows))
    if ev is None:
        return None, False, (f"no sequential test: {b_rev} is 99%-sure at {_show(True)(null)} or worse on "
                             "the same window (the traffic, not the release)")
    return ev, ev.significant and t.passes(effect), _sequential_text(t, ev, effect, null_from)


def _judge(policy: Policy, snapshot: Snapshot, t: Trigger, m: Measurement, w: float, revision: str) -> _Raw:
    """One window against the threshold (through the Wilson bound when ``confidence`` is set),
    and through the sequential test when the trigger has one."""
    assert m.value is not None
    compared = m.value
    bound = None
    if t.confidence is not None and m.events is not None:
        lo, hi = wilson_bounds(m.events, m.samples, t.confidence)
        bound = lo if t.worse == "greater" else hi
        compared = bound
    breach = t.passes(compared)
    ev, decided, ev_text = _evidence(policy, snapshot, t, m, w, revision)
    show = _show(m.events is not None)
    shown = show(m.value) + (f" (90%-sure at least {show(bound)})" if bound is not None and t.worse == "greater"
                            else f" (bound {show(bound)})" if bound is not None else "")
    name = t.signal.replace("_", " ")
    if not breach and decided:
        # the rate passes the threshold, and the sequential test says it is not chance
        breach = True
        shown = show(m.value)
    reason = f"{name} {shown} {t.comparator} {show(t.threshold)}" if breach else f"{name} {shown}"
    window = m.window_s or w
    reason = f"{reason} on {revision} over {window:.3g} s, {m.samples:,} samples"
    if ev_text:
        reason = f"{reason}; {ev_text}"
    return _Raw("breach" if breach else "ok", m.value, m.samples, window, bound, revision=revision,
                reason=reason, evidence=ev, decided=decided)


def _baseline_raw(policy: Policy, snapshot: Snapshot, t: Trigger, revision: str) -> _Raw:
    assert t.baseline is not None
    b_rev = policy.revision_of(t.baseline.revision)
    for w in t.windows:
        c = snapshot.get(revision, t.signal, w)
        b = snapshot.get(b_rev, t.signal, w)
        if c is not None and b is not None and c.samples >= t.min_samples and b.samples >= t.min_samples:
            break
    if c is None or b is None:
        who = revision if c is None else b_rev
        return _Raw("no-data", revision=revision, reason=f"no source reported {t.signal} of {who}")
    window = c.window_s or w
    if c.samples < t.min_samples or b.samples < t.min_samples:
        return _Raw("inconclusive", c.value, c.samples, window, baseline_value=b.value,
                    baseline_samples=b.samples, revision=revision,
                    reason=f"{revision} {c.samples} / {b_rev} {b.samples} samples < {t.min_samples} needed")
    if t.baseline.test == "mann_whitney":
        if c.distribution is None or b.distribution is None or not len(c.distribution) or not len(b.distribution):
            return _Raw("inconclusive", c.value, c.samples, window, baseline_value=b.value,
                        baseline_samples=b.samples, revision=revision,
                        reason=f"no per-request {t.signal} values (raw or histogram) yet to compare")
        cmp = compare_samples(c.distribution, b.distribution, t.worse)
    else:
        if c.events is None or b.events is None:
            return _Raw("no-data", revision=revision, reason=f"{t.signal} without event counts")
        cmp = compare_proportions(c.events, c.samples, b.events, b.samples, t.worse)
    significant = cmp.p_value < t.baseline.alpha
    big = t.passes(cmp.effect)
    if t.baseline.min_difference > 0:
        diff = cmp.candidate - cmp.baseline
        big = big and (diff >= t.baseline.min_difference if t.worse == "greater" else -diff >= t.baseline.min_difference)
    breach = significant and big
    reason = (
        f"{t.signal} {revision} {_fmt(cmp.candidate)} vs {b_rev} {_fmt(cmp.baseline)}: "
        f"ratio {_fmt(cmp.effect)} (needs {t.comparator} {t.threshold:g}), p={cmp.p_value:.2g} "
        f"(needs < {t.baseline.alpha:g}), n={c.samples}/{b.samples}"
    )
    return _Raw("breach" if breach else "ok", cmp.effect, c.samples, window, None, cmp.baseline,
                b.samples, cmp.p_value, revision, reason)


def _raw(policy: Policy, snapshot: Snapshot, t: Trigger) -> _Raw:
    if t.revision == "any":
        names = snapshot.revisions() or [policy.candidate, policy.baseline]
        raws = [_threshold_raw(policy, snapshot, t, n) for n in names]
        for status in ("breach", "ok", "inconclusive"):
            for r in raws:
                if r.status == status:
                    return r
        return raws[0]
    revision = policy.revision_of(t.revision)
    if t.baseline is not None:
        return _baseline_raw(policy, snapshot, t, revision)
    return _threshold_raw(policy, snapshot, t, revision)


# --------------------------------------------------------------------------- the decision


def evaluate(policy: Policy, snapshot: Snapshot, state: GuardState, now: float) -> Evaluation:
    """Evaluate every trigger of ``policy`` on ``snapshot`` at clock time ``now``. Pure."""
    breach_since = dict(state.breach_since)
    latched_at = dict(state.latched_at)
    clear_since = dict(state.clear_since)
    results: list[TriggerResult] = []
    fresh: list[TriggerResult] = []
    for t in policy.triggers:
        raw = _raw(policy, snapshot, t)
        breach_for = 0.0
        time_left = None
        if raw.status == "breach":
            since = breach_since.setdefault(t.name, now)
            breach_for = now - since
            status = "firing" if breach_for >= t.sustain_s else "watching"
            if status == "watching":
                time_left = t.sustain_s - breach_for
        else:
            # A break in the evidence (no data, too few samples) restarts the sustain clock:
            # the guard never assumes a breach it did not see.
            breach_since.pop(t.name, None)
            status = raw.status
        latched = t.name in latched_at
        if latched:
            if raw.status in ("ok", "inconclusive"):
                clear_since.setdefault(t.name, now)
                if now - clear_since[t.name] >= policy.clear_after_s:
                    latched_at.pop(t.name, None)
                    clear_since.pop(t.name, None)
                    latched = False
            else:
                clear_since.pop(t.name, None)
        r = TriggerResult(
            trigger=t.name, status=status, action=t.action, severity=t.severity,
            revision=raw.revision, signal=t.signal, comparator=t.comparator,
            threshold=t.threshold, value=raw.value, samples=raw.samples,
            window_s=raw.window_s, bound=raw.bound, baseline_value=raw.baseline_value,
            baseline_samples=raw.baseline_samples, p_value=raw.p_value,
            evidence=None if raw.evidence is None else round(raw.evidence.strength, 3),
            evidence_needed=None if raw.evidence is None else round(raw.evidence.needed, 3),
            breach_for_s=breach_for, time_left_s=time_left, latched=latched, reason=raw.reason,
        )
        results.append(r)
        if status == "firing" and not latched:
            fresh.append(r)

    decision, incident, last_action_at = _decide(policy, state, results, fresh, now)
    for r in fresh:
        latched_at[r.trigger] = now  # fired once: it re-arms only after clear_after
        clear_since.pop(r.trigger, None)

    # No data alerts once per trigger and outage: a trigger already alerted stays quiet until
    # it has data again; a source that goes down later still alerts for its own triggers.
    no_data = {r.trigger for r in results if r.status == "no-data"}
    # A source that says its failure is short (quota, deadline: retried with backoff) holds
    # its triggers without an alert until the failure lasts; already alerted ones stay so.
    quiet = {r.trigger for r in results if r.status == "no-data" and r.signal in snapshot.quiet}
    newly = sorted(no_data - quiet - state.no_data_alerted)
    if newly:
        sources = sorted(set(snapshot.unavailable)) or ["signals not reported by any source"]
        msg = (
            f"guard: no data for {len(newly)} trigger(s) ({', '.join(newly[:5])}"
            f"{'...' if len(newly) > 5 else ''}) from {', '.join(sources)}; holding, no rollback"
            " is taken on missing data"
        )
        decision = replace(decision, alerts=(*decision.alerts, msg))
        if decision.action in ("none", "watch"):
            decision = replace(decision, action="notify", reason=msg)
    no_data_alerted = frozenset((no_data - quiet) | (quiet & state.no_data_alerted))

    new_state = GuardState(
        breach_since=breach_since,
        latched_at=latched_at,
        clear_since=clear_since,
        incident=incident,
        last_action_at=last_action_at,
        no_data_alerted=no_data_alerted,
    )
    return Evaluation(now, tuple(results), decision, new_state, dict(snapshot.unavailable),
                      dict(snapshot.weights) if snapshot.weights is not None else None)


def _decide(
    policy: Policy,
    state: GuardState,
    results: list[TriggerResult],
    fresh: list[TriggerResult],
    now: float,
) -> tuple[Decision, Incident | None, float | None]:
    incident = state.incident
    last_action_at = state.last_action_at
    breaching = {r.trigger for r in results if r.status in ("firing", "watching")}
    # An incident closes once the cooldown is over and none of its triggers breaches.
    if incident is not None and last_action_at is not None:
        if now - last_action_at >= policy.cooldown_s and not (set(incident.triggers) & breaching):
            incident = None

    if not fresh:
        still = [r for r in results if r.status == "firing"]
        if still:
            top = max(still, key=lambda r: ACTION_RANK[r.action])
            held = "already fired; re-arms after clear_after out of breach"
            if incident is not None:
                held = f"incident open ({incident.action} by {incident.trigger}): one incident, one rollback"
            return (
                Decision("watch", top.trigger, f"{top.trigger}: {top.reason} (held: {held})", held=held),
                incident,
                last_action_at,
            )
        watching = [r for r in results if r.status == "watching"]
        if watching:
            w = min(watching, key=lambda r: r.time_left_s or 0.0)
            return (
                Decision("watch", w.trigger, f"{w.reason}; fires in {w.time_left_s:.0f}s if it holds"),
                incident,
                last_action_at,
            )
        return Decision("none"), incident, last_action_at

    fresh.sort(key=lambda r: (-ACTION_RANK[r.action], r.trigger))
    top = fresh[0]
    reason = f"{top.trigger}: {top.reason}"
    notify_only = [r for r in fresh if r.action == "notify"]
    alerts = tuple(f"{r.trigger}: {r.reason}" for r in notify_only)
    if top.action == "notify":
        return Decision("notify", top.trigger, reason, alerts=alerts), incident, last_action_at

    rank = ACTION_RANK[top.action]
    if incident is not None and rank <= ACTION_RANK[incident.action]:
        # The incident lasts at least the cooldown and while any of its triggers breaches.
        left = max(0.0, policy.cooldown_s - (now - (last_action_at or now)))
        held = (
            f"incident open since {incident.opened_at:.0f} ({incident.action} by {incident.trigger}, "
            f"cooldown {left:.0f}s left): one incident, one rollback"
        )
        grown = tuple(dict.fromkeys((*incident.triggers, *(r.trigger for r in fresh if r.action != "notify"))))
        incident = replace(incident, triggers=grown)
        msg = f"{reason} (held: {held})"
        return Decision("watch", top.trigger, msg, held=held, alerts=alerts), incident, last_action_at

    needs_approval = policy.needs_approval(top.action)
    triggers = tuple(r.trigger for r in fresh if r.action != "notify")
    if incident is not None:  # escalation: the incident grows, keeps its start
        triggers = tuple(dict.fromkeys((*incident.triggers, *triggers)))
        new_incident = Incident(incident.opened_at, top.action, top.trigger, triggers)
    else:
        new_incident = Incident(now, top.action, top.trigger, triggers)
    if needs_approval:
        alerts = (*alerts, f"{top.action} rollback recommended by {top.trigger}: {top.reason}; "
                  f"approve with: ethos rollback {top.action} --approved-by NAME")
    return (
        Decision(top.action, top.trigger, reason, needs_approval=needs_approval, alerts=alerts),
        new_incident,
        now,
    )


def action_failed(state: GuardState, previous: GuardState) -> GuardState:
    """The state to keep when the decided action could not be carried out: as before it, but
    with the sustain clocks kept, so the next evaluation may try again at once."""
    return replace(previous, breach_since=dict(state.breach_since), clear_since=dict(previous.clear_since))


__all__ = [
    "STATUSES",
    "Decision",
    "Evaluation",
    "GuardState",
    "Incident",
    "TriggerResult",
    "action_failed",
    "evaluate",
]
