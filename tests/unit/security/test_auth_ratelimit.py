"""The wrong-admin-key limiter and gate, on a fake clock."""

from __future__ import annotations

import hmac

import pytest
from prometheus_client import CollectorRegistry, Counter

from ethos.security import AdminGate, AuthCounters, AuthLimiter, LimitSettings, client_address

S = LimitSettings(max_failures=3, window_s=10, lockout_s=5, lockout_max_s=40, max_tracked=4, exempt=())


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_locks_out_after_n_failures_within_the_window():
    lim = AuthLimiter(S)
    assert lim.failure("a", 0) == 0 and lim.failure("a", 1) == 0
    assert lim.locked_for("a", 1) == 0
    assert lim.failure("a", 2) == 5  # the 3rd failure starts a 5 s lockout
    assert lim.locked_for("a", 2) == 5 and lim.locked_for("a", 6.5) == pytest.approx(0.5)
    assert lim.locked_for("a", 7) == 0
    assert lim.locked_for("b", 2) == 0  # per address


def test_failures_outside_the_window_are_forgotten():
    lim = AuthLimiter(S)
    lim.failure("a", 0)
    lim.failure("a", 1)
    assert lim.failure("a", 10.5) == 0  # the one at 0 left the 10 s window
    assert lim.failure("a", 10.9) == 5  # 1, 10.5 and 10.9 are within 10 s


def test_lockout_doubles_for_repeat_offenders_up_to_the_cap_then_resets_after_quiet():
    lim = AuthLimiter(S)
    t, got = 0.0, []
    for _ in range(5):
        for _ in range(3):
            d = lim.failure("a", t)
        got.append(d)
        t += d  # come back exactly when the lockout ends
    assert got == [5, 10, 20, 40, 40]
    t += 40  # quiet for lockout_max_s after the last lockout ended
    for _ in range(3):
        d = lim.failure("a", t)
    assert d == 5


def test_success_clears_the_address():
    lim = AuthLimiter(S)
    lim.failure("a", 0)
    lim.failure("a", 0)
    lim.success("a")
    assert lim.failure("a", 0) == 0 and len(lim) == 1


def test_memory_is_bounded_least_recently_seen_forgotten_first():
    lim = AuthLimiter(S)
    for i in range(4):
        lim.failure(f"10.0.0.{i}", 0)
    lim.failure("10.0.0.0", 1)  # seen again: most recent
    lim.failure("10.0.0.9", 2)
    assert len(lim) == 4
    assert "10.0.0.1" not in lim._records and "10.0.0.0" in lim._records
    for i in range(10_000):
        lim.failure(f"h{i}", 3)
    assert len(lim) == 4


def test_settings_from_env_and_errors_name_the_variable():
    s = LimitSettings.from_env({"ETHOS_ADMIN_AUTH_MAX_FAILURES": "5", "ETHOS_ADMIN_AUTH_WINDOW_S": "30",
                                "ETHOS_ADMIN_AUTH_LOCKOUT_S": "2", "ETHOS_ADMIN_AUTH_LOCKOUT_MAX_S": "8",
                                "ETHOS_ADMIN_AUTH_MAX_TRACKED": "7", "ETHOS_ADMIN_AUTH_TRUSTED_PROXIES": "",
                                "ETHOS_ADMIN_AUTH_EXEMPT": "10.0.0.1, ::1"})
    assert (s.max_failures, s.window_s, s.lockout_s, s.lockout_max_s, s.max_tracked, s.trusted_proxies,
            s.exempt) == (5, 30, 2, 8, 7, (), ("10.0.0.1", "::1"))
    assert LimitSettings.from_env({}) == LimitSettings()
    with pytest.raises(ValueError, match="ETHOS_ADMIN_AUTH_MAX_FAILURES"):
        LimitSettings.from_env({"ETHOS_ADMIN_AUTH_MAX_FAILURES": "ten"})
    with pytest.raises(ValueError, match="ETHOS_ADMIN_AUTH_"):
        LimitSettings.from_env({"ETHOS_ADMIN_AUTH_MAX_FAILURES": "0"})


def test_client_address_believes_only_the_trusted_proxy_and_its_own_item():
    trusted = ("127.0.0.1",)
    assert client_address("203.0.113.9", ["10.1.1.1"], trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"
    # the client's own header first, the router's appended one last
    assert client_address("127.0.0.1", ["6.6.6.6", "198.51.100.7"], trusted) == "198.51.100.7"
    assert client_address("127.0.0.1", ["6.6.6.6, 198.51.100.7"], trusted) == "198.51.100.7"
    assert client_address("127.0.0.1", ["not-an-ip"], trusted) == "127.0.0.1"
    assert client_address(None, [], trusted) == "unknown"


def _gate(clock):
    reg = CollectorRegistry()
    failures = Counter("f", "f", ["reason"], registry=reg)
    lockouts = Counter("l", "l", registry=reg)
    return AdminGate(S, AuthCounters(failures, lockouts), clock=clock), reg


def test_gate_401_403_then_429_without_comparing_and_counts(monkeypatch):
    clock = Clock()
    gate, reg = _gate(clock)
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert gate.check("a", None, "k").status == 401
    assert gate.check("a", "x", "k").status == 403
    assert gate.check("a", "y", "k").status == 403  # 3rd: lockout starts, answer unchanged
    n = len(calls)
    d = gate.check("a", "k", "k")  # even the right key: not compared while locked out
    assert d.status == 429 and d.retry_after == 5 and d.headers() == {"Retry-After": "5"}
    assert d.body()["error"] == "too_many_auth_failures" and len(calls) == n
    assert gate.check("b", "k", "k") is None  # other addresses unaffected
    clock.t += 5
    assert gate.check("a", "k", "k") is None
    v = reg.get_sample_value
    assert (v("f_total", {"reason": "missing"}), v("f_total", {"reason": "wrong"}),
            v("f_total", {"reason": "locked_out"}), v("l_total")) == (1, 2, 1, 1)


def test_exempt_addresses_are_counted_but_never_locked_out():
    reg = CollectorRegistry()
    gate = AdminGate(LimitSettings(max_failures=2, exempt=("127.0.0.1",)),
                     AuthCounters(Counter("f", "f", ["reason"], registry=reg), Counter("l", "l", registry=reg)),
                     clock=Clock())
    assert [gate.check("127.0.0.1", "x", "k").status for _ in range(5)] == [403] * 5
    assert gate.check("127.0.0.1", "k", "k") is None
    assert [gate.check("10.0.0.1", "x", "k").status for _ in range(3)] == [403, 403, 429]
    assert reg.get_sample_value("f_total", {"reason": "wrong"}) == 7
    assert reg.get_sample_value("l_total") == 1


def test_gate_no_key_configured_is_503_and_never_locks_out():
    gate, reg = _gate(Clock())
    for _ in range(10):
        assert gate.check("a", "x", "").status == 503
    assert reg.get_sample_value("f_total", {"reason": "not_configured"}) == 10
    assert reg.get_sample_value("l_total") == 0


def test_refusals_never_carry_the_key():
    gate, _ = _gate(Clock())
    for presented in (None, "secret-guess-123", "secret-guess-123", "secret-guess-123"):
        d = gate.check("a", presented, "the-real-key-XYZ")
        blob = repr(d) + str(d.body()) + str(d.headers())
        assert "secret-guess-123" not in blob and "the-real-key-XYZ" not in blob
