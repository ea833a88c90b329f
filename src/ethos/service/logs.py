"""Structured logs: one JSON object per line, never a raw message or a secret."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

#: attributes of a LogRecord that are not extra fields
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, revision: str) -> None:
        super().__init__()
        self.revision = revision

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "revision": self.revision,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        return json.dumps(out, default=str, separators=(",", ":"))


class AccessLog:
    """One JSON line per request, written straight to the log's streams.

    The ``logging`` machinery costs tens of microseconds a call (records, caller lookup,
    formatting); at thousands of requests a second the access log goes around it.
    """

    def __init__(self) -> None:
        self.revision = ""
        self.streams: list = []
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.streams)

    def write(self, fields: dict) -> None:
        now = time.time()
        line = json.dumps(
            {"ts": round(now, 6), "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)),
             "level": "info", "logger": "ethos.access", "revision": self.revision,
             "msg": "request", **fields},
            default=str, separators=(",", ":"),
        ) + "\n"
        with self._lock:
            for stream in self.streams:
                try:
                    stream.write(line)
                    stream.flush()
                except (OSError, ValueError):  # a closed or full sink never fails a request
                    pass


#: the process's access log; ``configure`` points it at the log's streams
access_log = AccessLog()


def configure(revision: str, log_file: Path | None = None, level: int = logging.INFO) -> None:
    """JSON lines on stderr, and in ``log_file`` when given (the access log too)."""
    root = logging.getLogger("ethos")
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt = JsonFormatter(revision)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(level)
    root.propagate = False
    access_log.revision = revision
    access_log.streams = [h.stream for h in handlers if isinstance(h, logging.StreamHandler)]
