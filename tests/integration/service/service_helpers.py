"""Shared by the service's integration tests."""

from __future__ import annotations

import httpx

ADMIN_KEY = "test-admin-key-0123456789"


def ask(client: httpx.Client, message: str, **kw) -> httpx.Response:
    return client.post("/api/ai/marketing-chat", json={"message": message, **kw})
