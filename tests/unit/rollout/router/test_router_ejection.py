"""Passive ejection of a revision that refuses connections (pure, with explicit times)."""

from __future__ import annotations

from ethos.rollout.router.ejection import Ejections

W = {"blue": 50, "green": 50}


def test_nothing_ejected_routes_as_drawn() -> None:
    e = Ejections()
    assert not e.any and e.divert(W, "green", 0.0) == "green" and e.view(0.0) == {}


def test_refusals_eject_with_doubling_up_to_the_cap_and_a_connection_ends_it() -> None:
    e = Ejections(base_s=1.0, max_s=3.0)
    assert e.refused("green", 100.0) == 101.0
    assert e.divert(W, "green", 100.5) == "blue" and e.divert(W, "blue", 100.5) == "blue"
    assert e.divert(W, "green", 101.0) == "green"  # expired: the next request probes it
    assert e.refused("green", 101.0) == 103.0      # refused again: twice as long
    assert e.refused("green", 103.0) == 106.0      # capped at max_s
    assert e.view(104.0) == {"green": 2.0}
    e.accepted("green")
    assert not e.any and e.divert(W, "green", 104.0) == "green"


def test_never_diverts_to_an_ejected_or_missing_revision() -> None:
    e = Ejections()
    e.refused("green", 0.0)
    e.refused("blue", 0.0)
    assert e.divert(W, "green", 0.5) == "green"  # both ejected: try the one drawn
    assert e.divert({"green": 100}, "green", 0.5) == "green"  # nowhere else to go


def test_diverts_to_a_zero_weight_revision_as_a_retry_would() -> None:
    e = Ejections()
    e.refused("green", 0.0)
    assert e.divert({"blue": 0, "green": 100}, "green", 0.5) == "blue"


def test_disabled() -> None:
    e = Ejections(base_s=0)
    e.refused("green", 0.0)
    assert not e.any and e.divert(W, "green", 0.0) == "green"
