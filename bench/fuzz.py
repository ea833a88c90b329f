"""Fuzz every HTTP endpoint of the service, the router and the console from their OpenAPI
documents (schemathesis), with many more cases than CI runs, and count them per endpoint.

The same harness as the ``test_fuzz_*`` tests (``tests/fuzzing.py``): per endpoint, up to
``--examples`` schema-valid and as many schema-violating cases, derandomized (the same cases
on every run), each response checked (no 5xx; status, content type and body as documented;
valid input accepted, invalid refused; auth enforced; every error JSON with an ``error``).
Each endpoint is fuzzed with the admin key; the keyed ones also with no key and a wrong one.
Everything runs in this process on 127.0.0.1, against a service with a temporary SQLite
store, a router in front of revisions that do not exist (its own routes need none), and a
console whose actions are dry runs when keyed.

    .venv/bin/python bench/fuzz.py [--examples 100] [--only service,router,console]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import fuzzing  # noqa: E402
from ethos.security import LimitSettings  # noqa: E402
from servers import ServerThread  # noqa: E402

KEY = "bench-fuzz-admin-key-0123456789"
NOWHERE = "http://127.0.0.1:9"
MODES = {"key": {"X-Admin-API-Key": KEY}, "no key": {}, "wrong key": {"X-Admin-API-Key": "not-the-key"}}


@contextlib.contextmanager
def service(tmp: Path, lenient: bool) -> Iterator[tuple[str, str]]:
    from ethos.service import create_app
    from ethos.settings import Settings

    settings = Settings(state_dir=tmp, admin_api_key=KEY, semantic_enabled=False)
    limits = LimitSettings(max_failures=10**6) if lenient else LimitSettings()
    with ServerThread(create_app(settings, access_log=False, auth_limits=limits)) as srv:
        yield srv.url, f"{srv.url}/openapi.json"


@contextlib.contextmanager
def router(tmp: Path, lenient: bool) -> Iterator[tuple[str, str]]:
    from ethos.rollout.router import RouterApp, RouterConfig

    cfg = RouterConfig(revisions={"blue": NOWHERE, "green": NOWHERE}, admin_key=KEY,
                       state_file=tmp / "router-weights.json",
                       auth_limits=LimitSettings(max_failures=10**6) if lenient else None)
    with ServerThread(RouterApp(cfg)) as srv:
        yield srv.url, f"{srv.url}/router/openapi.json"


@contextlib.contextmanager
def console(tmp: Path, lenient: bool) -> Iterator[tuple[str, str]]:
    from ethos.rollout.console import build_console, create_app

    c = build_console(tmp / ".ethos", router=NOWHERE, revisions=[f"blue={NOWHERE}", f"green={NOWHERE}"],
                      env={"ETHOS_ADMIN_API_KEY": KEY}, persist=False, interval_s=1.0, wait_s=5.0)
    limits = LimitSettings(max_failures=10**6) if lenient else None
    with ServerThread(create_app(c, start_sampler=False, auth_limits=limits)) as srv:
        yield srv.url, f"{srv.url}/api/console/openapi.json"


TARGETS = {"service": service, "router": router, "console": console}
KEYED = ("/api/admin/", "PUT /router/traffic", "POST /router/traffic", "/api/console/actions", "/api/console/auth")


def run(name: str, examples: int) -> list[tuple[str, str, fuzzing.OperationResult]]:
    """Fuzz one target in every key mode; (target, mode, result) per endpoint and mode."""
    out = []
    for mode, headers in MODES.items():
        with tempfile.TemporaryDirectory() as d, TARGETS[name](Path(d), mode == "key") as (url, doc):
            only = None if mode == "key" else (lambda label: any(k in label for k in KEYED))
            prepare = fuzzing.dry_run if name == "console" and mode == "key" else None
            n = examples if mode == "key" else max(1, examples // 4)
            for r in fuzzing.fuzz(fuzzing.load(doc), url, headers=headers, max_examples=n,
                                  only=only, prepare=prepare):
                out.append((name, mode, r))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100,
                    help="valid and invalid cases per endpoint with the key (a quarter without)")
    ap.add_argument("--only", default="service,router,console", help="comma-separated targets")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if not set(names) <= set(TARGETS) or args.examples < 1:
        ap.error(f"--only takes {', '.join(TARGETS)}; --examples at least 1")
    t0 = time.perf_counter()
    rows = [row for name in names for row in run(name, args.examples)]
    elapsed = time.perf_counter() - t0

    table: dict[tuple[str, str], dict[str, list[int]]] = {}
    for name, mode, r in rows:
        cell = table.setdefault((name, r.label), {}).setdefault(mode, [0, 0])
        cell[0] += r.cases
        cell[1] += r.failing_cases
    print(f"{'target':8} {'endpoint':42} {'key':>6} {'no key':>7} {'wrong':>6} {'failed':>7}")
    total_cases = total_failed = 0
    for (name, label), cells in table.items():
        cases = [cells.get(m, [0, 0])[0] for m in MODES]
        failed = sum(c[1] for c in cells.values())
        total_cases += sum(cases)
        total_failed += failed
        shown = [str(c) if m in cells else "-" for c, m in zip(cases, MODES)]
        print(f"{name:8} {label:42} {shown[0]:>6} {shown[1]:>7} {shown[2]:>6} {failed:>7}")
    print(f"{'total':8} {'':42} {total_cases:>22} {total_failed:>7}")
    print(f"\n{len(table)} endpoints, {total_cases} cases, {total_failed} failed, {elapsed:.0f} s")
    for name, mode, r in rows:
        if r.failing_cases:
            print(f"\n[{name}, {mode}] {r.describe()}")
    print(f"\nreproduce: .venv/bin/python bench/fuzz.py --examples {args.examples} --only {','.join(names)}")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
