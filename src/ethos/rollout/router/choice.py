"""Which revision serves a request: a pure function of the weights and a draw.

Stickiness hashes the session id to a fixed point in [0, 100) and uses it instead of the
random draw, so a conversation stays on one revision while the weights stay the same, and
when they change only the sessions in the band that moved switch revision (the same idea
as consistent hashing, with no session table to keep or expire).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

#: Longest session id read from a header or body; longer ones are not used for stickiness.
MAX_SESSION_ID = 128


def session_point(session_id: str) -> float:
    """A stable point in [0, 100) for a session id (same on every router and restart)."""
    digest = hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100.0


def choose_revision(weights: Mapping[str, int], draw: float) -> str:
    """The revision whose cumulative-weight band holds ``draw`` (0 <= draw < 100).

    Revisions with weight 0 are never chosen. ``weights`` must hold at least one positive
    weight (the router only keeps validated weights that sum to 100).
    """
    acc = 0
    last = None
    for name, w in weights.items():
        if w <= 0:
            continue
        acc += w
        last = name
        if draw < acc:
            return name
    if last is None:
        raise ValueError("no revision has a positive weight")
    return last  # draw at the very top (rounding): the last band


def route(weights: Mapping[str, int], draw: float, session_id: str | None) -> str:
    """Choose for one request: by session point when sticky and a session id exists, else by draw."""
    point = session_point(session_id) if session_id else draw
    return choose_revision(weights, point)


def fallback_revision(weights: Mapping[str, int], failed: str) -> str | None:
    """Where to retry a request whose revision refused the connection.

    The other revision with the largest weight; if all others have weight 0, the first other
    known revision (a refused connection fails for sure, another revision may still answer).
    None when ``failed`` is the only revision.
    """
    others = [(w, name) for name, w in weights.items() if name != failed]
    if not others:
        return None
    best_w = max(w for w, _ in others)
    return next(name for w, name in others if w == best_w)


def session_id_of(header: str | None, body: bytes, content_type: str | None) -> str | None:
    """The session id of a request: the ``X-Session-ID`` header, else ``session_id`` in a JSON body."""
    if header:
        return header[:MAX_SESSION_ID] if len(header) <= MAX_SESSION_ID else None
    if not body or (content_type and "json" not in content_type):
        return None
    # A cheap test first: most bodies without the field need no JSON parse.
    if b'"session_id"' not in body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: no session
        return None
    sid = data.get("session_id") if isinstance(data, dict) else None
    if isinstance(sid, str) and 0 < len(sid) <= MAX_SESSION_ID:
        return sid
    return None


__all__ = ["choose_revision", "route", "fallback_revision", "session_point", "session_id_of"]
