"""PII and the admin key never leave in any output, end to end (issue 9).

A real stack (`ethos stack up`, sticky sessions, green failing some requests, JSON log files)
gets PII-bearing chat traffic as JSON and as streams, through the router and straight to each
revision, with session ids (one of them an email address); admin calls with missing and
wrong keys (one of them personal data) and with the key in query strings; errors on purpose
(bad JSON holding PII, oversize bodies, unknown routes and query strings holding PII). Then
an emergency rollback, `ethos guard --once`, an incident report, `ethos evidence export` and
`ethos cache scan-pii`. Afterwards EVERY output is read: each command's stdout and stderr,
every response body and header, each process's /metrics, and every file the stack left
(process logs, JSON logs, journal, guard history, incident files, evidence, the SQLite cache's
bytes). None may hold a PII value or the admin key, as written or lowercased, nor the digits
of a phone, card or IBAN run together.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

from ethos.cache import Entry, open_store  # noqa: E402
from ethos.cache.keys import Scope, make_key, normalise, slug  # noqa: E402
from ethos.rollout.stack.state import free_port  # noqa: E402
from tests.stacks import ETHOS, stack_down, stack_up  # noqa: E402

KEY = "e2e-Adm1n-0f9b7c2d41e8"
#: (value, kind): made-up values of every kind the detector knows, as people write them
PII = [
    ("marguerite.okafor@wattlebird.com.au", "email"),
    ("t.nguyen77@gmail.com", "email"),
    ("0437 912 658", "phone"),
    ("+61 2 9437 1185", "phone"),
    ("(03) 9654 2281", "phone"),
    ("4539 5781 2093 4416", "card"),
    ("5223-6471-9048-2107", "card"),
    ("DE89 3704 0044 0532 0130 00", "iban"),
    ("GB33BUKB20201555555555", "iban"),
    ("Marguerite Okafor", "name"),
    ("Tuan Nguyen", "name"),
    ("47 Wattle Grove, Fitzroy VIC 3065", "address"),
    ("03/11/1979", "dob"),
]
V = {kind + str(i): v for i, (v, kind) in enumerate(PII)}
MESSAGES = [
    f"My name is {PII[9][0]} and I run a bakery, which plan suits me?",
    f"Email me at {PII[0][0]} about the Team plan",
    f"Call {PII[2][0]} or {PII[3][0]} about pricing",
    f"Our office is on {PII[4][0]}, do you offer onboarding?",
    f"Charge my card {PII[5][0]} for the Business plan",
    f"my mastercard {PII[6][0]}, can I pay yearly?",
    f"Pay from IBAN {PII[7][0]} please",
    f"{PII[8][0]} is my account, do you take direct debit?",
    f"I am {PII[10][0]}, born {PII[12][0]}, is there a student discount? {PII[1][0]}",
    f"Ship the invoice to {PII[11][0]}",
]
CLEAN = ["What are your pricing plans?", "Do you integrate with HubSpot?", "Where is my data stored?"]


def needles() -> dict[str, str]:
    """What must appear nowhere: each value, lowercased, and digits run together; the key."""
    out = {"admin key": KEY, "admin key (lowercase)": KEY.lower()}
    for value, kind in PII:
        out[f"{kind} {value!r}"] = value
        out[f"{kind} {value!r} (lowercase)"] = value.lower()
        # an unsalted hash is as good as the value to whoever can guess candidates
        out[f"{kind} {value!r} (unsalted sha256)"] = hashlib.sha256(value.encode()).hexdigest()[:12]
        out[f"{kind} {value!r} (normalised, as the cache stores questions)"] = normalise(value)
        out[f"{kind} {value!r} (as in a cache key)"] = slug(normalise(value))
        if kind in ("phone", "card", "iban"):
            squashed = re.sub(r"[^0-9A-Za-z]", "", value)
            out[f"{kind} {value!r} (no separators)"] = squashed
            out[f"{kind} {value!r} (no separators, lowercase)"] = squashed.lower()
            digits = re.sub(r"\D", "", value)
            out[f"{kind} {value!r} (digits)"] = digits
            if kind == "phone" and digits.startswith("61"):
                out[f"{kind} {value!r} (national digits)"] = "0" + digits[2:]
    return out


def env_for(state: Path, hook: str | None = None) -> dict[str, str]:
    env = {**os.environ, "ETHOS_ADMIN_API_KEY": KEY, "ETHOS_STATE_DIR": str(state)}
    for k in ("ETHOS_SLACK_WEBHOOK_URL", "ETHOS_NOTIFY_WEBHOOK_URL", "ETHOS_ROUTER_URL", "ETHOS_AUTHORITY_FILE",
              "ETHOS_NOTIFY_CONFIG", "ETHOS_INCIDENT_TEMPLATE", "ETHOS_PAGERDUTY_ROUTING_KEY", "ETHOS_CACHE_URL",
              "ETHOS_LOG_FILE"):
        env.pop(k, None)
    if hook:  # notifications go to a local receiver whose every payload is scanned too
        env["ETHOS_SLACK_WEBHOOK_URL"] = hook + "/slack"
        env["ETHOS_NOTIFY_WEBHOOK_URL"] = hook + "/webhook"
    return env


class Receiver:
    """A webhook on 127.0.0.1 that keeps every payload it is sent."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                bodies.append((self.path, self.rfile.read(n).decode("utf-8", "replace")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Outputs:
    """Everything the run printed or answered, by where it came from."""

    def __init__(self, hook: str | None = None) -> None:
        self.hook = hook
        self.items: list[tuple[str, str]] = []
        self.problems: list[str] = []  # commands that did not do their job (checked after the scan)
        self.statuses: list[tuple[str, int]] = []  # (path, status) of every response

    def check(self, ok: bool, what: str, r: subprocess.CompletedProcess) -> None:
        if not ok:
            self.problems.append(f"{what}: exit {r.returncode}: {r.stdout[-1500:]}{r.stderr[-1500:]}")

    def add(self, where: str, text: str | bytes) -> None:
        self.items.append((where, text.decode("utf-8", "replace") if isinstance(text, bytes) else text))

    def response(self, r: httpx.Response) -> httpx.Response:
        self.statuses.append((r.request.url.path, r.status_code))
        self.add(f"HTTP {r.request.method} {r.request.url.path} -> {r.status_code}",
                 r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items()))
        return r

    def run(self, state: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        r = subprocess.run([ETHOS, *args], capture_output=True, text=True, env=env or env_for(state, self.hook),
                           timeout=timeout, cwd=state.parent, stdin=subprocess.DEVNULL)
        self.add(f"`ethos {' '.join(args)}` stdout", r.stdout)
        self.add(f"`ethos {' '.join(args)}` stderr", r.stderr)
        return r


def _files(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def _leaks(outputs: Outputs, root: Path) -> list[str]:
    found = []
    sources = list(outputs.items)
    for p in _files(root):
        data = p.read_bytes()
        sources.append((f"file {p.relative_to(root)}", data.decode("utf-8", "replace")))
        if p.suffix in (".sqlite3", ".db") or "sqlite" in p.name:
            sources.append((f"file {p.relative_to(root)} (latin-1)", data.decode("latin-1")))
    for what, needle in needles().items():
        for where, text in sources:
            i = text.find(needle)
            if i >= 0:
                found.append(f"{what} in {where}: ...{text[max(0, i - 80):i + len(needle) + 40]!r}...")
    return found


@pytest.mark.slow
def test_no_pii_and_no_admin_key_in_any_output(tmp_path: Path) -> None:
    state = tmp_path / ".ethos"
    env = env_for(state)
    logs = tmp_path / "json-logs"
    hook = Receiver()
    out = Outputs(hook.url)
    r = stack_up(state, "--weights", "blue=50,green=50", "--sticky", "--json",
                 "--blue-env", f"ETHOS_LOG_FILE={logs / 'blue.jsonl'}",
                 "--green-env", f"ETHOS_LOG_FILE={logs / 'green.jsonl'}",
                 "--green-env", "ETHOS_FAULTS=error_rate=0.2", env=env, timeout=180)
    out.add("`ethos stack up` stdout", r.stdout)
    out.add("`ethos stack up` stderr", r.stderr)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        info = json.loads(r.stdout)
        router, revs = info["router"], info["revisions"]
        _drive(out, router, revs)
        _console(out, state)
        _operate(out, state, router, revs)
    finally:
        out.run(state, "stack", "down", timeout=120)
        stack_down(state, env=env, timeout=120)
        hook.close()
    assert len(hook.bodies) >= 2, "the rollback and the incident did not notify"
    for path, body in hook.bodies:
        out.add(f"notification to {path}", body)
    # the run did reach every path it meant to (else a clean scan proves little)
    got = {st for _, st in out.statuses}
    assert {200, 400, 401, 403, 404, 413, 422, 500} <= got, sorted(got)
    chats = [st for p, st in out.statuses if p == "/api/ai/marketing-chat"]
    assert chats.count(200) >= 25
    assert ("/api/admin/cache/invalidate", 200) in out.statuses
    assert any(p == "/api/admin/cache/pii-scan" and st == 200 for p, st in out.statuses)
    leaks = _leaks(out, tmp_path)
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(leaks[:80])
    assert not out.problems, "\n".join(out.problems)


def _drive(out: Outputs, router: str, revs: dict[str, str]) -> None:
    chat = "/api/ai/marketing-chat"
    with httpx.Client(timeout=60) as c:
        # chat traffic: JSON and streams, via the router and straight to each revision
        for i, m in enumerate(MESSAGES * 2 + CLEAN * 3):
            base = [router, *revs.values()][i % 3]
            body: dict = {"message": m}
            if i % 4 == 1:
                body["session_id"] = f"sess-{i}"
            if i % 4 == 2:
                body["session_id"] = V["email0"]  # people use their email as a session id
            headers = {"X-Session-ID": V["email1"], "Referer": f"https://crm.example/u/{V['email0']}"} \
                if i % 5 == 0 else {}
            if i % 3 == 1:
                body["stream"] = True
                with c.stream("POST", base + chat, json=body, headers=headers) as resp:
                    resp.read()
                    out.response(resp)
            else:
                out.response(c.post(base + chat, json=body, headers=headers))
        # errors on purpose, every one with personal data in it
        for base in (router, *revs.values()):
            bad = f'{{"message": "my email is {V["email0"]} and card {V["card5"]}"'.encode()
            out.response(c.post(base + chat, content=bad, headers={"Content-Type": "application/json"}))
            out.response(c.post(base + chat, content=f"message={V['phone2']}".encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"}))
            out.response(c.post(base + chat, json={"message": f"{V['name9']} {V['iban7']} " + "x" * 5000}))
            out.response(c.post(base + chat, json={"message": V["email0"], "session_id": V["iban8"] * 10}))
            out.response(c.post(base + chat, json={"message": f"hi {V['phone3']}", "cache": {"ttl": V["card6"]}}))
            out.response(c.post(base + chat, json={"message": "hello", "cache": {"namespace": V["email1"]}}))
            out.response(c.get(f"{base}/api/customers/{V['email0']}/cards/{V['card5']}"))
            out.response(c.get(f"{base}/router/{V['email1']}"))
            out.response(c.get(f"{base}/health", params={"email": V["email0"], "phone": V["phone2"]}))
            out.response(c.post(f"{base}{chat}?card={V['card6'].replace(' ', '')}", json={"message": CLEAN[0]}))
            out.response(c.delete(f"{base}{chat}/{V['address11']}"))
        for base in (router, *revs.values()):
            out.response(c.post(base + chat, content=b'{"message": "' + V["email0"].encode() * 40000 + b'"}',
                                headers={"Content-Type": "application/json"}))
        # admin calls: missing and wrong keys, keys in query strings, personal data as a key
        for base in (router, *revs.values()):
            for headers in ({}, {"X-Admin-API-Key": V["email0"]}, {"X-Admin-API-Key": KEY[:-1]},
                            {"X-Admin-API-Key": KEY.upper()}, {"Authorization": f"Bearer {KEY}"}):
                out.response(c.get(f"{base}/api/admin/cache/stats", headers=headers))
            out.response(c.get(f"{base}/api/admin/cache/stats", params={"key": KEY, "X-Admin-API-Key": KEY,
                                                                        "api_key": KEY}))
            out.response(c.post(f"{base}/api/admin/cache/invalidate",
                                params={"key_pattern": f"*{V['email0']}*", "admin_key": KEY}))
        out.response(c.put(f"{router}/router/traffic", params={"key": KEY}, json={"blue": 50, "green": 50}))
        out.response(c.put(f"{router}/router/traffic", json={"blue": 50, "green": 50},
                           headers={"X-Admin-API-Key": V["phone2"]}))
        out.response(c.put(f"{router}/router/traffic", json={V["email0"]: 100},
                           headers={"X-Admin-API-Key": KEY}))
        # right key, with personal data in the arguments (an operator purging someone's entries)
        h = {"X-Admin-API-Key": KEY}
        for name, base in revs.items():
            out.response(c.post(f"{base}/api/admin/cache/invalidate", headers=h,
                                params={"key_pattern": f"marketing:*{V['email0']}*"}))
            for pattern in (f"[{V['card5']}", f"*{V['phone2']}*", f"marketing:*{V['name9']}*",
                            f"*{V['card6']}*", f"*{V['iban8']}*"):
                out.response(c.post(f"{base}/api/admin/cache/invalidate", headers=h, params={"key_pattern": pattern}))
            out.response(c.post(f"{base}/api/admin/cache/invalidate-source", headers=h,
                                params={"source": V["email1"]}))
            out.response(c.get(f"{base}/api/admin/cache/pii-scan", headers=h))
            out.response(c.get(f"{base}/api/admin/cache/top", headers=h, params={"n": 50}))
            out.response(c.get(f"{base}/api/admin/cache/stats", headers=h))


def _console(out: Outputs, state: Path) -> None:
    """`ethos console` as an operator runs it; its output goes to a file the scan reads."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (state.parent / "console.out").open("w")
    proc = subprocess.Popen([ETHOS, "console", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
                             "--no-persist", "--log-level", "info"],
                            cwd=state.parent, env=env_for(state), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if c.get("/api/console/state").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "ethos console did not start"
                time.sleep(0.2)
            out.response(c.get("/api/console/state"))
            out.response(c.get("/api/console/history"))
            out.response(c.get("/api/console/auth", params={"key": KEY}))
            out.response(c.get("/api/console/auth", headers={"X-Admin-API-Key": V["email0"]}))
            out.response(c.get(f"/api/console/{V['email1']}"))
            body = {"dry_run": True, "executed_by": "ops-oncall", "weights": {V["email0"]: 100}}
            for key in (None, KEY[:-1], KEY):
                out.response(c.post("/api/console/actions/weights", json=body,
                                    headers={"X-Admin-API-Key": key} if key else {}))
            out.response(c.post("/api/console/actions/emergency", headers={"X-Admin-API-Key": KEY},
                                content=f'{{"executed_by": "{V["phone2"]}"'.encode()))
            out.response(c.post(f"/api/console/actions/{V['card5']}", headers={"X-Admin-API-Key": KEY}, json={}))
            out.response(c.get("/metrics"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def _plant_leak(state: Path) -> None:
    """A cached answer to a question holding a card number, written straight to the store."""
    scope = Scope(namespace="marketing", format_version=1, answerer="kb", prompt_version="old", kb_version="old")
    key, norm = make_key(scope, f"charge my card {V['card6']} for the Team plan")
    store = open_store(f"sqlite:///{state.resolve() / 'cache.sqlite3'}")
    try:
        store.put(Entry(key=key, namespace="marketing", format_version=1, scope=scope.digest, question=norm,
                        reply="Done, the Team plan is yours.", created_at=time.time(), ttl_s=3600))
    finally:
        store.close()


def _operate(out: Outputs, state: Path, router: str, revs: dict[str, str]) -> None:
    r = out.run(state, "rollback", "emergency", "--yes", "--json", "--reason", "error rate on green")
    out.check(r.returncode == 0, "emergency rollback", r)
    r = out.run(state, "guard", "--once", "--json")
    out.check(r.returncode in (0, 3, 4), "guard --once", r)
    r = out.run(state, "incident", "new", "--rollback", "latest", "--json")
    out.check(r.returncode == 0, "incident new", r)
    r = out.run(state, "evidence", "export", "--since", "15m", "--out", str(state.parent / "evidence"), "--json",
                "--log", str(state.parent / "json-logs" / "blue.jsonl"),
                "--log", str(state.parent / "json-logs" / "green.jsonl"))
    out.check(r.returncode == 0 and json.loads(r.stdout or "{}").get("clean") is True, "evidence export", r)
    cache_url = f"sqlite:///{state.resolve() / 'cache.sqlite3'}"
    r = out.run(state, "cache", "scan-pii", "--json", env={**env_for(state, out.hook), "ETHOS_CACHE_URL": cache_url})
    out.check(r.returncode == 0, "cache scan-pii (nothing personal may be cached)", r)
    # PII that got past the gate (an older version, another writer): the scan reports it, the
    # PII-leak response clears it, and neither shows it, nor leaves it in the file
    _plant_leak(state)
    with httpx.Client(timeout=60) as c:
        scan = out.response(c.get(f"{revs['blue']}/api/admin/cache/pii-scan", headers={"X-Admin-API-Key": KEY}))
    if scan.status_code != 200 or scan.json().get("leaking") != 1:
        out.problems.append(f"the planted leak was not reported: {scan.text[:300]}")
    r = out.run(state, "cache", "scan-pii", "--json", env={**env_for(state, out.hook), "ETHOS_CACHE_URL": cache_url})
    out.check(r.returncode == 1, "cache scan-pii after the planted leak", r)
    r = out.run(state, "incident", "pii-leak", "--yes", "--json", "--by", "ops-oncall",
                "--justification", "card numbers in the cache")
    out.check(r.returncode == 0, "incident pii-leak", r)
    with httpx.Client(timeout=30) as c:
        out.response(c.get(f"{router}/router/metrics"))
        out.response(c.get(f"{router}/router/stats"))
        out.response(c.get(f"{router}/router/traffic"))
        for base in revs.values():
            out.response(c.get(f"{base}/metrics"))
            out.response(c.get(f"{base}/health"))


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The grep itself: squashed digits, lowercase, bytes in a binary file, the key."""
    out = Outputs()
    out.add("stdout", "paid with 4539578120934416 today")
    (tmp_path / "x.sqlite3").write_bytes(b"\x00\x01" + b"de89370400440532013000" + b"\xff")
    (tmp_path / "log.jsonl").write_text(f'{{"who": "{V["name9"].lower()}", "k": "{KEY}"}}')
    found = "\n".join(_leaks(out, tmp_path))
    assert "(digits) in stdout" in found and "(no separators, lowercase) in file x.sqlite3" in found
    assert "(lowercase) in file log.jsonl" in found and "admin key in file log.jsonl" in found
