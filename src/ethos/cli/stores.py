"""Opening what a command only reads: a state dir and a cache store that must already exist.

A mistyped ``--state-dir`` / ``ETHOS_STATE_DIR`` or cache URL must never read as an empty,
"clean" store: these helpers refuse it with an ``error:`` line that names the location (a
Redis URL without its password) and what to check, exit 2 for a missing location and 1 for a
store that does not answer, and create nothing. Only ``ethos serve`` / ``ethos stack up``
create a new store.
"""

from __future__ import annotations

from pathlib import Path

from .errors import EXIT_FAILED, EXIT_USAGE, CLIError

CREATED_BY = "only `ethos serve` or `ethos stack up` create a new one; nothing was created"


def require_state_dir(state_dir: Path, check: str = "--state-dir or ETHOS_STATE_DIR") -> Path:
    """``state_dir`` when it is an existing directory, else a CLIError (exit 2)."""
    if not state_dir.is_dir():
        what = "is not a directory" if state_dir.exists() else "does not exist"
        raise CLIError(f"the state dir {state_dir} {what}: check {check} ({CREATED_BY})", EXIT_USAGE)
    return state_dir


def open_existing_store(url: str, check: str = "ETHOS_CACHE_URL", then: str = "", **kwargs):
    """The existing store at ``url`` (``open_store(url, create=False)``), or a CLIError:
    exit 2 when it does not exist or the URL is bad, 1 when it does not answer. ``check``
    names where the URL came from; ``then`` is what else to do (appended)."""
    from ..cache import StoreError, StoreMissing, StoreUnavailable, open_store, safe_url

    shown = safe_url(url)
    more = f"; {then}" if then else ""
    try:
        return open_store(url, create=False, **kwargs)
    except StoreMissing as e:
        raise CLIError(f"cannot read the cache store {shown}: {e}: check {check} ({CREATED_BY}){more}",
                       EXIT_USAGE) from None
    except StoreUnavailable as e:
        raise CLIError(f"the cache store {shown} cannot be reached ({e}): check that it is running and "
                       f"that {check} names it{more}", EXIT_FAILED) from None
    except StoreError as e:
        raise CLIError(f"cannot read the cache store {shown}: {e}: check {check}{more}", EXIT_USAGE) from None


__all__ = ["require_state_dir", "open_existing_store", "CREATED_BY"]
