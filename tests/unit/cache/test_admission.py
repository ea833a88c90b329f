from ethos.cache.gates.admission import Exchange, Rejection, completeness_gate, decide


def ex(**kw) -> Exchange:
    base = dict(question="What are your pricing plans?", reply="Free, Starter, Team.", answerer="kb")
    base.update(kw)
    return Exchange(**base)


def test_complete_answer_is_admitted():
    assert completeness_gate(ex()) is None
    assert decide(ex(), [completeness_gate]) is None


def test_empty_answer_is_refused():
    r = completeness_gate(ex(reply="   "))
    assert r == Rejection("completeness", "empty", "the answer is empty")


def test_error_fallback_and_truncated_are_refused():
    assert completeness_gate(ex(finish_reason="error")).reason == "error"
    assert completeness_gate(ex(finish_reason="fallback")).reason == "fallback"
    assert completeness_gate(ex(finish_reason="length")).reason == "truncated"
    assert completeness_gate(ex(finish_reason="content_filter")).reason == "truncated"


def test_first_rejecting_gate_wins():
    calls = []

    def a(e):
        calls.append("a")
        return Rejection("pii", "pii:EMAIL_ADDRESS")

    def b(e):  # never reached
        calls.append("b")
        return None

    assert decide(ex(), [a, b]).gate == "pii"
    assert calls == ["a"]
