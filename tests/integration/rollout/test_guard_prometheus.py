"""The Prometheus signal source against a real Prometheus (Debian package ``prometheus``)
scraping a real local stack (`ethos stack up`: router + blue + green), all on 127.0.0.1.

Skipped, with the reason, when the ``prometheus`` binary is not installed
(``apt-get install -y prometheus``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ethos.rollout.guard import GuardState, evaluate, parse_policy
from ethos.rollout.sources import PrometheusSource, SourceError, collect_snapshot, queries_for
from ethos.rollout.stack.state import free_base_port, free_port

PROMETHEUS = shutil.which("prometheus")
ETHOS = str(Path(sys.executable).parent / "ethos")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary: apt-get install -y prometheus"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[type-arg]
    state = tmp_path_factory.mktemp("stack")
    env = {k: v for k, v in os.environ.items() if k not in ("ETHOS_STATE_DIR", "ETHOS_ROUTER_URL")}
    base = free_base_port(3)
    up = subprocess.run([ETHOS, "stack", "up", "--base-port", str(base), "--state-dir", str(state),
                         "--weights", "blue=50,green=50", "--green-env", "ETHOS_FAULTS=error_rate=0.5", "--json"],
                        env=env, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout.strip().splitlines()[-1])
    yield info
    subprocess.run([ETHOS, "stack", "down", "--state-dir", str(state)], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def prometheus(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[type-arg]
    d = tmp_path_factory.mktemp("prom")
    port = free_port()
    host = lambda url: url.split("://", 1)[1]  # noqa: E731
    targets = "\n".join(
        f"      - targets: ['{host(url)}']\n        labels: {{revision: {name}}}"
        for name, url in stack["revisions"].items()
    )
    (d / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: ethos\n    honor_labels: true\n    static_configs:\n" + targets + "\n"
    )
    # Series are born at their first increment and increase() cannot see that one: give every
    # series (200 and 500 on green) a first value before Prometheus starts scraping.
    with httpx.Client(timeout=30) as c:
        for rev_url in stack["revisions"].values():
            for _ in range(10):
                c.post(f"{rev_url}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"})
    log = (d / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((d / "prometheus.log").read_text()[-3000:])
            time.sleep(0.2)
        # traffic straight to each revision once Prometheus has seen the counters at rest,
        # then wait until it has scraped the result (no fixed sleeps: the machine may be busy)
        _wait_for(url, "count(ethos_requests_total{route=\"/api/ai/marketing-chat\"})", lambda v: v >= 3)
        with httpx.Client(timeout=30) as c:
            for name, rev_url in stack["revisions"].items():
                for i in range(60):
                    c.post(f"{rev_url}/api/ai/marketing-chat", json={"message": "What are your pricing plans?"})
        _wait_for(url, "min by () (sum by (revision) (ethos_requests_total{route=\"/api/ai/marketing-chat\"}))",
                  lambda v: v >= 70)
        time.sleep(2)  # one more scrape of each target, so increase() has its end point
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()


def _wait_for(url: str, promql: str, ok, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            res = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"]
            if res and ok(float(res[0]["value"][1])):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never showed {promql}")


NEEDS = {"error_rate": [60.0], "http_error_rate": [60.0], "up": [0.0], "store_up": [0.0],
         "cache_hit_rate": [60.0], "latency": [60.0], "latency_p95": [60.0], "ttft": [60.0],
         "requests": [60.0], "store_cost_usd_per_hour": [60.0]}


def test_prometheus_source_reads_a_real_stack(prometheus: str) -> None:
    src = PrometheusSource(prometheus)
    got = src.collect(NEEDS, ["blue", "green"], time.time())
    src.close()
    g_err, b_err = got[("green", "error_rate", 60.0)], got[("blue", "error_rate", 60.0)]
    # green fails half its requests on purpose, blue none; increase() extrapolates, and a
    # series born mid-window loses its first increment, so only the shape is asserted
    assert g_err.samples >= 30 and b_err.samples >= 30
    assert g_err.value is not None and g_err.value > 0.2
    assert b_err.value == 0.0
    assert got[("green", "up", 0.0)].value == 1.0 and got[("blue", "up", 0.0)].value == 1.0
    assert got[("blue", "store_up", 0.0)].value == 1.0
    lat = got[("blue", "latency", 60.0)]
    assert lat.distribution is not None and len(lat.distribution) >= 30
    assert got[("blue", "latency_p95", 60.0)].value is not None
    assert got[("blue", "cache_hit_rate", 60.0)].value is not None
    assert got[("blue", "store_cost_usd_per_hour", 60.0)].value is not None


def test_policy_fires_on_prometheus_signals_and_promql_is_per_trigger(prometheus: str) -> None:
    policy = parse_policy({"triggers": [
        {"name": "err", "signal": "error_rate", "comparator": ">", "threshold": 0.05, "windows": [60],
         "min_samples": 20, "action": "emergency"},
        {"name": "custom", "signal": "requests", "comparator": ">", "threshold": 10, "windows": [60],
         "min_samples": 1, "action": "notify",
         "query": 'sum(increase(ethos_requests_total{revision="$revision",route="/api/ai/marketing-chat"}[$window]))',
         "samples_query": "vector(1)"},
    ]})
    src = PrometheusSource(prometheus, queries_for(policy))
    snap = collect_snapshot([src], policy.needs(), ["blue", "green"], time.time())
    src.close()
    ev = evaluate(policy, snap, GuardState(), snap.at)
    assert ev.result("err").status == "firing" and ev.decision.action == "emergency"
    assert ev.result("custom").status == "firing" and ev.result("custom").samples == 1


def test_prometheus_down_is_no_data() -> None:
    port = free_port()
    src = PrometheusSource(f"http://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(SourceError, match="cannot reach Prometheus"):
        src.collect({"error_rate": [60.0]}, ["green"], 0.0)
    snap = collect_snapshot([src], {"error_rate": [60.0]}, ["green"], 0.0)
    assert "prometheus" in snap.unavailable and not snap.measurements
    src.close()


def test_bad_promql_is_a_source_error(prometheus: str) -> None:
    src = PrometheusSource(prometheus)
    with pytest.raises(SourceError, match="refused"):
        src.query("sum(rate(")
    src.close()
