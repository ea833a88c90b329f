"""The load test's pure parts (bench/loadsoak): the mix, SSE judging, PII values, the RSS verdict."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))  # bench/ is scripts, not a package
from loadsoak.checks import PiiValues, judge_stream, mask_pii, parse_sse  # noqa: E402
from loadsoak.mix import HOT_QUESTIONS, Topic, build_mix, kb_topics, pii_message  # noqa: E402
from loadsoak.run import Timeline  # noqa: E402
from loadsoak.stats import percentile, rss_trend, slope_per_min  # noqa: E402

MIB = 1024 * 1024


def test_mix_is_seeded_and_has_every_kind():
    topics = kb_topics()
    assert len(topics) > 30 and all(t.paraphrases for t in topics)
    a = build_mix(2000, 3, topics)
    assert a == build_mix(2000, 3, topics) and a != build_mix(2000, 4, topics)
    kinds = Counter(r.kind for r in a)
    assert set(kinds) == {"repeat", "paraphrase", "new", "pii"}
    assert 0.1 < sum(r.stream for r in a) / len(a) < 0.3
    assert [r.message for r in a if not r.pii][: len(HOT_QUESTIONS)] == list(HOT_QUESTIONS)


def test_every_pii_message_is_sent_twice_and_never_without_pii_flag():
    a = build_mix(3000, 5, kb_topics())
    pii = Counter(r.message for r in a if r.pii)
    # the last few may fall past the end of the run
    assert sum(1 for c in pii.values() if c == 2) >= len(pii) - 40
    assert all(c <= 2 for c in pii.values())
    assert not any("@example.com" in r.message for r in a if not r.pii)


def test_paraphrase_follows_its_question_and_new_is_new():
    t = [Topic(f"q{i}?", (f"p{i}?",)) for i in range(50)]
    a = build_mix(500, 1, t, hot=["hot?"], shares={"repeat": 0.3, "paraphrase": 0.3, "new": 0.4, "pii": 0.0})
    seen: set[str] = set()
    for r in a:
        if r.kind == "new":
            assert r.message not in seen
        if r.kind == "paraphrase":
            assert r.message.replace("p", "q") in seen
        if r.kind == "repeat":
            assert r.message in seen
        seen.add(r.message)


def test_sse_judging():
    ok = 'data: {"delta":"Hi"}\n\nevent: done\ndata: {"cache":"miss"}\n\n'
    assert parse_sse(ok) == [("message", '{"delta":"Hi"}'), ("done", '{"cache":"miss"}')]
    assert judge_stream(parse_sse(ok)) is None
    assert judge_stream(parse_sse('data: {"delta":"Hi"}\n\n')) == "stream_incomplete"
    assert judge_stream(parse_sse('event: error\ndata: {}\n\n' + ok)) == "stream_error_event"
    assert judge_stream(parse_sse("event: done\ndata: {}\n\n")) == "stream_empty"


def test_pii_values_find_another_requests_values_only():
    import random

    r = random.Random(1)
    msgs = [pii_message(r, "What is the price?") for _ in range(20)]
    v = PiiValues(msgs)
    assert v.emails or v.digits
    own = msgs[0]
    assert not v.foreign("The price is $49.", own)
    assert not v.foreign(own, own)  # echoing one's own details is not a leak
    other = next(m for m in msgs if PiiValues.of(m) != PiiValues.of(own) and (PiiValues.of(m)[0] - PiiValues.of(own)[0]
                                                                            or PiiValues.of(m)[1] - PiiValues.of(own)[1]))
    assert v.foreign(f"Sure. {other}", own)
    assert "@" not in mask_pii(other) and not any(c.isdigit() for c in mask_pii(other))


def test_rss_verdict():
    flat = [(t, 200 * MIB + (t % 7) * 1024) for t in range(0, 600, 5)]
    rep = rss_trend(flat, warmup_s=60)
    assert rep["verdict"] == "flat" and abs(rep["slope_mib_per_min"]) < 0.1
    growing = [(t, 200 * MIB + t / 60 * 2 * MIB) for t in range(0, 600, 5)]  # 2 MiB/min
    rep = rss_trend(growing, warmup_s=60)
    assert rep["verdict"] == "growing" and abs(rep["slope_mib_per_min"] - 2.0) < 0.01
    assert rss_trend(flat[:20], warmup_s=60)["verdict"] == "too short"
    assert slope_per_min([(0, 1.0)]) is None


def test_percentile_and_timeline():
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([], 50) is None
    assert percentile(list(range(1, 101)), 99) == 99
    tl = Timeline()
    tl.enter("w50/50", 10)
    tl.enter("after", 25)
    assert tl.spans(40) == {"before": 10, "w50/50": 15, "after": 15}


def test_tail_slope_over_the_last_30_minutes():
    """Issue 20: the slope of the last 30 minutes only (warm-up growth left out), pass <= 0.1."""
    from loadsoak.stats import MIB, tail_slope

    growing_then_flat = [(t, (100 + min(t, 1200) / 60) * MIB) for t in range(0, 3600, 5)]
    r = tail_slope(growing_then_flat, warmup_s=120)
    assert r["verdict"] == "pass" and abs(r["slope_mib_per_min"]) < 1e-6
    growing = [(t, (100 + 0.2 * t / 60) * MIB) for t in range(0, 3600, 5)]
    r = tail_slope(growing, warmup_s=120)
    assert r["verdict"] == "fail" and abs(r["slope_mib_per_min"] - 0.2) < 1e-3
    assert tail_slope(growing[:100], warmup_s=120)["verdict"] == "too short"
