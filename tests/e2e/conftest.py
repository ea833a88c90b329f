"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.e2e_helpers import Serve


@pytest.fixture
def serve_factory(tmp_path):
    procs: list[Serve] = []

    def start(env: dict[str, str] | None = None, revision: str = "blue",
              semantic: bool = False) -> Serve:
        # The embedding model costs seconds of CPU per process; tests that are not about
        # paraphrases run without it.
        env = {"ETHOS_SEMANTIC_ENABLED": "true" if semantic else "false", **(env or {})}
        s = Serve(tmp_path, env, revision)
        procs.append(s)
        s.wait_healthy()
        return s

    yield start
    for p in procs:
        p.stop()
