"""One incident per trigger episode: which incident a finished rollback belongs to. Pure.

A bad release can cause many rollbacks in minutes (a no-op, a failed one, one resumed, an
emergency that supersedes a gradual ...). They are one episode and get one incident.
:func:`match_episode` decides, from the rollback's facts (:func:`episode_run`) and the stored
incident records, whether the rollback

- is already part of an incident (a refresh: resume after a kill, the CLI and the guard both
  calling the hook): that incident, whatever its status;
- belongs to an open incident (status neither ``resolved`` nor ``closed``) because it is
  **linked** to one of its rollbacks (``run_started.params.supersedes`` /
  ``params.escalated_from`` / a ``run_superseded`` event naming the other run, in either
  direction), or because it names the **same candidate revision** (``targets["green"]``) and
  started within the episode window (``$ETHOS_INCIDENT_EPISODE_S``, default 3600 s) of the end
  of that incident's last rollback;
- or opens a new incident.

Several candidates: a linked incident before a same-revision one, then the one whose last
rollback ended latest, then the greatest id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..procedures.journal import RunRecord
from ..settings import RolloutSettings

EPISODE_ENV = "ETHOS_INCIDENT_EPISODE_S"
#: default episode window, seconds
EPISODE_S = 3600.0
#: incident statuses after which no rollback attaches any more
CLOSED_STATUSES = frozenset({"resolved", "closed"})
#: incident severity, lowest first
SEVERITIES = ("low", "medium", "high", "critical")
_PROCEDURE_SEVERITY = {"gradual": "medium", "standard": "high", "emergency": "critical"}
#: causes, lowest first (unknown causes rank with "unspecified")
CAUSE_ORDER = ("unspecified", "drill", "cost", "cache", "latency", "errors", "corruption", "pii")
#: link kinds a run's journal may carry, as written by this run about another
LINK_KEYS = ("supersedes", "escalated_from", "superseded_by")
_LINK_WORDS = {"supersedes": "superseded", "escalated_from": "escalated from", "superseded_by": "superseded by"}
_REVERSE_WORDS = {"supersedes": "superseded by", "escalated_from": "escalated to", "superseded_by": "superseded"}


@dataclass(frozen=True)
class EpisodeRun:
    """What the rule needs to know of one rollback."""

    rollback_id: str
    green: str
    start_t: float
    end_t: float
    #: link kind (:data:`LINK_KEYS`) -> the other rollback id
    links: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EpisodeMatch:
    """The decision: ``incident_id`` None opens a new incident; ``why`` is shown in the timeline."""

    incident_id: str | None
    why: str
    refresh: bool = False


def episode_window_s(env: Mapping[str, str] | None = None) -> float:
    """``$ETHOS_INCIDENT_EPISODE_S`` in seconds (default 3600; unreadable or negative: default)."""
    return RolloutSettings.from_env(env).incident_episode_s


def links_of(run: RunRecord) -> dict[str, str]:
    """Link kind -> rollback id named in the run's journal. Pure."""
    out: dict[str, str] = {}
    params = run.params or {}
    for k in ("supersedes", "escalated_from"):
        if params.get(k):
            out[k] = str(params[k])
    for e in run.events:
        if e.get("event") == "run_superseded" and e.get("by"):
            out["superseded_by"] = str(e["by"])
    by = getattr(run, "superseded_by", None)
    if by and "superseded_by" not in out:
        out["superseded_by"] = str(by)
    return out


def run_bounds(run: RunRecord) -> tuple[float, float]:
    """(first, last) event time of the run. Pure (0, 0 for a journal without times)."""
    ts = [float(e["t"]) for e in run.events if isinstance(e.get("t"), (int, float))]
    return (min(ts), max(ts)) if ts else (0.0, 0.0)


def episode_run(run: RunRecord) -> EpisodeRun:
    """The rule's view of a journaled run. Pure."""
    start, end = run_bounds(run)
    return EpisodeRun(run.rollback_id, str((run.targets or {}).get("green") or "green"), start, end, links_of(run))


