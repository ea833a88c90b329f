"""A stand-in for a store that could not be opened: every operation is unavailable."""

from __future__ import annotations

from typing import NoReturn

from ..cache.stores import Store, StoreStats, StoreUnavailable


class UnavailableStore(Store):
    backend = "unavailable"

    def __init__(self, reason: str, kind: str = "unavailable") -> None:
        super().__init__()
        self.reason = reason
        self.kind = kind

    def _fail(self, *args: object, **kwargs: object) -> NoReturn:
        raise StoreUnavailable(self.reason, kind=self.kind)

    get = put = delete_matching = delete_by_source = add_hits = _fail
    scope_vectors = count = epoch = purge_expired = set_meta = get_meta = _fail
    position = scan_since = _fail

    def scan(self, pattern="*", batch=500):
        self._fail()

    def stats(self) -> StoreStats:
        self._fail()

    def ping(self) -> bool:
        return False
