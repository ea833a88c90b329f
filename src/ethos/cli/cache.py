"""``ethos cache``: inspect and invalidate the cache store directly."""

from __future__ import annotations

import json

import click

from .errors import CLIError


def _open_cache():
    """The service's cache over the *existing* store named by ETHOS_CACHE_URL (or the state
    dir's): a missing state dir or store, or an unreachable one, is an error, never an empty
    cache (see :mod:`ethos.cli.stores`)."""
    from ..cache import StoreError
    from ..service.state import AppState
    from ..settings import Settings
    from .stores import open_existing_store, require_state_dir

    try:
        settings = Settings()
    except ValueError as e:
        raise CLIError(str(e)) from None
    if settings.cache_url:
        check = "ETHOS_CACHE_URL"
    else:  # the URL comes from the state dir: a mistyped one must not read as an empty cache
        require_state_dir(settings.state_dir, "ETHOS_STATE_DIR (or set ETHOS_CACHE_URL)")
        check = "ETHOS_STATE_DIR / ETHOS_CACHE_URL"
    # checked here (nothing created) before the service's cache opens it for real
    open_existing_store(settings.resolved_cache_url(), check,
                        timeout_s=settings.cache_store_timeout_s).close()
    try:
        state = AppState.build(settings)
    except (StoreError, ValueError) as e:
        raise CLIError(str(e)) from None
    if not state.cache.check_store():
        raise CLIError(f"the cache store cannot be reached: {state.cache.store_error}")
    return state


@click.group()
def cache() -> None:
    """Inspect and invalidate the cache (the store named by ETHOS_CACHE_URL)."""


@cache.command()
@click.option("--pattern", "key_pattern", default=None, help="'all' or a glob over keys.")
@click.option("--doc", "source", default=None, help="Remove answers built on this document.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def invalidate(key_pattern: str | None, source: str | None, as_json: bool, quiet: bool) -> None:
    """Remove entries by key pattern or by knowledge-base document.

    A pattern is removed in bounded steps (progress on stderr); one that fails part-way has
    removed whole steps, and running the same command again removes the rest."""
    from ..cache import InvalidPattern, StoreUnavailable, parse_pattern

    if bool(key_pattern) == bool(source):
        raise CLIError("give exactly one of --pattern or --doc", 2)
    glob = None
    if key_pattern:
        try:
            glob = parse_pattern(key_pattern)
        except InvalidPattern as e:
            raise CLIError(str(e), 2) from None
    state = _open_cache()
    done = {"examined": 0, "removed": 0}

    def progress(examined: int, removed: int) -> None:
        done.update(examined=examined, removed=removed)
        if not quiet:
            click.echo(f"\rexamined {examined:,} keys, removed {removed:,} entries", err=True, nl=False)

    try:
        if source:
            removed = state.cache.invalidate_source(source)
            out = {"removed": removed, "source": source}
        else:
            removed = state.cache.invalidate(glob, progress=progress)
            out = {"removed": removed, "examined": done["examined"], "key_pattern": key_pattern}
    except StoreUnavailable as e:
        more = (f"; {done['removed']:,} entries were removed before it failed: run the same"
                " command again to remove the rest") if done["removed"] else ""
        raise CLIError(f"the cache store cannot be reached: {e}{more}") from None
    finally:
        if done["examined"] and not quiet:
            click.echo("", err=True)
        state.cache.close()
    click.echo(json.dumps(out) if as_json else f"removed {out['removed']} entries")


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Entries and size of the store."""
    state = _open_cache()
    try:
        s = state.cache.store.stats()
    finally:
        state.cache.close()
    out = {"entries": s.entries, "size_bytes": s.size_bytes, "backend": s.backend}
    click.echo(json.dumps(out) if as_json else
               f"{s.entries} entries, {s.size_bytes} bytes ({s.backend})")


@cache.command("scan-pii")
@click.option("--purge", is_flag=True, help="Remove the entries found.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def scan_pii(purge: bool, as_json: bool, quiet: bool) -> None:
    """Scan every stored entry for personal data. Exit 1 when anything is found.

    Reports keys, entity types and counts, and how often each entry was served; never
    the values themselves.
    """
    from ..cache import StoreUnavailable
    from ..cache.scan.leaks import scan_store

    state = _open_cache()
    total = state.cache.store.count()

    def progress(scanned: int, leaking: int) -> None:
        if not quiet:
            click.echo(f"\rscanned {scanned:,}/{total:,} entries, {leaking} leaking",
                       err=True, nl=False)

    try:
        report = scan_store(state.cache.store, purge=purge, progress=progress)
    except StoreUnavailable as e:
        raise CLIError(f"the cache store cannot be reached: {e}") from None
    finally:
        state.cache.close()
    if not quiet:
        click.echo("", err=True)
    out = report.to_dict()
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"scanned {report.scanned:,} entries: {len(report.leaks)} hold personal data")
        for leak in report.leaks:
            kinds = ", ".join(f"{k} x{n}" for k, n in leak["entities"].items())
            click.echo(f"  {leak['key']}  {kinds}  (served {leak['served']} times)")
        if report.purged:
            click.echo(f"purged {report.purged} entries")
    if report.leaks:
        raise SystemExit(1)