def members(inc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rollbacks of an incident record, oldest first (records written before episodes: one). Pure."""
    runs = inc.get("runs")
    if isinstance(runs, list) and runs:
        return [dict(r) for r in runs if isinstance(r, Mapping) and r.get("rollback_id")]
    rid = inc.get("rollback_id")
    if not rid:
        return []
    impact = inc.get("impact") or {}
    end = inc.get("rollback_end_t") or impact.get("window_until_t") or inc.get("opened_t") or 0.0
    cause = (inc.get("trigger") or {}).get("cause")
    return [{"rollback_id": str(rid), "green": str(inc.get("green") or "green"), "end_t": float(end),
             "start_t": float(end) - float(impact.get("rollback_duration_s") or 0.0), "links": {},
             "procedure": inc.get("procedure"), "status": inc.get("outcome"), "cause": cause,
             "severity": run_severity(inc.get("procedure"), cause), "why": "opened the incident",
             "duration_s": impact.get("rollback_duration_s"), "ended_at": impact.get("window_until"),
             "cache_entries_cleared": impact.get("cache_entries_cleared") or 0}]


def is_open(inc: Mapping[str, Any]) -> bool:
    """Rollbacks may still attach: the status is neither resolved nor closed. Pure."""
    return str(inc.get("status") or "open").lower() not in CLOSED_STATUSES


def _link(run: EpisodeRun, mems: Sequence[Mapping[str, Any]]) -> str | None:
    """Why ``run`` is linked to one of ``mems`` (text for the timeline), else None."""
    ids = {str(m["rollback_id"]) for m in mems}
    for k in LINK_KEYS:
        other = run.links.get(k)
        if other and other in ids:
            return f"{_LINK_WORDS[k]} {other}"
    for m in mems:
        for k in LINK_KEYS:
            if (m.get("links") or {}).get(k) == run.rollback_id:
                return f"{_REVERSE_WORDS[k]} {m['rollback_id']}"
    return None


def last_end(mems: Iterable[Mapping[str, Any]]) -> float:
    return max((float(m.get("end_t") or 0.0) for m in mems), default=0.0)


def judged_rollback(mems: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The rollback that says where the episode ended: the last to end that was not superseded
    (a superseded run stopped half-way; the one that took over finished the job). Pure."""
    if not mems:
        return None
    live = [m for m in mems if m.get("status") != "superseded"] or list(mems)
    return max(live, key=lambda m: (float(m.get("end_t") or 0.0), str(m["rollback_id"])))


def match_episode(run: EpisodeRun, incidents: Sequence[Mapping[str, Any]], window_s: float) -> EpisodeMatch:
    """The incident ``run`` belongs to (see the module docstring). Pure."""
    for inc in sorted(incidents, key=lambda i: str(i.get("id"))):
        if any(m["rollback_id"] == run.rollback_id for m in members(inc)):
            return EpisodeMatch(str(inc["id"]), "refresh", refresh=True)
    linked: list[tuple[float, str, str]] = []
    same: list[tuple[float, str, str]] = []
    for inc in incidents:
        if not is_open(inc) or not inc.get("id"):
            continue
        mems = members(inc)
        if not mems:
            continue
        end = last_end(mems)
        why = _link(run, mems)
        if why is not None:
            linked.append((end, str(inc["id"]), why))
            continue
        if run.green in {str(m.get("green") or "green") for m in mems} and run.start_t - end <= window_s:
            gap = max(0.0, run.start_t - end)
            last = max(mems, key=lambda m: float(m.get("end_t") or 0.0))["rollback_id"]
            same.append((end, str(inc["id"]),
                         f"same candidate revision {run.green}, started {gap:.0f} s after {last} ended "
                         f"(episode window {window_s:.0f} s)" if gap else
                         f"same candidate revision {run.green}, started while {last} ran"))
    for cands in (linked, same):
        if cands:
            _, iid, why = max(cands)
            return EpisodeMatch(iid, why)
    return EpisodeMatch(None, "opened the incident")


def run_severity(procedure: str | None, cause: str | None) -> str:
    """critical for an emergency or a PII / corruption cause, high standard, medium gradual, else low. Pure."""
    if cause in ("pii", "corruption"):
        return "critical"
    return _PROCEDURE_SEVERITY.get(str(procedure), "low")


def higher_severity(a: str | None, b: str | None) -> str:
    """The higher of two severities (unknown ranks lowest; ties keep ``a``). Pure."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    a_, b_ = a or "low", b or "low"
    return b_ if rank.get(b_, -1) > rank.get(a_, -1) else a_


def higher_cause(a: str | None, b: str | None) -> str | None:
    """The higher-ranked cause (:data:`CAUSE_ORDER`; ties and unknowns keep ``a``). Pure."""
    def rank(c: str | None) -> int:
        return CAUSE_ORDER.index(c) if c in CAUSE_ORDER else 0
    return b if b is not None and rank(b) > rank(a) else a


__all__ = ["EpisodeRun", "EpisodeMatch", "match_episode", "episode_run", "episode_window_s", "links_of",
           "members", "is_open", "last_end", "judged_rollback", "run_bounds", "run_severity", "higher_severity",
           "higher_cause",
           "EPISODE_ENV", "EPISODE_S", "CLOSED_STATUSES", "SEVERITIES", "CAUSE_ORDER", "LINK_KEYS"]
