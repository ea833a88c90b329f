"""Preserve Evidence: the incident window's logs, signals, guard evaluations and journal, hashed.

``export_evidence`` writes into one directory (names carry the export time as the runbook's
``rollback_logs_$(date +%Y%m%d_%H%M%S).json`` do)::

    rollback_logs_YYYYmmdd_HHMMSS.json      the revisions' JSON log lines of the window (a JSON
                                            array, one record per line)
    router_log_YYYYmmdd_HHMMSS.log          the router's log lines of the window, as it wrote them
                                            (only when the stack's router left a log)
    rollback_metrics_YYYYmmdd_HHMMSS.json   signal time series (from the guard's evaluations)
                                            and the router's stats at export time
    guard_evaluations_YYYYmmdd_HHMMSS.jsonl every guard evaluation of the window
    rollback_journal_YYYYmmdd_HHMMSS.jsonl  every journal event of the window
    manifest.json                           SHA-256 and size of each file, the window, the scan
    quarantine/                             (only when PII was found) the raw files that held it

The export (the router's log too) is scanned for PII (``ethos.pii``) line by line; findings are reported by file,
line and entity type, never by value, and make the export fail. A file that holds PII is
quarantined: the raw file is moved to ``quarantine/`` (directory 0700, files 0600) and a copy
with every finding masked (``ethos.pii.redact``: ``<EMAIL_ADDRESS>``) takes its place; the
manifest names both (``files`` the redacted copy, ``quarantine`` the raw file, with their
hashes), so no raw PII is left in clear beside the export. ``verify_manifest`` re-hashes both.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...pii import DEFAULT_ALLOW, detect
from ...pii import log_safe as redact
from ..errors import PermanentError, RolloutError, RouterReadError
from ..procedures.journal import Journal, JournalError
from ..router.client import RouterClient
from ..stack.state import load_stack
from .cloudlogging import CloudLogs
from .cloudlogging import request_counts as cloud_request_counts

MANIFEST = "manifest.json"
#: where the raw files that held PII are moved, inside the export
QUARANTINE = "quarantine"
#: log lines that describe a request (the access log of ``ethos serve``)
REQUEST_MSG = "request"
#: where ``ethos stack up`` sends the router's output, under the state dir (``stack.state.plan_stack``)
ROUTER_LOG = Path("logs") / "router.log"
#: how the router's start line begins (``ethos router``, on stderr: no time of its own)
ROUTER_START = "router on "
#: the time ``logging`` puts first in the router's lines (``%(asctime)s``: local time, milliseconds)
_ASCTIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) ")


class EvidenceError(PermanentError):
    """The evidence cannot be written or read."""


def stamp(t: float) -> str:
    """``20261128_160501`` (UTC), as ``date +%Y%m%d_%H%M%S`` in the runbook. Pure."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d_%H%M%S")


def parse_since(text: str) -> float:
    """``90s`` / ``15m`` / ``1h`` / ``2d`` / ``300`` -> seconds. Raises ValueError. Pure."""
    shown = text
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            value, unit = float(text[:-1]), units[text[-1]]
        else:
            value, unit = float(text), 1
    except ValueError:
        raise ValueError(f"expected a duration like 90s, 15m, 1h or 2d, got {shown!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive duration like 90s, 15m, 1h or 2d, got {shown!r}")
    return value * unit


