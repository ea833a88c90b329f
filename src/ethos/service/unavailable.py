"""A stand-in for a store that could not be opened: every operation is unavailable."""

from __future__ import annotations

from ..cache.store import Store, StoreStats, StoreUnavailable


class UnavailableStore(Store):
    backend = "unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def _fail(self, *args, **kwargs):
        raise StoreUnavailable(self.reason)

    get = put = delete_matching = delete_by_source = add_hits = _fail
    scope_vectors = count = epoch = purge_expired = set_meta = get_meta = _fail

    def scan(self, pattern="*", batch=500):
        raise StoreUnavailable(self.reason)

    def stats(self) -> StoreStats:
        raise StoreUnavailable(self.reason)

    def ping(self) -> bool:
        return False
