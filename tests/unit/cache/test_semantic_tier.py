"""SemanticTier wired into a ResponseCache over an in-memory SQLite store."""

from __future__ import annotations

import pytest

from ethos.cache import Exchange, ResponseCache, Scope
from ethos.cache.semantic import HashingEmbedder, SemanticTier
from ethos.cache.stores.sqlite import SQLiteStore

PLANS = ["Free", "Starter", "Team", "Business", "Enterprise"]
SCOPE = Scope("marketing", 3, "kb", "p1", "kb1")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def cache():
    store = SQLiteStore(":memory:")
    clock = FakeClock()
    tier = SemanticTier(store, HashingEmbedder(), names=PLANS, threshold=0.85, clock=clock)
    tier.load()
    c = ResponseCache(store, SCOPE, semantic=tier, clock=clock)
    yield c
    c.close()


def ask(cache: ResponseCache, question: str, reply: str = "", **kw):
    lk = cache.lookup(question, **kw)
    if lk.result == "miss" and reply:
        assert cache.admit(lk, Exchange(question, reply, "kb"), ) is None
    return lk


def test_paraphrase_is_a_semantic_hit_with_similarity_and_key(cache):
    stored = ask(cache, "What are your pricing plans?", "Free, Starter, Team ...")
    lk = ask(cache, "What are your pricing plans please?")
    assert lk.result == "semantic_hit"
    assert lk.entry is not None and lk.entry.key == stored.key
    assert 0.85 <= lk.similarity <= 1.0
    assert cache.counters.semantic_hits == 1


@pytest.mark.parametrize(
    ("stored", "asked", "reason"),
    [
        ("How much is the Team plan?", "How much is the Business plan?", "names"),
        ("Does the Team plan include SSO?", "Does the Team plan not include SSO?", "negation"),
        ("Can I add 5 users to the Team plan?", "Can I add 50 users to the Team plan?",
         "numbers"),
    ],
)
def test_a_different_question_is_a_miss(cache, stored, asked, reason):
    ask(cache, stored, "an answer")
    lk = ask(cache, asked)
    assert lk.result == "miss"
    assert cache.semantic.rejections[reason] == 1


def test_session_dependent_questions_never_match(cache):
    ask(cache, "What are your pricing plans?", "Free, Starter, Team ...")
    lk = ask(cache, "What are your pricing plans please?", session_dependent=True)
    assert lk.result == "miss"


def test_not_ready_means_exact_only():
    store = SQLiteStore(":memory:")
    tier = SemanticTier(store, HashingEmbedder())
    assert tier.state == "off"
    c = ResponseCache(store, SCOPE, semantic=tier)
    ask(c, "What are your pricing plans?", "Free ...")
    assert ask(c, "What are your pricing plans?").result == "hit"
    assert ask(c, "What are your pricing plans please?").result == "miss"
    assert tier.embed("x") is None
    tier.start()
    assert tier.wait_ready(5)
    assert tier.state == "ready"
    # stored while off, so it has no vector: still a miss, and no error
    assert ask(c, "What are your pricing plans please?").result == "miss"


def test_index_is_built_from_stored_vectors_and_dropped_on_invalidation(cache):
    ask(cache, "What are your pricing plans?", "Free, Starter, Team ...")
    tier = cache.semantic
    # a fresh tier over the same store reads the stored vector instead of re-embedding it
    calls = []

    class Counting(HashingEmbedder):
        def embed(self, texts):
            calls.append(list(texts))
            return super().embed(texts)

    fresh = SemanticTier(cache.store, Counting(), names=PLANS, threshold=0.85,
                         clock=cache.clock)
    fresh.load()
    calls.clear()
    c2 = ResponseCache(cache.store, SCOPE, semantic=fresh, clock=cache.clock)
    assert ask(c2, "What are your pricing plans please?").result == "semantic_hit"
    assert calls == [["what are your pricing plans please"]]
    assert fresh.stats()["indexed"] == {f"marketing:3:{SCOPE.digest}": 1}

    cache.invalidate("*")
    assert tier.stats()["indexed"] == {}
    assert ask(cache, "What are your pricing plans please?").result == "miss"


def test_other_scopes_do_not_match(cache):
    ask(cache, "What are your pricing plans?", "Free ...")
    assert ask(cache, "What are your pricing plans please?", "other").result == "semantic_hit"
    assert ask(cache, "What are your pricing plans please?", namespace="support").result == (
        "miss"
    )


def test_a_full_index_forgets_the_oldest_questions_but_their_entries_still_answer_exactly():
    store = SQLiteStore(":memory:")
    clock = FakeClock()
    tier = SemanticTier(store, HashingEmbedder(), names=PLANS, threshold=0.85, clock=clock,
                        max_rows=20)
    tier.load()
    c = ResponseCache(store, SCOPE, semantic=tier, clock=clock)
    try:
        first = "How do I export my campaign analytics to a spreadsheet?"
        ask(c, first, "Use the export button.")
        for i in range(40):
            clock.t += 1  # one TTL: each later question expires later
            ask(c, f"Question number {i} about topic {i * 7} and item {i}?", f"answer {i}")
        rows, evicted = tier.index_counts()
        assert rows <= 20 and evicted == 41 - rows
        assert tier.stats()["max_rows"] == 20
        assert ask(c, first).result == "hit"  # its entry is still in the store
        assert ask(c, first.replace("How do I", "How can I")).result == "miss"  # its row is not
    finally:
        c.close()


def test_sync_adds_what_another_instance_stored_and_reads_each_entry_once(tmp_path):
    db = tmp_path / "shared.sqlite3"
    clock = FakeClock()
    caches = []
    for _ in range(2):
        store = SQLiteStore(db)
        tier = SemanticTier(store, HashingEmbedder(), names=PLANS, threshold=0.85, clock=clock)
        tier.load()
        caches.append(ResponseCache(store, SCOPE, semantic=tier, clock=clock))
    a, b = caches
    try:
        ask(a, "How do I reset my password?", "Use the reset link on the sign-in page.")
        ask(b, "Which languages do you write in?", "Thirty, including Japanese.")  # loads b's index
        asked = "Which languages do you write in please?"
        assert ask(a, asked).result == "miss"  # a's index was read before b stored it
        reads = []
        real = a.store.scan_since
        a.store.scan_since = lambda after, batch=500: reads.append(after) or real(after, batch)
        assert a.semantic.sync() == 1  # b's entry (a's own is read again and kept once)
        assert a.semantic.index_counts()[0] == 2 and a.semantic.synced == 1
        lk = ask(a, asked)
        assert lk.result == "semantic_hit" and lk.entry is not None and lk.entry.reply.startswith("Thirty")
        reads.clear()
        assert a.semantic.sync() == 0 and len(reads) == 1  # from where it stopped: nothing new
        # b's index was read after a stored its question: it had both already
        assert b.semantic.sync() == 0 and b.semantic.index_counts()[0] == 2
    finally:
        for c in caches:
            c.close()


def test_sync_before_the_tier_is_ready_or_with_no_index_does_nothing():
    store = SQLiteStore(":memory:")
    tier = SemanticTier(store, HashingEmbedder(), names=PLANS)
    assert tier.sync() == 0  # not loaded
    tier.load()
    assert tier.sync() == 0  # no scope asked about yet
