"""HTTP calls a procedure makes to the revisions: health, cache admin, the functional probe, and
the faults a drill switches on a running revision (``ethos stack fault``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import PermanentError, TemporaryError
from ..router.client import default_ssl_context


class RevisionUnreachable(TemporaryError):
    """A revision did not answer (connection refused, timeout, 5xx)."""


class RevisionRefused(PermanentError):
    """A revision refused the call (401/403 admin key, 404 route missing, 4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ChatResult:
    status: int
    reply: str
    cache: str
    revision: str
    detail: str = ""


class RevisionClient:
    """Talks to the revisions by name (``revisions``: name -> base URL) over one pooled client."""

    def __init__(self, revisions: Mapping[str, str], admin_key: str | None, *,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.revisions = dict(revisions)
        self._key = admin_key
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=2.0),
                                    transport=transport, verify=default_ssl_context())

    def close(self) -> None:
        self._client.close()

    def url(self, name: str) -> str:
        try:
            return self.revisions[name].rstrip("/")
        except KeyError:
            raise PermanentError(f"unknown revision {name!r}; known: {', '.join(self.revisions)}") from None

    def _send(self, method: str, url: str, *, admin: bool = False, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if admin:
            if not self._key:
                raise RevisionRefused("no admin key: set ETHOS_ADMIN_API_KEY (or --admin-key-env)", 401)
            headers["X-Admin-API-Key"] = self._key
        try:
            r = self._client.request(method, url, headers=headers, **kw)
        except httpx.TimeoutException as e:
            raise RevisionUnreachable(f"{url} timed out") from e
        except httpx.TransportError as e:
            raise RevisionUnreachable(f"{url} unreachable: {e.__class__.__name__}: {e}") from e
        if r.status_code >= 500 and r.status_code not in (503,):
            raise RevisionUnreachable(f"{url} answered {r.status_code}: {_detail(r)}")
        if r.status_code >= 400:
            raise RevisionRefused(f"{url} answered {r.status_code}: {_detail(r)}", r.status_code)
        return r

    def health(self, name: str) -> dict[str, Any]:
        """``GET /health`` as a dict (always HTTP 200 while serving; callers read ``status``)."""
        r = self._send("GET", f"{self.url(name)}/health")
        return _json(r)

    def invalidate_all(self, name: str) -> int:
        """``POST /api/admin/cache/invalidate?key_pattern=all`` -> entries removed."""
        r = self._send("POST", f"{self.url(name)}/api/admin/cache/invalidate",
                       params={"key_pattern": "all"}, admin=True)
        return int(_json(r).get("removed") or 0)

    def top_questions(self, name: str, n: int) -> list[str]:
        """``GET /api/admin/cache/top?n=N`` -> the most asked questions."""
        r = self._send("GET", f"{self.url(name)}/api/admin/cache/top", params={"n": n}, admin=True)
        qs = _json(r).get("questions") or []
        return [q if isinstance(q, str) else str(q.get("question", "")) for q in qs if q]

    def faults(self, name: str) -> dict[str, Any]:
        """``GET /api/admin/faults``: ``{"revision", "enabled", "faults", "spec"}``."""
        return _json(self._send("GET", f"{self.url(name)}/api/admin/faults", admin=True))

    def set_faults(self, name: str, faults: Mapping[str, float | int]) -> dict[str, Any]:
        """``PUT /api/admin/faults``: exactly these faults in force (the others off); the
        answer also holds the ones before (``previous``)."""
        return _json(self._send("PUT", f"{self.url(name)}/api/admin/faults", json=dict(faults), admin=True))

    def clear_faults(self, name: str) -> dict[str, Any]:
        """``DELETE /api/admin/faults``: every fault off."""
        return _json(self._send("DELETE", f"{self.url(name)}/api/admin/faults", admin=True))

    def chat(self, base_url: str, message: str) -> ChatResult:
        """``POST /api/ai/marketing-chat`` at ``base_url`` (a revision or the router)."""
        url = f"{base_url.rstrip('/')}/api/ai/marketing-chat"
        try:
            r = self._client.post(url, json={"message": message})
        except httpx.HTTPError as e:
            raise RevisionUnreachable(f"{url} unreachable: {e.__class__.__name__}") from e
        data = _json(r)
        return ChatResult(r.status_code, str(data.get("reply") or ""),
                          str(data.get("cache") or r.headers.get("x-cache", "")),
                          str(data.get("revision") or r.headers.get("x-revision", "")),
                          "" if r.status_code == 200 else _detail(r))


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(r: httpx.Response) -> str:
    d = _json(r)
    return str(d.get("detail") or d.get("error") or r.text[:200])


__all__ = ["RevisionClient", "RevisionUnreachable", "RevisionRefused", "ChatResult"]
