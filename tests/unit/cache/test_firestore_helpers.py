"""The Firestore store's pure parts: URLs, key ranges, positions, error kinds."""

from __future__ import annotations

import random

import pytest
from google.api_core import exceptions as gexc

from ethos.cache.keys import glob_matches
from ethos.cache.stores import StoreError
from ethos.cache.stores.firestore import (
    MAX_PREFIX_BYTES,
    as_store_error,
    literal_prefix,
    make_position,
    parse_url,
    prefix_end,
    split_position,
)


def test_parse_url() -> None:
    assert parse_url("firestore://my-proj") == {"project": "my-proj", "database": "(default)"}
    assert parse_url("firestore://p/cache-db?collection=answers&epoch_poll=0.5&timeout=2") == {
        "project": "p", "database": "cache-db", "collection": "answers", "epoch_poll_s": 0.5,
        "timeout_s": 2.0}
    for bad in ("firestore://", "firestore://p/a/b", "firestore://p?collection=a/b",
                "firestore://p?collection=__x__", "firestore://p?colection=x",
                "firestore://p?epoch_poll=-1", "firestore://p?timeout=nan", "firestore://u:pw@p"):
        with pytest.raises(StoreError):
            parse_url(bad)


@pytest.mark.parametrize(("pattern", "prefix"), [
    ("marketing:v1:*pricing*", "marketing:v1:"),
    ("*", ""),
    ("[!m]*", ""),
    ("ns:a?c", "ns:a"),
    ("ns:open[bracket:*", "ns:open"),  # an unclosed '[' is literal: stopping there only widens
    ("exact-key", "exact-key"),
])
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


def test_a_long_prefix_is_cut_on_a_character() -> None:
    p = literal_prefix("é" * 3000 + "*")
    assert len(p.encode()) <= MAX_PREFIX_BYTES and set(p) == {"é"} and len(p) == MAX_PREFIX_BYTES // 2


def test_prefix_range_holds_exactly_the_strings_with_the_prefix() -> None:
    rng = random.Random(3)
    alphabet = ["a", "b", "z", "é", "\uffff", "\U0010ffff", "\ud7ff", "\ue000", "😀", ":", "\x7f"]
    for _ in range(3000):
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        end = prefix_end(prefix)
        b = lambda x: x.encode("utf-8", "surrogatepass")  # noqa: E731 - Firestore's order
        inside = b(prefix) <= b(s) and (end is None or b(s) < b(end))
        assert inside == s.startswith(prefix), (prefix, s, end)
    assert prefix_end("\U0010ffff") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


def test_every_key_a_glob_matches_starts_with_its_literal_prefix() -> None:
    rng = random.Random(5)
    alphabet = "ab*?[]!:é"
    keys = ["".join(rng.choice("ab:é[]") for _ in range(rng.randint(0, 6))) for _ in range(300)]
    for _ in range(500):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        prefix = literal_prefix(pattern)
        for k in keys:
            if glob_matches(pattern, k):
                assert k.startswith(prefix), (pattern, k)


def test_positions_order_as_time_then_document() -> None:
    a = make_position(5, "0" * 63 + "f")
    b = make_position(5, "1" + "0" * 63)
    c = make_position(6, "0" * 64)
    assert 0 < a < b < c
    assert split_position(b) == (5, "1" + "0" * 63)
    assert split_position(0) == (0, "0" * 64)


@pytest.mark.parametrize(("error", "kind"), [
    (gexc.ResourceExhausted("Quota exceeded."), "quota"),
    (gexc.DeadlineExceeded("Deadline Exceeded"), "deadline"),
    (gexc.RetryError("gave up", None), "deadline"),
    (gexc.ServiceUnavailable("failed to connect"), "unavailable"),
    (gexc.InternalServerError("boom"), "unavailable"),
    (gexc.PermissionDenied("no"), "unavailable"),
])
def test_client_errors_become_store_unavailable(error, kind) -> None:
    e = as_store_error(error, "Firestore cache firestore://p")
    assert e.kind == kind
    assert str(e).startswith("Firestore cache firestore://p: ") and "\n" not in str(e)
