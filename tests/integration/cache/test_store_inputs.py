"""Inputs that reach a store cannot escape it: SQL, LIKE, GLOB and Redis MATCH syntax is data.

Against every backend (SQLite file, SQLite in memory, the real Redis): keys, patterns and
document names full of metacharacters select exactly what Python's ``fnmatch.fnmatchcase``
selects (the documented semantics: ``*``, ``?`` and ``[...]`` are the only syntax), remove
nothing else, and never raise. The patterns here go beyond what ``parse_pattern`` lets in
over HTTP, so the stores hold even if a caller skips it.
"""

from __future__ import annotations

import random

import pytest

from ethos.cache.keys import glob_matches
from ethos.cache.stores import Store
from tests.integration.cache.test_store_contract import keys_of, kind, make, store, t0  # noqa: F401  (fixtures)

# Keys that are syntax somewhere: SQL quoting and comments, LIKE (% _ \), GLOB and Redis
# MATCH (* ? [ ] ^ \), unicode (combining, astral), and plain victims beside them. (A NUL is
# refused in a key; patterns with one are below.)
KEYS = [
    "ns:plain:1",
    "ns:abc:2",
    "ns:a%c:3",
    "ns:a_c:4",
    "ns:a\\c:5",
    "ns:a'c:6",
    "ns:a;c--:7",
    "ns:a*c:8",
    "ns:a?c:9",
    "ns:a[b]c:10",
    "ns:a]c:11",
    "ns:a^c:12",
    "ns:café:14",
    "ns:cafe\u0301:15",  # the same word, decomposed
    "ns:😀-emoji:16",
    "ns:日本語:17",
    "other:abc:18",
    "ns:" + "a" * 3000 + ":19",
]

HOSTILE = [
    # SQL: quotes, comments, statements, LIKE wildcards
    "' OR '1'='1",
    "ns:*' OR 1=1 --",
    "*'; DELETE FROM entries; --",
    "ns:a%c:*",
    "ns:%",
    "%",
    "_",
    "ns:a_c:*",
    "ns:___:*",
    "ns:a\\%c:*",
    # GLOB and Redis MATCH
    "ns:a\\*",
    "ns:a\\c:*",
    "\\*",
    "ns:a[*]c:*",
    "ns:a[?]c:*",
    "ns:a[[]b]c:*",
    "ns:a[]]c:*",
    "ns:a[^]c:*",
    "ns:a[^a]c:*",
    "ns:a[!a]c:*",
    "ns:[z-a]*",
    "ns:a[b*",
    "ns:a]*",
    "ns:a^*",
    "ns:a\x00c:*",
    "ns:a\x00*",
    # unicode
    "ns:caf?:*",
    "ns:café:*",
    "ns:cafe?:*",
    "ns:cafe??:*",
    "ns:?-emoji:*",
    "ns:[😀]-emoji:*",
    "ns:[!x]-emoji:*",
    "ns:日本?:*",
    # long
    "ns:" + "a" * 3000 + ":*",
    "ns:" + "a" * 2999 + "?:19",
    "*a" * 200 + "b",
    "?" * 5000,
    "x" * 20000,
    "*",
]


@pytest.mark.parametrize("pattern", HOSTILE, ids=lambda p: repr(p[:30]) + f"[{len(p)}]")
def test_hostile_patterns_remove_exactly_what_they_match(store: Store, t0: float, pattern: str) -> None:
    for k in KEYS:
        store.put(make(k, t0))
    expected = {k for k in KEYS if glob_matches(pattern, k)}
    assert {e.key for batch in store.scan(pattern) for e in batch} == expected
    assert store.delete_matching(pattern) == len(expected)
    assert keys_of(store) == set(KEYS) - expected


