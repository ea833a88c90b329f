"""The PII gate: never store an exchange with PII in the prompt or the answer."""

from __future__ import annotations

from collections import Counter

from ethos.cache.gates.admission import Exchange, completeness_gate, decide
from ethos.cache.gates.pii import make_pii_gate, pii_check, pii_findings, pii_gate, pii_rejection


def ex(q: str, a: str = "The Team plan is $49/month per seat.") -> Exchange:
    return Exchange(question=q, reply=a, answerer="kb")


def test_clean_exchange_passes() -> None:
    e = ex("How much is the Team plan? We have 10,000 requests a day.",
           "Team is $49/month; call 1300 384 677 or email support@ethosprompt.com.")
    assert pii_gate(e) is None
    assert pii_findings(e) == {"prompt": [], "answer": []}


def test_pii_in_prompt() -> None:
    e = ex("I'm Ana, email me at ana@example.com about Team pricing")
    r = pii_gate(e)
    assert r.gate == "pii" and r.reason == "pii:PERSON"
    assert r.detail == "prompt: EMAIL_ADDRESS, PERSON"
    assert "ana@example.com" not in repr(r) and "Ana" not in r.detail


def test_pii_in_answer_and_echoed_name() -> None:
    e = ex("my name is bob, what is Team?", "Hi Bob! Team is $49/month. Call 0412 345 678.")
    findings, r = pii_check(e)
    assert findings == {"prompt": ["PERSON"], "answer": ["PERSON", "PHONE_NUMBER"]}
    assert r.reason == "pii:PERSON" and r.detail == "prompt: PERSON; answer: PERSON, PHONE_NUMBER"
    counts = Counter((entity, where) for where, es in findings.items() for entity in es)
    assert counts[("PERSON", "answer")] == 1


def test_echo_of_a_capitalised_name_without_a_greeting() -> None:
    e = ex("This is Priya from Acme. Do you do SSO?", "Yes Priya, SSO is on every paid plan.")
    assert pii_findings(e)["answer"] == ["PERSON"]


def test_rejection_helper_and_allow_list() -> None:
    assert pii_rejection({"prompt": [], "answer": []}) is None
    assert pii_rejection({"answer": ["US_SSN"]}).reason == "pii:US_SSN"
    e = ex("call me on 0412 345 678")
    assert make_pii_gate(allow=["0412 345 678"])(e) is None
    assert make_pii_gate()(e).reason == "pii:PHONE_NUMBER"


def test_in_the_admission_chain() -> None:
    gates = [completeness_gate, pii_gate]
    assert decide(ex("TFN 123 456 782, which plan?"), gates).reason == "pii:AU_TFN"
    assert decide(ex("Which plan for 5 seats?"), gates) is None
