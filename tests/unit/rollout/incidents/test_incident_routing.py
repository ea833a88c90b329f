"""Who is told of what: audiences and routes from configuration."""

from __future__ import annotations

import pytest

from ethos.rollout.incidents.routing import RoutingError, audiences_for, load_routing, notifiers_for

CONFIG = {
    "smtp": {"host": "127.0.0.1", "port": 2525, "from": "ethos@example.com"},
    "pagerduty": {"url": "http://127.0.0.1:9/v2/enqueue"},
    "audiences": {"oncall": {"pagerduty": True, "chat": True},
                  "stakeholders": {"email": ["product@example.com"]},
                  "dpo": {"email": ["dpo@example.com"]}},
    "routes": {"rollback": ["oncall", "stakeholders"], "pii-leak": ["oncall", "stakeholders", "dpo"]},
}
ENV = {"ETHOS_PAGERDUTY_ROUTING_KEY": "k" * 32, "ETHOS_NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}


def test_the_dpo_hears_of_pii_leaks_only():
    kinds = lambda ns: sorted(n.describe() for n in ns)  # noqa: E731
    rollback = kinds(notifiers_for("rollback", CONFIG, ENV))
    pii = kinds(notifiers_for("pii-leak", CONFIG, ENV))
    assert not any("dpo" in d for d in rollback)
    assert any("to dpo" in d for d in pii) and any("to stakeholders" in d for d in pii)
    assert "pagerduty (127.0.0.1)" in pii and "webhook (127.0.0.1)" in pii
    assert all("k" * 32 not in d for d in pii)  # the routing key is never shown


def test_defaults_and_errors(tmp_path):
    assert audiences_for("drill", {}) == ["oncall"]
    assert [n.describe() for n in notifiers_for("rollback", {}, {})] == []
    with pytest.raises(RoutingError, match="unknown audience"):
        notifiers_for("rollback", {"routes": {"rollback": ["ghosts"]}, "audiences": {}}, {})
    with pytest.raises(RoutingError, match="no smtp.host"):
        notifiers_for("rollback", {"audiences": {"oncall": {"email": ["a@b.c"]}}}, {})
    (tmp_path / "notify.yaml").write_text("routes: {rollback: [oncall]}\n")
    assert load_routing(tmp_path, env={})["routes"] == {"rollback": ["oncall"]}
    assert load_routing(tmp_path / "none", env={}) == {}
