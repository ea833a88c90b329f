"""Cache stores: one :class:`Store` contract (``base``), one module per backend.

``open_store(url)`` picks the backend from the URL's scheme; the backends import only
``base``, so importing this package loads no backend client until a URL asks for it.
"""

from __future__ import annotations

from .base import (
    PURGE_LIMIT,
    WRITE_FAILURES,
    OpCounter,
    Store,
    StoreError,
    StoreMissing,
    StoreStats,
    StoreUnavailable,
    check_key,
    escape_glob,
    safe_url,
)

__all__ = [
    "OpCounter",
    "PURGE_LIMIT",
    "Store",
    "StoreError",
    "StoreMissing",
    "StoreStats",
    "StoreUnavailable",
    "WRITE_FAILURES",
    "check_key",
    "escape_glob",
    "open_store",
    "safe_url",
]


def _sqlite_path(url: str) -> str:
    path = url[len("sqlite://") :]
    if path.startswith("/"):
        path = path[1:] if not path.startswith("//") else path[1:]
    return path or ":memory:"


def open_store(url: str, *, create: bool = True, **kwargs) -> Store:
    """Open the store named by a URL: ``sqlite:///PATH``, ``sqlite://:memory:``, ``redis://…``,
    ``firestore://PROJECT[/DATABASE][?collection=NAME]``.

    ``create=True`` (``ethos serve``, ``ethos stack up``): a missing SQLite file (and its
    directory) is created, and Redis is not contacted until used. ``create=False`` (every
    command that reads an existing store): nothing is created; :class:`StoreMissing` when the
    SQLite file, its directory or its cache tables are missing (for Firestore: the
    collection's state document), :class:`StoreUnavailable` when the store does not answer
    (Redis is pinged once, Firestore read once).
    """
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore

        return SQLiteStore(_sqlite_path(url), create=create, **kwargs)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        store = RedisStore.from_url(url, **kwargs)
        if not create:
            try:
                store._call(store.client.ping)  # noqa: SLF001 - one check, errors as StoreUnavailable
            except StoreUnavailable:
                store.close()
                raise
        return store
    if url.startswith("firestore://"):
        from .firestore import FirestoreStore

        fs_store = FirestoreStore.from_url(url, create=create, **kwargs)
        if not create:
            try:
                fs_store.check_exists()
            except StoreError:
                fs_store.close()
                raise
        return fs_store
    raise StoreError(
        f"unknown cache URL {safe_url(url)!r}: use sqlite:///PATH, redis://HOST:PORT/DB"
        " or firestore://PROJECT[/DATABASE]"
    )
