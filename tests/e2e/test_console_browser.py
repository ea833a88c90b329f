"""End to end in a real headless browser: the console over a real local stack.

Debian's chromium (``/usr/bin/chromium``) driven by Playwright (no ``playwright install``):
the page shows the weights and every trigger, actions stay disabled without the key, the
confirmation dialog is keyboard operable, and an emergency rollback clicked on the page puts
100% on blue, on the page and in ``GET /router/traffic``. Saves ``docs/console.png``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ethos.rollout.stack.state import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":  # .ci/run installs it: missing there is a broken run, not a skip
        raise RuntimeError(f"{CHROMIUM} is missing under CI: .ci/run should have installed chromium")
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) "
                "to run the console's browser test", allow_module_level=True)
from tests.stacks import ETHOS, clean_env, stack_down, stack_up  # noqa: E402

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "tmp"
    r = stack_up(state, "--weights", "blue=70,green=30", "--green-env", "ETHOS_FAULTS=error_rate=0.3")
    assert r.returncode == 0, r.stdout + r.stderr
    yield state
    stack_down(state)


@pytest.fixture
def console(stack: Path) -> Iterator[str]:
    port = free_port()
    log = (stack / "console.log").open("wb")
    proc = subprocess.Popen([ETHOS, "console", "--listen", f"127.0.0.1:{port}", "--state-dir", str(stack),
                             "--interval", "1"], stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (stack / "console.log").read_text()
            try:
                if httpx.get(f"{url}/api/console/state", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the console did not answer in 90 s"
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def _traffic(router: str, stop: threading.Event) -> None:
    """Steady chat traffic through the router, so the charts and triggers have data."""
    qs = ["What are your pricing plans?", "how much are your plans?", "Where is my data stored?",
          "How much is the Team plan?", "Do you offer a free trial?"]
    with httpx.Client(timeout=10) as c:
        i = 0
        while not stop.is_set():
            try:
                c.post(f"{router}/api/ai/marketing-chat", json={"message": qs[i % len(qs)]})
            except httpx.HTTPError:
                pass
            i += 1
            stop.wait(0.05)


def test_emergency_rollback_from_the_page(stack: Path, console: str) -> None:
    router = json.loads((stack / "stack.json").read_text())["router"]
    key = (stack / "admin_key").read_text().strip()
    stop = threading.Event()
    load = threading.Thread(target=_traffic, args=(router, stop), daemon=True)
    load.start()
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.on("pageerror", lambda e: errors.append(str(e)))
                elsewhere: list[str] = []  # the page must work offline: nothing from another origin
                page.on("request", lambda req: None if req.url.startswith((console, "data:")) else elsewhere.append(req.url))
                page.goto(console)
                expect = sync_api.expect

                # weights, health and every trigger are shown, as text
                expect(page.locator("[data-weight=blue]")).to_have_text("70%", timeout=20_000)
                expect(page.locator("[data-weight=green]")).to_have_text("30%")
                expect(page.locator("#revisions")).to_contain_text("healthy")
                expect(page.locator("[data-revision=green]")).to_contain_text("fault injection")
                expect(page.locator("[data-revision=green] .glance")).to_contain_text("last minute:", timeout=20_000)
                rows = page.locator("#trigger-rows tr")
                expect(rows.first).to_be_visible()
                policy_triggers = httpx.get(f"{console}/api/console/state").json()["triggers"]["rows"]
                expect(rows).to_have_count(len(policy_triggers))
                expect(page.locator("[data-trigger=error_rate_critical]")).to_contain_text("> 5.00%")
                # 30% of green's answers fail: the emergency trigger fires, in words
                expect(page.locator("[data-trigger=error_rate_critical]")).to_contain_text("Firing", timeout=60_000)
                expect(page.locator("#triggers-sub")).to_contain_text("called for an emergency rollback")
                for t in page.locator("#trigger-rows tr td:first-child").all_inner_texts():
                    assert any(s in t for s in ("OK", "Watching", "Firing", "Inconclusive", "No data")), t

                # without the key: everything visible, nothing possible
                emergency = page.locator("button[data-action=emergency]")
                expect(emergency).to_be_disabled()
                page.fill("#adminkey", "not-the-key")
                page.click("#unlock")
                expect(page.locator("#keystate")).to_contain_text("Wrong admin key")
                expect(emergency).to_be_disabled()

                page.fill("#who", "dev")
                page.fill("#reason", "error rate 7.4% on green")
                page.fill("#adminkey", key)
                page.keyboard.press("Enter")  # submits the key form
                expect(page.locator("#keystate")).to_contain_text("Actions unlocked")
                expect(emergency).to_be_enabled()
                stored = page.evaluate("() => [sessionStorage.getItem('ethos.console.adminKey'), JSON.stringify(localStorage)]")
                assert stored[0] == key and key not in stored[1]

                # the dialog by keyboard: focus on Cancel, Escape closes, focus returns
                emergency.focus()
                page.keyboard.press("Enter")
                dialog = page.locator("#confirm")
                expect(dialog).to_be_visible()
                expect(page.locator("#confirm-title")).to_have_text("Emergency rollback to blue")
                assert page.evaluate("() => document.activeElement.id") == "confirm-cancel"
                page.keyboard.press("Escape")
                expect(dialog).to_be_hidden()
                assert page.evaluate("() => document.activeElement.dataset.action") == "emergency"

                # the real thing
                emergency.click()
                expect(page.locator("#confirm-what")).to_contain_text("100%")
                expect(page.locator("#confirm-plan li").first).to_contain_text("read traffic")
                expect(page.locator("#confirm-ok")).to_be_enabled()
                page.click("#confirm-ok")
                expect(dialog).to_be_hidden(timeout=60_000)
                expect(page.locator("#toast")).to_contain_text("done")
                expect(page.locator("[data-weight=blue]")).to_have_text("100%", timeout=20_000)
                expect(page.locator("[data-weight=green]")).to_have_text("0%")
                assert httpx.get(f"{router}/router/traffic").json()["weights"] == {"blue": 100, "green": 0}
                expect(page.locator("#timeline")).to_contain_text("emergency")
                expect(page.locator("#timeline li").first).to_contain_text("by dev")

                # charts drawn with their thresholds; then the screenshot for the README
                expect(page.locator("figure.chart canvas")).to_have_count(9, timeout=20_000)
                expect(page.locator("figure[data-signal=error_rate] .legend")).to_contain_text("> 5.00% (emergency)")
                page.wait_for_timeout(3000)
                page.locator("#who").blur()
                page.evaluate("() => { document.getElementById('toast').textContent = ''; }")  # not over the table
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # a phone: one column, nothing wider than the screen
                page.set_viewport_size({"width": 390, "height": 844})
                page.wait_for_timeout(500)
                width = page.evaluate("() => document.documentElement.scrollWidth")
                assert width <= 391, f"the page is {width}px wide on a 390px screen"
            finally:
                browser.close()
    finally:
        stop.set()
        load.join(10)
    assert errors == []
    assert elsewhere == []
