"""Session ids reach the logs only as a keyed hash (a plain hash of an email can be tested)."""

from __future__ import annotations

import hashlib

from ethos.service import sessions


def test_session_hash_is_keyed_stable_and_short(monkeypatch):
    monkeypatch.setattr(sessions, "_salt", sessions._salt)  # restored afterwards
    sid = "marguerite.okafor@wattlebird.com.au"
    random_salted = sessions.session_hash(sid)
    sessions.set_log_salt(b"admin-key-1")
    a = sessions.session_hash(sid)
    assert a == sessions.session_hash(sid) and len(a) == 12  # one process: stable
    assert a != random_salted and a != hashlib.sha256(sid.encode()).hexdigest()[:12]
    sessions.set_log_salt(b"admin-key-1")
    assert sessions.session_hash(sid) == a  # every revision sharing the key agrees
    sessions.set_log_salt(b"admin-key-2")
    assert sessions.session_hash(sid) != a
    assert sessions.session_hash(None) is None and sessions.session_hash("") is None
