"""A cache PII scan names leaking entries by key, but never shows a leaking question's words."""

from __future__ import annotations

import time

from ethos.cache import Entry, open_store
from ethos.cache.keys import Scope, make_key
from ethos.cache.scan.leaks import scan_store, shown_key

SCOPE = Scope(namespace="marketing", format_version=1, answerer="kb", prompt_version="p", kb_version="k")


def test_shown_key_masks_the_words_only_when_the_question_holds_pii():
    q = "my card is 4539 5781 2093 4416, which plan?"
    key, norm = make_key(SCOPE, q)
    shown = shown_key(key, norm)
    assert "4539" not in shown and shown == f"{SCOPE.prefix}<redacted>:{key.rsplit(':', 1)[1]}"
    clean, norm = make_key(SCOPE, "call me")
    assert shown_key(clean, norm) == clean  # PII only in the reply: the question's words help
    assert shown_key("odd", "mail jane.citizen@example.com") == "<redacted>"


def test_scan_reports_masked_keys_and_still_purges_the_real_ones(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        for q, reply in (("charge my card 5223-6471-9048-2107", "Sure."), ("What are your plans?", "Team and Free.")):
            key, norm = make_key(SCOPE, q)
            store.put(Entry(key=key, namespace="marketing", format_version=1, scope=SCOPE.digest, question=norm,
                            reply=reply, created_at=time.time(), ttl_s=600))
        report = scan_store(store, purge=True)
        assert report.purged == 1 and store.count() == 1
        text = str(report.to_dict())
        assert "<redacted>" in text and "5223" not in text and "charge" not in text
    finally:
        store.close()


def test_sqlite_store_overwrites_what_it_deletes(tmp_path, monkeypatch):
    import sqlite3

    real = sqlite3.connect

    def connect_default_off(*a, **kw):  # as many builds ship (Debian's has it on)
        db = real(*a, **kw)
        db.execute("PRAGMA secure_delete=OFF")
        return db

    monkeypatch.setattr(sqlite3, "connect", connect_default_off)
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        assert store._run(lambda db: db.execute("PRAGMA secure_delete").fetchone()[0]) == 1
    finally:
        store.close()
