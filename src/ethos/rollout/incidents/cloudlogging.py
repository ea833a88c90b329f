"""Evidence from Cloud Logging: the request and container logs Cloud Run keeps of each revision.

``entries:list`` (REST, ``POST https://logging.googleapis.com/v2/entries:list``) with a filter on
``resource.type="cloud_run_revision"``, the service, region, the revisions and the incident
window, oldest first, paged (``pageSize`` up to 1000, ``nextPageToken``) and bounded
(``max_entries``, the runbook's ``--limit=10000``): a longer window is cut, and the export says
so (``truncated``).

What is kept of an entry, and what is not: its time, severity, which log (``requests``,
``stdout``, ``stderr``, ...), the revision (by our name and by Cloud Run's), the trace id, the
payload (``textPayload`` / ``jsonPayload``: the service's own JSON logs, which carry no message
content), and of a request log only method, path (the query string is dropped: it may carry
anything), status, latency and size. The caller's IP address, user agent and referer are
personal data by design and never written. The records then go through the export's PII scan
like the local logs (a finding quarantines the raw file and leaves a redacted copy).

Errors: no Application Default Credentials names them; 403 names ``roles/logging.viewer``;
429 (quota: 60 reads a minute per project) and 5xx are retried with backoff (1 s, 2 s, 4 s),
then fail the export with that reason. Test setting: ``ETHOS_GCP_LOGGING_ENDPOINT=http://HOST:PORT``
(no credentials).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import PermanentError
from ..sources.gcp import LOGGING_ENDPOINT_ENV, LOGGING_ROLE, GcpCredentialsError, TokenSource

ENDPOINT = "https://logging.googleapis.com"
PAGE_SIZE = 1000
MAX_ENTRIES = 10_000


class CloudLoggingError(PermanentError):
    """Cloud Logging could not be read (the message names why and what to do)."""


def iso(t: float) -> str:
    """RFC 3339 UTC with microseconds. Pure."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logging_filter(service: str, region: str, revisions: Sequence[str], since_t: float, until_t: float) -> str:
    """The ``entries:list`` filter of one service's revisions over ``[since_t, until_t]``. Pure."""
    revs = " OR ".join(f"resource.labels.revision_name = {_quote(r)}" for r in sorted(revisions))
    return (f'resource.type = "cloud_run_revision" AND resource.labels.service_name = {_quote(service)}'
            f" AND resource.labels.location = {_quote(region)} AND ({revs})"
            f' AND timestamp >= "{iso(since_t)}" AND timestamp <= "{iso(until_t)}"')


