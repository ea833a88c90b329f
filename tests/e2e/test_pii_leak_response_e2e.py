"""The PII-leak response end to end on a real stack (issue 15).

As an operator would meet it: green runs with a misconfigured allow-list
(``ETHOS_PII_ALLOW`` names a customer's e-mail address), takes all the traffic, and caches a
question holding that address; two other sessions are answered from that entry (its hit
count, the "served" count, is 2). Nobody runs a scan: blue's periodic scan (correct
allow-list, ``ETHOS_PII_SCAN_INTERVAL_S=0.5``) finds the entry and its ``/metrics`` show
``ethos_cache_pii_leaks 1``. Then ``ethos incident pii-leak --yes --json`` runs to the end:
one leaking entry served 2 times, traffic 100% blue, the entry gone from the store, and the
address printed or written nowhere (the commands' output, the incident files, the evidence
outside ``quarantine/``, the store, every other file of the run).

The revisions' logs are checked apart: the allow-list only lets the cache keep what it names,
log redaction never applies it (``ethos.pii.log_safe``), so even green logs no address, the
evidence is clean and the response exits 0. (Found by this test: green logged the address in
clear, and the response exited 1 with its evidence quarantined.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

from ethos.cache import open_store  # noqa: E402
from ethos.cache.keys import normalise  # noqa: E402
from tests.e2e.e2e_helpers import wait_until  # noqa: E402
from tests.stacks import ETHOS, stack_down, stack_up  # noqa: E402

KEY = "e2e-pii-leak-response-key"
EMAIL = "jane.citizen@example-corp.com"
QUESTION = f"my email is {EMAIL}, what plans do you have?"
#: the address as written, and as the cache keeps it (normalised: "jane citizen example corp com")
NEEDLES = ("jane.citizen", "example-corp.com", "jane citizen", "example corp", normalise(EMAIL))
LEAK_GAUGE = re.compile(r'^ethos_cache_pii_leaks\{[^}]*revision="blue"[^}]*\}\s+([0-9.e+-]+)\s*$', re.M)
SCAN_INTERVAL = "ETHOS_PII_SCAN_INTERVAL_S=0.5"


def env_for(state: Path) -> dict[str, str]:
    env = {**os.environ, "ETHOS_ADMIN_API_KEY": KEY, "ETHOS_STATE_DIR": str(state)}
    for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL", "ETHOS_AUTHORITY_FILE",
              "ETHOS_NOTIFY_CONFIG", "ETHOS_INCIDENT_TEMPLATE", "ETHOS_PAGERDUTY_ROUTING_KEY", "ETHOS_CACHE_URL",
              "ETHOS_LOG_FILE", "ETHOS_PII_ALLOW", "ETHOS_PII_SCAN_INTERVAL_S"):
        env.pop(k, None)
    return env


def run(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ETHOS, *args], capture_output=True, text=True, env=env_for(state), timeout=timeout,
                          cwd=state.parent, stdin=subprocess.DEVNULL)


def _entries(cache_url: str) -> list:
    """Every entry of the store whose question holds the address (as the cache keeps it)."""
    store = open_store(cache_url, create=False)
    try:
        return [e for batch in store.scan() for e in batch if normalise(EMAIL) in (e.question or "")]
    finally:
        store.close()


def _leak_gauge(blue: str) -> tuple[float | None, str]:
    try:
        text = httpx.get(f"{blue}/metrics", timeout=5).text
    except httpx.HTTPError as e:
        return None, f"{type(e).__name__}: {e}"
    m = LEAK_GAUGE.search(text)
    return (float(m.group(1)) if m else None), text


def _files(root: Path):
    """Every file the run left, but the raw evidence moved aside to a ``quarantine/`` folder."""
    for p in sorted(root.rglob("*")):
        if p.is_file() and "quarantine" not in p.relative_to(root).parts:
            yield p


def _personal(outputs: list[tuple[str, str]], root: Path, skip: Path | None = None) -> list[str]:
    """Where the address (as written or as the cache keeps it) is, in ``outputs`` and the files
    under ``root`` (but ``quarantine/`` folders and ``skip``)."""
    sources = list(outputs)
    for p in _files(root):
        if skip is not None and p.is_relative_to(skip):
            continue
        data = p.read_bytes()
        sources.append((f"file {p.relative_to(root)}", data.decode("utf-8", "replace")))
    found = []
    for where, text in sources:
        low = text.lower()
        for needle in NEEDLES:
            i = low.find(needle)
            if i >= 0:
                found.append(f"{needle!r} in {where}: ...{text[max(0, i - 80):i + len(needle) + 40]!r}...")
    return found


@dataclass
class Run:
    """What the scenario did and saw, for the tests to judge."""

    state: Path
    router: str
    cache_url: str
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (where, text) of everything printed
    x_cache: list[str] = field(default_factory=list)  # X-Cache of the three asks (miss, hit, hit)
    routed_to: list[str] = field(default_factory=list)
    gauge: float | None = None  # blue's ethos_cache_pii_leaks once the periodic scan ran
    gauge_after: list[float | None] = field(default_factory=list)  # the same, read for 2 s more
    metrics_text: str = ""
    leak: subprocess.CompletedProcess | None = None  # `ethos incident pii-leak --yes --json`
    weights: dict[str, int] = field(default_factory=dict)  # the router's, after the response
    left: list = field(default_factory=list)  # entries holding the address, after the response
    x_cache_after: str = ""


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory) -> Run:
    """The scenario, once: green with a customer's address on its allow-list takes all the
    traffic and caches a question holding it; it is served twice; blue's periodic scan finds
    it; the operator runs the PII-leak response."""
    root = tmp_path_factory.mktemp("pii-leak-response")
    state = root / ".ethos"
    env = env_for(state)
    r = stack_up(state, "--weights", "blue=0,green=100", "--json",
                 "--blue-env", SCAN_INTERVAL,
                 "--green-env", SCAN_INTERVAL, "--green-env", f"ETHOS_PII_ALLOW={EMAIL}",
                 env=env, timeout=120)
    try:
        if r.returncode != 0:
            raise RuntimeError(f"stack up failed: {r.stdout}{r.stderr}")
        info = json.loads(r.stdout)
        blue = info["revisions"]["blue"]
        cache_url = json.loads((state / "stack.json").read_text())["cache_url"]  # the store both share
        run_ = Run(state, info["router"], cache_url,
                   outputs=[("`ethos stack up` stdout", r.stdout), ("`ethos stack up` stderr", r.stderr)])
        url = run_.router + "/api/ai/marketing-chat"
        with httpx.Client(timeout=30) as c:
            for session in ("sess-author", "sess-other-1", "sess-other-2"):
                resp = c.post(url, json={"message": QUESTION, "session_id": session})
                assert resp.status_code == 200 and resp.json().get("reply"), resp.text[:300]
                run_.x_cache.append(resp.headers.get("x-cache", "").lower())
                run_.routed_to.append(resp.headers.get("x-routed-to", ""))
        # each revision flushes its hit counts to the store about every second
        wait_until(lambda: [e.hit_count for e in _entries(cache_url)] == [2], timeout=10, interval=0.1,
                   what=f"the leaking entry's hit count of 2 in the store (X-Cache {run_.x_cache})")

        # nobody scans: blue's periodic scan must find the entry (bounded wait)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run_.gauge, run_.metrics_text = _leak_gauge(blue)
            if run_.gauge == 1:
                break
            time.sleep(0.1)
        if run_.gauge == 1:  # and it stays: the store's truth, not one scan's
            for _ in range(10):
                time.sleep(0.2)
                run_.gauge_after.append(_leak_gauge(blue)[0])
        run_.outputs.append(("blue /metrics", run_.metrics_text))

        if run_.gauge == 1:
            run_.leak = run("incident", "pii-leak", "--yes", "--json", "--by", "ops-oncall",
                            "--justification", "a customer's e-mail address is cached", state=state, timeout=180)
            run_.outputs += [("`ethos incident pii-leak` stdout", run_.leak.stdout),
                             ("`ethos incident pii-leak` stderr", run_.leak.stderr)]
            run_.weights = {k: int(v) for k, v in
                            httpx.get(run_.router + "/router/traffic", timeout=10).json()["weights"].items()}
            run_.left = _entries(cache_url)
            with httpx.Client(timeout=30) as c:  # asked again: not answered from the cache
                resp = c.post(url, json={"message": QUESTION, "session_id": "sess-after"})
                run_.x_cache_after = resp.headers.get("x-cache", "").lower()
                run_.outputs.append(("the chat headers after the response",
                                     "\n".join(f"{k}: {v}" for k, v in resp.headers.items())))
    finally:
        stack_down(state, env=env, timeout=120)
    return run_


def test_periodic_scan_finds_a_leak_and_the_response_clears_it(leak_run: Run) -> None:
    run_ = leak_run
    # green, with the wrong allow-list, cached it and served it twice (from the store's hit count)
    assert run_.x_cache == ["miss", "hit", "hit"] and set(run_.routed_to) <= {"green", ""}, \
        (run_.x_cache, run_.routed_to)

    # the periodic scan found it with nobody running a scan, and the gauge stays up
    assert run_.gauge == 1, \
        f"ethos_cache_pii_leaks on blue never reached 1 in 30 s; last /metrics:\n{run_.metrics_text[-4000:]}"
    assert run_.gauge_after == [1] * 10, run_.gauge_after

    # the response ran to the end: 1 leaking entry served 2 times, 100% blue, the entry gone
    r = run_.leak
    assert r is not None
    out = json.loads(r.stdout)
    before = out["steps"]["scan_before"]
    assert before["leaking"] == 1 and len(before["leaks"]) == 1, before
    assert before["leaks"][0]["served"] == 2 and before["served_total"] == 2, before
    assert before["leaks"][0]["entities"] == {"EMAIL_ADDRESS": 1}, before
    assert "<redacted>" in before["leaks"][0]["key"]
    assert out["served_total"] == 2
    rb = out["steps"]["emergency_rollback"]
    assert rb["status"] == "done" and rb["exit_code"] == 0, rb
    assert out["steps"]["scan_after"]["clean"] is True, out["steps"]["scan_after"]
    assert run_.weights == {"blue": 100, "green": 0}
    assert run_.left == []
    assert run_.x_cache_after != "hit"

    # the exit code as documented: 0, everything clean (the evidence too: no revision logged
    # the address, whatever its allow-list)
    ev = out["steps"]["evidence"]
    assert ev.get("clean") is True, ev
    assert r.returncode == 0 and out["ok"] is True and out["errors"] == [], r.stdout + r.stderr

    # the incident says the same, in its record and its report
    shown = run("incident", "show", out["incident"], "--json", state=run_.state)
    run_.outputs += [("`ethos incident show --json` stdout", shown.stdout),
                     ("`ethos incident show --json` stderr", shown.stderr)]
    inc = json.loads(shown.stdout)
    assert inc["kind"] == "pii-leak" and inc["compliance"]["served_total"] == 2
    served = next(q["answer"] for q in inc["compliance"]["questions"] if q["id"] == "served")
    assert served.startswith("1 leaking entries, served 2 times"), served
    assert "served 2 times" in Path(out["report"]).read_text()

    # nothing personal printed, nor written: the commands' output, the incident files, the
    # evidence outside quarantine/, the store, every other file but the revisions' logs
    # (their case is the next test)
    logs = run_.state / "logs"
    found = _personal(run_.outputs, run_.state.parent, skip=logs)
    assert not found, f"{len(found)} places hold the address:\n" + "\n".join(found[:40])


def test_a_misconfigured_allow_list_puts_nothing_personal_in_the_logs(leak_run: Run) -> None:
    logs = leak_run.state / "logs"
    found = _personal([], logs)
    assert not found, f"{len(found)} places hold the address:\n" + "\n".join(found[:40])
    out = json.loads(leak_run.leak.stdout)
    assert leak_run.leak.returncode == 0 and out["ok"] is True and out["steps"]["evidence"]["clean"] is True


def test_the_grep_finds_the_address_where_it_looks(tmp_path: Path) -> None:
    """The check itself: as written, upper case, as the cache keeps it; quarantine/ and skip spared."""
    (tmp_path / "a.log").write_text('{"m": "mail JANE.CITIZEN@EXAMPLE-CORP.COM"}')
    (tmp_path / "b.sqlite3").write_bytes(b"\x00\xff" + normalise(EMAIL).encode() + b"\x01")
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "raw.json").write_text(EMAIL)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "green.log").write_text(EMAIL)
    found = "\n".join(_personal([("stdout", "for jane citizen")], tmp_path, skip=tmp_path / "logs"))
    assert "'jane.citizen' in file a.log" in found and "'example-corp.com' in file a.log" in found
    assert "'jane citizen example corp com' in file b.sqlite3" in found and "in stdout" in found
    assert "quarantine" not in found and "green.log" not in found
    assert _personal([], tmp_path / "logs") != []
