from __future__ import annotations

import httpx
import pytest

from ethos.service import create_app  # noqa: E402
from ethos.settings import Settings  # noqa: E402
from tests.integration.service.service_helpers import ADMIN_KEY
from tests.servers import ServerThread


@pytest.fixture
def make_service(tmp_path):
    """Start a real service on 127.0.0.1 with a real SQLite file; stop it afterwards."""
    started: list[ServerThread] = []

    def make(**overrides) -> tuple[str, object]:
        settings = Settings(**{
            "state_dir": tmp_path, "admin_api_key": ADMIN_KEY, "semantic_enabled": False,
            **overrides,
        })
        app = create_app(settings, access_log=False)
        srv = ServerThread(app).start()
        started.append(srv)
        return srv.url, app

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def service(make_service):
    url, app = make_service()
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client, app

