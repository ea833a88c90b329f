"""The container image's tests: they run localhost/ethos:latest with podman.

The image is built by `make image` (CI runs it before `make test`). Without podman or without
the image these tests fail, naming that command: they are never skipped.
"""

from __future__ import annotations

import pytest

from tests.image.image_helpers import IMAGE, missing


@pytest.fixture(scope="session")
def image() -> str:
    why = missing()
    if why is not None:
        pytest.fail(why, pytrace=False)
    return IMAGE