def log_files(state_dir: Path, extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """The stack's per-revision logs (``<state dir>/logs/*.log``) and any extra files."""
    found = sorted((state_dir / "logs").glob("*.log")) if (state_dir / "logs").is_dir() else []
    return [*found, *(Path(p) for p in extra)]


def read_logs(paths: Iterable[Path], since_t: float, until_t: float,
              revisions: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """JSON log records with ``since_t <= ts <= until_t`` (other lines, e.g. tracebacks, skipped)."""
    for p in paths:
        try:
            f = p.open(encoding="utf-8", errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                ts = rec.get("ts") if isinstance(rec, dict) else None
                if not isinstance(ts, (int, float)) or not since_t <= ts <= until_t:
                    continue
                if revisions and rec.get("revision") not in revisions:
                    continue
                yield rec


def router_log_path(state_dir: Path) -> Path:
    """The router's log: the one the stack file records, else ``<state dir>/logs/router.log``
    (``ethos stack down`` removes the stack file, not the logs)."""
    try:
        stack = load_stack(state_dir)
    except RolloutError:
        stack = None
    recorded = stack.logs.get("router") if stack is not None else None
    return Path(recorded) if recorded else state_dir / ROUTER_LOG


def line_time(line: str) -> float | None:
    """When a log line was written, when it says: a JSON record's ``ts``, or the ``asctime``
    that ``logging`` puts first (the router's format; local time). None for the others."""
    if line.startswith("{"):
        try:
            ts = json.loads(line).get("ts")
        except (ValueError, AttributeError):
            return None
        return float(ts) if isinstance(ts, (int, float)) else None
    m = _ASCTIME.match(line)
    if m is None:
        return None
    try:
        return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
    except (ValueError, OverflowError):
        return None


def router_log_lines(path: Path, since_t: float, until_t: float) -> list[str] | None:
    """The lines of the router's log written in ``[since_t, until_t]``, as they are; None when
    there is no such log.

    The router writes plain text: lines from ``logging`` start with their time, the others do
    not. Its start line (``router on ...``; a stack started again appends to the same log) takes
    the time of the next timed line; any other (a traceback, uvicorn's own ``WARNING:`` lines)
    the time of the line before it (a traceback belongs to its record). With nothing to go by,
    a line takes the time the log was last written.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        mtime = path.stat().st_mtime
    except OSError:
        return None
    lines = text.splitlines()
    own = [line_time(line) for line in lines]
    after: list[float] = [mtime] * len(lines)  # the time of the next timed line, else mtime
    nxt = mtime
    for i in range(len(lines) - 1, -1, -1):
        after[i] = nxt
        ti = own[i]
        if ti is not None:
            nxt = ti
    out: list[str] = []
    prev: float | None = None
    for line, t, later in zip(lines, own, after, strict=True):
        if t is None:
            t = later if line.startswith(ROUTER_START) or prev is None else prev
        prev = t
        if since_t <= t <= until_t:
            out.append(line)
    return out


def request_counts(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per revision: requests, errors (5xx), client errors (4xx) from access-log records. Pure."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        if r.get("msg") != REQUEST_MSG or r.get("route") == "/health":
            continue
        c = out.setdefault(str(r.get("revision")), {"requests": 0, "errors": 0, "client_errors": 0})
        c["requests"] += 1
        status = r.get("status")
        if not isinstance(status, int) or status >= 500:
            c["errors"] += 1
        elif status >= 400:
            c["client_errors"] += 1
    return out


def signal_series(evaluations: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[list[Any]]]]:
    """revision -> "signal@window" -> [[t, value, samples], ...] from guard evaluations. Pure."""
    out: dict[str, dict[str, list[list[Any]]]] = {}
    for ev in evaluations:
        for tr in ev.get("triggers") or []:
            if tr.get("value") is None:
                continue
            key = f"{tr.get('signal')}@{tr.get('window_s')}s"
            series = out.setdefault(str(tr.get("revision")), {}).setdefault(key, [])
            point = [ev.get("t"), tr.get("value"), tr.get("samples")]
            if not series or series[-1] != point:
                series.append(point)
    return out


@dataclass
class PiiFinding:
    """A line of the export holding PII: file, line number, entity counts (never the value)."""

    file: str
    line: int
    entities: dict[str, int]


#: identifiers we generate (request ids, hashes, session hashes): hex digits, maybe dashed.
#: Skipped only when the whole value has that shape, so text smuggled into an id is scanned.
_HEX_ID = re.compile(r"[0-9a-fA-F]{6,64}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _strings(obj: Any) -> Iterator[str]:
    """The string values of a JSON document (numbers are our timings and counts: not scanned)."""
    if isinstance(obj, str):
        if not _HEX_ID.fullmatch(obj):
            yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(str(k))
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


@functools.lru_cache(maxsize=65536)
def _entities(text: str) -> tuple[str, ...]:
    # log values repeat endlessly (levels, routes, revisions): detect each distinct one once
    return tuple(x.entity for x in detect(text, DEFAULT_ALLOW))


def scan_line(line: str) -> dict[str, int]:
    """Entity -> count of PII in one line: per string value when it is JSON, else the whole line."""
    text = line.strip().rstrip(",")
    try:
        parts = list(_strings(json.loads(text))) if text.startswith(("{", "[")) else [line]
    except ValueError:
        parts = [line]
    counts: dict[str, int] = {}
    for part in parts:
        for entity in _entities(part):
            counts[entity] = counts.get(entity, 0) + 1
    return counts


def scan_file(path: Path) -> list[PiiFinding]:
    """Every line of ``path`` with a PII finding (entity counts, never the value)."""
    out = []
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):  # one (indented) document: its values, wherever the lines break
        counts: dict[str, int] = {}
        for part in _strings(doc):
            for entity in _entities(part):
                counts[entity] = counts.get(entity, 0) + 1
        return [PiiFinding(path.name, 0, counts)] if counts else []
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            counts = scan_line(line)
            if counts:
                out.append(PiiFinding(path.name, n, counts))
    return out


def guard_evaluations(state_dir: Path, since_t: float, until_t: float) -> list[dict[str, Any]]:
    """Records of ``<state dir>/guard/history.jsonl`` (and its rolled-over ``.1``) in the window.

    Read directly (the format is the guard history's: one JSON object per line with ``t``) so
    that exporting evidence does not load the guard's statistics.
    """
    out = []
    for p in (state_dir / "guard" / "history.jsonl.1", state_dir / "guard" / "history.jsonl"):
        try:
            lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if isinstance(rec, dict) and since_t <= float(rec.get("t") or 0) <= until_t:
                out.append(rec)
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Export:
    """What an export wrote and found."""

    out_dir: str
    since_t: float
    until_t: float
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    pii: list[PiiFinding] = field(default_factory=list)
    #: raw files that held PII, moved aside: name -> {"path" (relative), "sha256", "bytes", "findings"}
    quarantine: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: after quarantine: True when the redacted copies left in place scan clean
    redacted_clean: bool | None = None

    @property
    def clean(self) -> bool:
        """No PII was found (in the raw files, before any quarantine)."""
        return not self.pii

    @property
    def quarantine_dir(self) -> str | None:
        return str(Path(self.out_dir) / QUARANTINE) if self.quarantine else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clean"] = self.clean
        d["quarantine_dir"] = self.quarantine_dir
        return d


def _write_json_lines_array(path: Path, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for rec in records:
            f.write(("\n" if n == 0 else ",\n") + json.dumps(rec, default=str, separators=(",", ":")))
            n += 1
        f.write("\n]\n")
    return n


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, default=str, separators=(",", ":")) + "\n")
            n += 1
    return n


def journal_events(state_dir: Path, since_t: float, until_t: float) -> list[dict[str, Any]]:
    """Every journal event in the window, runs in order."""
    j = Journal(state_dir)
    out: list[dict[str, Any]] = []
    for rid in j.ids():
        try:
            rec = j.load(rid)
        except JournalError:
            continue
        out.extend(e for e in rec.events if since_t <= float(e.get("t", 0)) <= until_t)
    return out


def router_stats(router_url: str | None, timeout: float = 2.0) -> dict[str, Any] | None:
    """The router's ``/router/stats`` now, or None when unreadable."""
    if not router_url:
        return None
    with RouterClient(router_url, timeout=timeout) as router:
        try:
            return router.stats().to_json()
        except RouterReadError:
            return None


def _redact_json(obj: Any) -> Any:
    """``obj`` with every PII finding in its strings (and keys) masked; ids and numbers kept."""
    if isinstance(obj, str):
        return obj if _HEX_ID.fullmatch(obj) else redact(obj)
    if isinstance(obj, dict):
        return {_redact_json(str(k)): _redact_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_json(v) for v in obj]
    return obj


def _redact_line(line: str) -> str:
    """One line of an export with its PII masked, still valid in its file (JSON stays JSON)."""
    body = line.rstrip("\n")
    nl = line[len(body):]
    text = body.strip()
    comma = "," if text.endswith(",") else ""
    core = text[:-1] if comma else text
    if core.startswith(("{", "[")):
        try:
            return json.dumps(_redact_json(json.loads(core)), default=str, separators=(",", ":")) + comma + nl
        except ValueError:
            pass
    return redact(body) + nl


def redact_file(src: Path, dst: Path) -> None:
    """Write ``src`` to ``dst`` with every PII finding masked, as :func:`scan_file` reads it."""
    text = src.read_text(encoding="utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        dst.write_text(json.dumps(_redact_json(doc), indent=1, default=str) + "\n", encoding="utf-8")
        return
    with dst.open("w", encoding="utf-8") as f:
        for line in text.splitlines(keepends=True):
            f.write(_redact_line(line))


def quarantine_file(out: Path, name: str) -> dict[str, Any]:
    """Move ``out/name`` to ``out/quarantine/name`` (dir 0700, file 0600) and put a redacted copy
    in its place; returns the raw file's ``{"path", "sha256", "bytes"}``."""
    q = out / QUARANTINE
    q.mkdir(mode=0o700, exist_ok=True)
    os.chmod(q, 0o700)
    raw, src = q / name, out / name
    os.replace(src, raw)
    os.chmod(raw, 0o600)
    tmp = out / f".{name}.redacting"
    redact_file(raw, tmp)
    os.replace(tmp, src)
    return {"path": f"{QUARANTINE}/{name}", "sha256": sha256_file(raw), "bytes": raw.stat().st_size}


def export_evidence(
    state_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    since_s: float,
    now: float,
    revisions: Sequence[str] | None = None,
    extra_logs: Sequence[str | os.PathLike[str]] = (),
    router_url: str | None = None,
    router_log: str | os.PathLike[str] | None = None,
    quarantine: bool = True,
    cloud_logs: CloudLogs | None = None,
) -> Export:
    """Write the evidence of ``[now - since_s, now]`` into ``out_dir`` and scan it for PII.

    ``state_dir`` must exist (a mistyped one would give an empty, "clean" export). With
    ``quarantine`` (the default) each file that holds PII is moved to ``quarantine/`` and a
    redacted copy kept in its place (:func:`quarantine_file`); ``Export.clean`` still says
    whether PII was found. ``cloud_logs``: Cloud Run's request and container logs of the
    window from Cloud Logging, into ``cloud_run_logs_<stamp>.json`` (paged, bounded, scanned
    like the local logs); raises :class:`~.cloudlogging.CloudLoggingError` when unreadable.
    ``router_log``: the router's log (default :func:`router_log_path`); its lines of the window
    go to ``router_log_<stamp>.log``, scanned, quarantined and redacted as the others."""
    sd, out = Path(state_dir), Path(out_dir)
    if not sd.is_dir():
        raise EvidenceError(f"the state dir {sd} does not exist: nothing to export (check the state dir)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EvidenceError(f"cannot create {out}: {e.strerror or e}") from e
    since_t, s = now - since_s, stamp(now)
    exp = Export(str(out), since_t, now)
    names = {"logs": f"rollback_logs_{s}.json", "metrics": f"rollback_metrics_{s}.json",
             "guard": f"guard_evaluations_{s}.jsonl", "journal": f"rollback_journal_{s}.jsonl"}
    try:
        logs = list(read_logs(log_files(sd, extra_logs), since_t, now, revisions))
        exp.counts["log_records"] = _write_json_lines_array(out / names["logs"], logs)
        routed = router_log_lines(Path(router_log) if router_log else router_log_path(sd), since_t, now)
        if routed is not None:
            names["router_log"] = f"router_log_{s}.log"
            (out / names["router_log"]).write_text("".join(f"{line}\n" for line in routed), encoding="utf-8")
            exp.counts["router_log_lines"] = len(routed)
        evaluations = guard_evaluations(sd, since_t, now)
        exp.counts["guard_evaluations"] = _write_jsonl(out / names["guard"], evaluations)
        series = signal_series(evaluations)
        if revisions:
            series = {k: v for k, v in series.items() if k in revisions}
        metrics = {"window": {"since_t": since_t, "until_t": now},
                   "requests_from_logs": request_counts(logs),
                   "signals_from_guard": series, "router_stats_at_export": router_stats(router_url)}
        (out / names["metrics"]).write_text(json.dumps(metrics, indent=1, default=str) + "\n")
        exp.counts["journal_events"] = _write_jsonl(out / names["journal"], journal_events(sd, since_t, now))
        if cloud_logs is not None:
            names["cloud_logs"] = f"cloud_run_logs_{s}.json"
            records = list(cloud_logs.entries(since_t, now))
            exp.counts["cloud_log_entries"] = _write_json_lines_array(out / names["cloud_logs"], records)
            metrics["requests_from_cloud_logs"] = cloud_request_counts(records)
            metrics["cloud_logging"] = {"filter": cloud_logs.filter, "pages": cloud_logs.pages,
                                        "truncated": cloud_logs.truncated, "max_entries": cloud_logs.max_entries,
                                        "revisions": dict(cloud_logs.revisions)}
            (out / names["metrics"]).write_text(json.dumps(metrics, indent=1, default=str) + "\n")
    except OSError as e:
        raise EvidenceError(f"cannot write the evidence in {out}: {e.strerror or e}") from e
    for key, name in names.items():
        p = out / name
        found = scan_file(p)
        exp.pii.extend(found)
        if found and quarantine:
            try:
                exp.quarantine[name] = {**quarantine_file(out, name), "findings": len(found)}
            except OSError as e:
                raise EvidenceError(f"cannot quarantine {p} (it holds PII: remove it by hand): "
                                    f"{e.strerror or e}") from e
            exp.redacted_clean = (exp.redacted_clean is not False) and not scan_file(p)
        exp.files[name] = {"kind": key, "sha256": sha256_file(p), "bytes": p.stat().st_size,
                           **({"redacted": True} if name in exp.quarantine else {})}
    scan: dict[str, Any] = {"clean": exp.clean, "findings": [asdict(f) for f in exp.pii]}
    if exp.quarantine:
        scan.update(quarantined=sorted(exp.quarantine), redacted_copies=sorted(exp.quarantine),
                    redacted_copies_clean=exp.redacted_clean)
    manifest = {"created": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "window": {"since_t": since_t, "until_t": now, "revisions": list(revisions or [])},
                **({"cloud_logging": {"project": cloud_logs.project, "service": cloud_logs.service,
                                      "region": cloud_logs.region, "filter": cloud_logs.filter,
                                      "pages": cloud_logs.pages, "truncated": cloud_logs.truncated}}
                   if cloud_logs is not None else {}),
                "files": exp.files, "counts": exp.counts, "pii_scan": scan,
                **({"quarantine": exp.quarantine} if exp.quarantine else {})}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return exp


def verify_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Re-hash every file named by the manifest: ``{"ok", "checked", "mismatched", "missing", "extra"}``."""
    d = Path(directory)
    try:
        manifest = json.loads((d / MANIFEST).read_text())
        files = dict(manifest["files"])
    except FileNotFoundError:
        raise EvidenceError(f"no {MANIFEST} in {d}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EvidenceError(f"{d / MANIFEST} is unreadable: {e}") from e
    mismatched, missing = [], []
    quarantined = manifest.get("quarantine") or {}
    checks = [(name, d / name, meta) for name, meta in files.items()]
    checks += [(str(meta.get("path")), d / str(meta.get("path")), meta) for meta in quarantined.values()
               if isinstance(meta, dict)]
    for name, p, meta in checks:
        if not p.is_file():
            missing.append(name)
        elif sha256_file(p) != meta.get("sha256"):
            mismatched.append(name)
    extra = sorted(p.name for p in d.iterdir() if p.is_file() and p.name != MANIFEST and p.name not in files)
    return {"ok": not mismatched and not missing, "checked": len(checks), "mismatched": mismatched,
            "missing": missing, "extra": extra, "pii_clean": bool(manifest.get("pii_scan", {}).get("clean"))}


__all__ = ["export_evidence", "verify_manifest", "Export", "EvidenceError", "PiiFinding", "read_logs",
           "quarantine_file", "redact_file", "QUARANTINE", "ROUTER_LOG", "line_time", "router_log_lines",
           "router_log_path", "log_files", "request_counts", "signal_series", "scan_file", "scan_line", "stamp",
           "parse_since", "MANIFEST"]
