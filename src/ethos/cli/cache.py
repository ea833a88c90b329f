"""``ethos cache``: inspect and invalidate the cache store directly."""

from __future__ import annotations

import json

import click

from .errors import CLIError


def _open_cache():
    from ..cache import StoreError
    from ..service.state import AppState
    from ..settings import Settings

    try:
        state = AppState.build(Settings())
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
def invalidate(key_pattern: str | None, source: str | None, as_json: bool) -> None:
    """Remove entries by key pattern or by knowledge-base document."""
    from ..cache import InvalidPattern, StoreUnavailable, parse_pattern

    if bool(key_pattern) == bool(source):
        raise CLIError("give exactly one of --pattern or --doc", 2)
    state = _open_cache()
    try:
        if source:
            removed = state.cache.invalidate_source(source)
            out = {"removed": removed, "source": source}
        else:
            try:
                glob = parse_pattern(key_pattern or "")
            except InvalidPattern as e:
                raise CLIError(str(e), 2) from None
            removed = state.cache.invalidate(glob)
            out = {"removed": removed, "key_pattern": key_pattern}
    except StoreUnavailable as e:
        raise CLIError(f"the cache store cannot be reached: {e}") from None
    finally:
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
