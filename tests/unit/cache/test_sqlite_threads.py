"""SQLiteStore keeps one connection per thread: threads that end must not leave theirs open.

anyio retires idle worker threads after seconds and starts new ones under load, so a
service sees an endless series of threads; the load soak found every one left a connection
(two file descriptors and its page cache) open for good.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ethos.cache.stores.sqlite import SQLiteStore


def _open_fds_on(path: Path) -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(path)):
                n += 1
        except OSError:
            pass
    return n


def test_connections_of_ended_threads_are_closed(tmp_path):
    db = tmp_path / "cache.sqlite3"
    store = SQLiteStore(db)
    try:
        store.set_meta("probe", 1)
        for _ in range(60):
            t = threading.Thread(target=lambda: store.get_meta("probe"))
            t.start()
            t.join()
        # the main thread's, the last thread's (closed by the next new one) and the WAL's
        assert _open_fds_on(db) <= 6
        assert store.get_meta("probe") == 1  # the main thread's connection still works
    finally:
        store.close()
    assert _open_fds_on(db) == 0


def test_live_threads_keep_their_connections(tmp_path):
    store = SQLiteStore(tmp_path / "cache.sqlite3")
    store.set_meta("probe", 1)
    go, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def worker() -> None:
        seen.append(store.get_meta("probe"))
        go.wait(10)
        seen.append(store.get_meta("probe"))  # its connection was not closed meanwhile
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    try:
        for _ in range(5):  # other threads come and go while it is alive
            u = threading.Thread(target=lambda: store.get_meta("probe"))
            u.start()
            u.join()
        go.set()
        assert done.wait(10)
        assert seen == [1, 1]
    finally:
        t.join()
        store.close()
