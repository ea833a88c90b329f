"""What the load test counts as a failure, and how it looks for personal data (pure, no I/O
except :func:`pii_in_store`, which reads the stack's SQLite cache read-only).

A stream must end with its ``done`` event and carry no ``error`` event. Personal values are
the synthetic ones :mod:`.mix` writes (``@example.com`` emails, phone and card digit runs):
a reply holding one that its own request did not carry is a leak, and no stored entry may
hold any of them.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence

CACHE_HITS = ("HIT", "SEMANTIC-HIT")


def parse_sse(text: str) -> list[tuple[str, str]]:
    """``(event, data)`` pairs of a server-sent event stream (event ``message`` when unnamed)."""
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        ev, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            out.append((ev, "\n".join(data)))
    return out


def judge_stream(events: Sequence[tuple[str, str]]) -> str | None:
    """Why a stream failed, or None: it must end with a ``done`` event, carry no ``error``."""
    if any(e == "error" for e, _ in events):
        return "stream_error_event"
    if not events or events[-1][0] != "done":
        return "stream_incomplete"
    try:
        json.loads(events[-1][1])
    except ValueError:
        return "stream_bad_done"
    if not any(e == "message" for e, _ in events):
        return "stream_empty"
    return None


def delta_text(data: str) -> str:
    try:
        return str(json.loads(data).get("delta", ""))
    except (ValueError, AttributeError):
        return ""


class PiiValues:
    """The personal values the run sends (emails, phone and card digits), to find them elsewhere."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.emails: set[str] = set()
        self.digits: set[str] = set()
        for m in messages:
            e, d = self.of(m)
            self.emails |= e
            self.digits |= d

    @staticmethod
    def of(text: str) -> tuple[set[str], set[str]]:
        emails = {x.lower() for x in re.findall(r"[\w.]+@example\.com", text)}
        digits = {re.sub(r"\D", "", x) for x in re.findall(r"\d[\d ]{8,}\d", text)}
        return emails, digits

    def foreign(self, reply: str, own_message: str) -> bool:
        """True when ``reply`` holds a value the run sent that its own message did not carry."""
        e, d = self.of(reply)
        own_e, own_d = self.of(own_message)
        return bool(((e & self.emails) - own_e) or ((d & self.digits) - own_d))


PII_HITS: list[str] = []


def mask_pii(message: str) -> str:
    """The message with the synthetic emails, digit runs and names replaced (for reports)."""
    from .mix import _FIRST, _LAST

    m = re.sub(r"[\w.]+@example\.com", "<EMAIL>", message)
    m = re.sub(r"\d[\d ]{6,}\d", "<NUMBER>", m)
    return re.sub(r"\b(%s)\b" % "|".join(_FIRST + _LAST), "<NAME>", m)


def log_pii_hit(message: str, cache: str, similarity: str | None) -> None:
    """Remember (masked) which PII-bearing message the cache answered, for the report."""
    PII_HITS.append(f"{cache} (similarity {similarity}): {mask_pii(message)}")



def pii_in_store(cache_url: str | None, messages: Sequence[str]) -> dict[str, int] | None:
    """Stored entries, and how many hold an email or a digit run (phone, card) of the PII sent."""
    if not cache_url or not cache_url.startswith("sqlite:///"):
        return None
    values = PiiValues(messages)
    needles = values.emails | values.digits
    try:
        db = sqlite3.connect(f"file:{cache_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT question || ' ' || data FROM entries").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    found = 0
    for (text,) in rows:
        low, digits = text.lower(), re.sub(r"\D", "", text)
        if any(n in low or (n.isdigit() and n in digits) for n in needles):
            found += 1
    return {"entries": len(rows), "with_pii": found}



def store_entries(cache_url: str | None) -> int | None:
    """Rows in the stack's SQLite cache now (None: not SQLite, or unreadable)."""
    if not cache_url or not cache_url.startswith("sqlite:///"):
        return None
    try:
        db = sqlite3.connect(f"file:{cache_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return None


__all__ = ["store_entries", "CACHE_HITS", "parse_sse", "judge_stream", "PiiValues", "mask_pii", "log_pii_hit", "PII_HITS",
           "pii_in_store", "delta_text"]
