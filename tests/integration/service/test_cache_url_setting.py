"""A cache URL that can never work refuses the start; one that may work later does not."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from ethos.settings import Settings


@pytest.mark.parametrize("url", ["sqlte:///x.db", "postgres://h/db", "redis:/h", "cache.db", "http://x"])
def test_an_unknown_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ValidationError, match="unknown cache URL scheme"):
        Settings(cache_url=url)


@pytest.mark.parametrize("url", ["", "sqlite:///tmp/x.db", "sqlite://:memory:", "redis://127.0.0.1:1/0",
                                 "rediss://h:6380/0", "unix:///run/redis.sock", "firestore://proj"])
def test_known_schemes_are_accepted_even_when_unreachable(url: str) -> None:
    assert Settings(cache_url=url).cache_url == url


def _serve(cache_url: str, state_dir) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "ETHOS_CACHE_URL": cache_url, "ETHOS_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-c", "from ethos.cli import main; main()", "serve", "--port", "9"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_ethos_serve_refuses_to_start_and_says_what_is_accepted(tmp_path) -> None:
    p = _serve("sqlte:///x.db", tmp_path)
    assert p.returncode == 2
    assert "unknown cache URL scheme (sqlte://...)" in p.stderr and "sqlite:///PATH" in p.stderr
    assert "Traceback" not in p.stderr


def test_the_refusal_never_shows_the_password(tmp_path) -> None:
    p = _serve("redsi://:s3cret-pass@host:6379/0", tmp_path)
    assert p.returncode == 2 and "unknown cache URL scheme (redsi://...)" in p.stderr
    assert "s3cret-pass" not in p.stderr + p.stdout