def parse_time(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (nanoseconds allowed), or None. Pure."""
    if not text:
        return None
    s = text.strip().replace("Z", "+00:00")
    if "." in s:  # Python parses at most 6 fractional digits
        head, rest = s.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        s = f"{head}.{digits[:6]}{tz}"
    try:
        return datetime.fromisoformat(s).timestamp()
    except ValueError:
        return None


def _seconds(latency: Any) -> float | None:
    if isinstance(latency, str) and latency.endswith("s"):
        try:
            return float(latency[:-1])
        except ValueError:
            return None
    return None


def record_of(entry: Mapping[str, Any], ours: Mapping[str, str]) -> dict[str, Any]:
    """What the export keeps of one entry (see the module docstring). ``ours``: Cloud Run
    revision -> our name. Pure."""
    res = entry.get("resource") or {}
    labels = res.get("labels") or {}
    cloud_rev = str(labels.get("revision_name") or "")
    log_name = str(entry.get("logName") or "")
    log = log_name.rsplit("/", 1)[-1].replace("%2F", "/").rsplit("/", 1)[-1] if log_name else ""
    ts_text = str(entry.get("timestamp") or "")
    out: dict[str, Any] = {"ts": parse_time(ts_text), "timestamp": ts_text, "source": "cloud-logging",
                           "revision": ours.get(cloud_rev, cloud_rev), "cloud_run_revision": cloud_rev,
                           "log": log, "severity": entry.get("severity") or "DEFAULT"}
    if entry.get("trace"):
        out["trace"] = str(entry["trace"]).rsplit("/", 1)[-1]
    http = entry.get("httpRequest")
    if isinstance(http, Mapping):
        url = str(http.get("requestUrl") or "")
        status = http.get("status")
        out["http"] = {"method": http.get("requestMethod"), "path": urlsplit(url).path if url else None,
                       "status": int(status) if isinstance(status, (int, str)) and str(status).isdigit() else None,
                       "latency_s": _seconds(http.get("latency")),
                       "response_size": int(http["responseSize"]) if str(http.get("responseSize", "")).isdigit()
                       else None}
    if "textPayload" in entry:
        out["text"] = str(entry["textPayload"])
    if isinstance(entry.get("jsonPayload"), Mapping):
        out["json"] = dict(entry["jsonPayload"])
    return out


def request_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per revision: requests, errors (5xx), client errors (4xx) from request logs. Pure."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        http = r.get("http")
        if r.get("log") != "requests" or not isinstance(http, Mapping):
            continue
        c = out.setdefault(str(r.get("revision")), {"requests": 0, "errors": 0, "client_errors": 0})
        c["requests"] += 1
        status = http.get("status")
        if not isinstance(status, int) or status >= 500:
            c["errors"] += 1
        elif status >= 400:
            c["client_errors"] += 1
    return out


@dataclass
class CloudLogs:
    """The logs of ``revisions`` (our name -> Cloud Run revision) of one service, for the export."""

    project: str
    region: str
    service: str
    revisions: Mapping[str, str]
    max_entries: int = MAX_ENTRIES
    page_size: int = PAGE_SIZE
    endpoint: str | None = None
    timeout: float = 30.0
    attempts: int = 4
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    credentials: Any = None
    #: after a read: pages fetched, whether ``max_entries`` cut it, the filter sent
    pages: int = 0
    truncated: bool = False
    filter: str = ""
    _tokens: TokenSource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        local = self.endpoint or os.environ.get(LOGGING_ENDPOINT_ENV, "").strip() or None
        self.base = (local or ENDPOINT).rstrip("/")
        self._tokens = TokenSource("Cloud Logging", credentials=self.credentials, anonymous=local is not None)

    def entries(self, since_t: float, until_t: float) -> Iterator[dict[str, Any]]:
        """The kept records, oldest first, at most ``max_entries``; CloudLoggingError."""
        ours = {cloud: name for name, cloud in self.revisions.items()}
        self.filter = logging_filter(self.service, self.region, list(self.revisions.values()), since_t, until_t)
        self.pages, self.truncated = 0, False
        body: dict[str, Any] = {"resourceNames": [f"projects/{self.project}"], "filter": self.filter,
                                "orderBy": "timestamp asc", "pageSize": min(self.page_size, self.max_entries)}
        n = 0
        with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
            while True:
                page = self._page(client, body)
                self.pages += 1
                for e in page.get("entries") or []:
                    if n >= self.max_entries:
                        self.truncated = True
                        return
                    if isinstance(e, Mapping):
                        n += 1
                        yield record_of(e, ours)
                token = page.get("nextPageToken")
                if not token:
                    return
                if n >= self.max_entries:
                    self.truncated = True
                    return
                body = {**body, "pageToken": token}

    def _page(self, client: httpx.Client, body: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base}/v2/entries:list"
        what = f"the logs of {self.service} in projects/{self.project}"
        delay = 1.0
        last = ""
        for attempt in range(self.attempts):
            try:
                assert self._tokens is not None
                headers = self._tokens.headers()
            except GcpCredentialsError as e:
                raise CloudLoggingError(str(e)) from None
            try:
                r = client.post(url, json=body, headers=headers)
            except httpx.HTTPError as e:
                last = f"unreachable ({type(e).__name__})"
            else:
                if r.status_code == 200:
                    try:
                        doc = r.json()
                    except ValueError:
                        raise CloudLoggingError(f"Cloud Logging answered 200 without JSON reading {what}") from None
                    return doc if isinstance(doc, dict) else {}
                msg = _message(r)
                if r.status_code == 403:
                    raise CloudLoggingError(f"Cloud Logging refused to read {what} (403 permission denied: {msg}); "
                                            f"the caller needs {LOGGING_ROLE} on the project")
                if r.status_code == 401:
                    raise CloudLoggingError(f"Cloud Logging did not accept the credentials (401: {msg}); "
                                            "check the Application Default Credentials")
                if r.status_code not in (429, 500, 502, 503, 504):
                    raise CloudLoggingError(f"Cloud Logging rejected the read of {what} ({r.status_code}: {msg})")
                last = "quota exceeded (429)" if r.status_code == 429 else f"unavailable ({r.status_code})"
            if attempt + 1 < self.attempts:
                self.sleep(delay)
                delay *= 2
        raise CloudLoggingError(f"Cloud Logging: {last} reading {what}, {self.attempts} attempts with backoff; "
                                "try again later")


def _message(r: httpx.Response) -> str:
    try:
        doc = r.json()
        return str((doc.get("error") or {}).get("message") or "")[:300]
    except (ValueError, AttributeError):
        return r.text[:200]


__all__ = ["CloudLogs", "CloudLoggingError", "logging_filter", "record_of", "request_counts", "parse_time",
           "iso", "MAX_ENTRIES", "PAGE_SIZE"]
