"""Recent questions per conversation, to tell follow-ups that depend on earlier turns."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict, deque

MAX_SESSIONS = 10000
TURNS_KEPT = 5


class SessionHistory:
    """A bounded LRU of session id → last questions (normalised; never stored elsewhere)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, deque[str]] = OrderedDict()
        self._lock = threading.Lock()

    def has_history(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        return bool(self._sessions.get(session_id))

    def record(self, session_id: str | None, question: str) -> None:
        if not session_id:
            return
        with self._lock:
            turns = self._sessions.pop(session_id, None) or deque(maxlen=TURNS_KEPT)
            turns.append(question)
            self._sessions[session_id] = turns
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)


#: the key of the session hash: random per process until :func:`set_log_salt` (a plain hash
#: of a session id that is an email address would let anyone with the logs test guesses)
_salt = os.urandom(32)


def set_log_salt(secret: bytes) -> None:
    """Key the session hash with ``secret`` (the admin key), so that every revision sharing it
    logs a session the same way and no one without it can test a guessed id."""
    global _salt
    _salt = hashlib.sha256(b"ethos session hash\0" + secret).digest()


def session_hash(session_id: str | None) -> str | None:
    """What logs carry of a session id: a short keyed hash, never the id itself."""
    if not session_id:
        return None
    return hmac.new(_salt, session_id.encode(), hashlib.sha256).hexdigest()[:12]