def test_random_patterns_over_every_metacharacter(store: Store, t0: float) -> None:
    """Seeded: random keys and patterns over every character that is syntax in some store."""
    rng = random.Random(9)
    alphabet = "a%_\\'\";-*?[]^!é😀:"
    keys = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(120)}
    alphabet += "\x00"  # in patterns only: keys never hold one
    for k in keys:
        store.put(make(k, t0))
    for _ in range(150):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
        got = {e.key for batch in store.scan(pattern) for e in batch}
        assert got == {k for k in keys if glob_matches(pattern, k)}, repr(pattern)


def test_exact_key_operations_are_literal(store: Store, t0: float) -> None:
    for k in KEYS:
        store.put(make(k, t0))
    for probe in ("ns:a%c", "ns:%", "ns:a_c:%", "ns:a*c:*", "ns:a?c:?", "ns:a[b]c:1[0]", "' OR 1=1 --"):
        assert store.get(probe, t0) is None
    store.add_hits({"ns:a%c:3": 2, "ns:a_c:%": 5, "ns:a*c:*": 7, "ns:a[b]c:10": 1})
    hits = {e.key: e.hit_count for batch in store.scan() for e in batch}
    assert hits["ns:a%c:3"] == 2 and hits["ns:a[b]c:10"] == 1
    assert sum(hits.values()) == 3  # the patterns among the keys matched nothing
    assert store.delete_keys(["ns:a*c:*", "ns:a?c:9", "ns:%", "ns:a%c:3\x00"]) == 1
    assert keys_of(store) == set(KEYS) - {"ns:a?c:9"}


def test_a_key_with_a_nul_is_refused(store: Store, t0: float) -> None:
    """SQLite's GLOB stops at a NUL, so no store takes such a key (make_key never makes one)."""
    with pytest.raises(ValueError):
        store.put(make("ns:a\x00c", t0))
    store.put(make("ns:a", t0))
    store.put(make("ns:ab", t0))
    for pattern in ("ns:*\x00xyz", "ns:a\x00*", "\x00", "*\x00"):
        assert store.delete_matching(pattern) == 0, repr(pattern)  # not "ns:*" cut at the NUL
    assert store.delete_matching("ns:a[\x00b]") == 1  # a class with a NUL still matches its b
    assert keys_of(store) == {"ns:a"}


SOURCES = ["plans.md", "p%.md", "p_.md", "*", "?", "[p].md", "p'; DROP TABLE entry_sources; --.md",
           "p\\.md", "src:plans.md", "plans.md*", "café.md", "p\x00.md"]


def test_sources_are_matched_literally(store: Store, t0: float) -> None:
    for i, src in enumerate(SOURCES):
        store.put(make(f"ns:k{i}", t0, sources=(src,)))
    for probe in ("plans%", "p%", "p_", "%", "_", "[p]*", "plans.m?", "p*", "plans.md' OR '1'='1"):
        assert store.delete_by_source(probe) == (1 if probe in SOURCES else 0), probe
    assert store.delete_by_source("*") == 1  # the document literally named '*', nothing else
    assert store.delete_by_source("p%.md") == 1
    remaining = {e.key for batch in store.scan() for e in batch}
    assert remaining == {f"ns:k{i}" for i, s in enumerate(SOURCES) if s not in ("*", "p%.md")}
    for i, src in enumerate(SOURCES):
        if src not in ("*", "p%.md"):
            assert store.delete_by_source(src) == 1, src
    assert keys_of(store) == set()


def test_scope_vectors_take_the_namespace_literally(store: Store, t0: float) -> None:
    emb = bytes(range(8))
    for ns in ("a_b", "axb", "a%b", "a*b"):
        e = make(f"{ns}:v1:s:q:1", t0, namespace=ns, embedding=emb)
        store.put(e)
    for ns in ("a_b", "a%b", "a*b", "a?b"):
        got = {k for k, *_ in store.scope_vectors(ns, 1, "s1", t0)}
        assert got == ({f"{ns}:v1:s:q:1"} if ns != "a?b" else set()), ns
