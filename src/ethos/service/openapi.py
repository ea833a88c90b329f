"""The service's OpenAPI document, made exact: what each route answers, errors included.

FastAPI documents the routes' parameters; this adds what it cannot see: the admin key (a
security scheme on every ``/api/admin`` route), the error body every route gives
(``{"error", "detail"}``, not FastAPI's default validation body), the statuses each route
can answer, the SSE stream of the chat, the Prometheus text of ``/metrics`` and the bodies
of ``/health`` and the admin routes. ``tests/integration/service/test_fuzz_service.py``
fuzzes the service from this document and fails on anything it does not describe.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .auth import ADMIN_HEADER
from .faults import MAX_DELAY_MS

ADMIN_SCHEME = "AdminApiKey"
ERROR_REF = {"$ref": "#/components/schemas/Error"}

#: every error the API gives (errors.py)
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. invalid_request."},
        "detail": {
            "description": "What was wrong and how to fix it (a list for invalid fields).",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "retry_after_s": {
            "type": "integer", "minimum": 0,
            "description": "On a 429: seconds until the address may try a key again (as Retry-After).",
        },
    },
}

_COUNT = {"type": "integer", "minimum": 0}
#: the faults that are on (``Faults.describe``): absent ones are off
_FAULTS_ON = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "error_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "latency_ms": {"type": "integer", "minimum": 1},
        "ttft_ms": {"type": "integer", "minimum": 1},
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "revision", "store", "cache_enabled"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "revision": {"type": "string"},
        "cache_format_version": {"type": "integer"},
        "store": {
            "type": "object",
            "required": ["backend", "reachable"],
            "properties": {
                "backend": {"type": "string"},
                "reachable": {"type": "boolean"},
                "detail": {"type": ["string", "null"]},
            },
        },
        "cache_enabled": {"type": "boolean"},
        "answerer": {"type": "string"},
        "semantic": {"type": "string"},
        "pair_model": {"enum": ["off", "loading", "ready", "error"]},
        "faults": {"anyOf": [_FAULTS_ON, {"type": "null"}]},
    },
}
#: 200 bodies by path (the admin routes return plain dicts)
BODIES: dict[str, dict[str, Any]] = {
    "/health": _HEALTH,
    "/api/admin/cache/invalidate": {
        "type": "object", "required": ["removed", "key_pattern"],
        "properties": {"removed": _COUNT, "key_pattern": {"type": "string"}},
    },
    "/api/admin/cache/invalidate-source": {
        "type": "object", "required": ["removed", "source"],
        "properties": {"removed": _COUNT, "source": {"type": "string"}},
    },
    "/api/admin/cache/stats": {
        "type": "object",
        "required": ["entries", "size_bytes", "backend", "hits", "semantic_hits", "misses",
                     "bypasses", "hit_rate"],
        "properties": {
            "entries": _COUNT, "size_bytes": _COUNT, "backend": {"type": "string"},
            "hits": _COUNT, "semantic_hits": _COUNT, "misses": _COUNT, "bypasses": _COUNT,
            "hit_rate": {"type": ["number", "null"]},
        },
    },
    "/api/admin/cache/top": {
        "type": "object", "required": ["questions", "items"],
        "properties": {
            "questions": {"type": "array", "items": {"type": "string"}},
            "items": {"type": "array", "items": {
                "type": "object", "required": ["question", "hits"],
                "properties": {"question": {"type": "string"}, "hits": _COUNT},
            }},
        },
    },
    "/api/admin/faults": {
        "type": "object", "required": ["revision", "enabled", "faults", "spec"],
        "properties": {
            "revision": {"type": "string"},
            "enabled": {"type": "boolean"},
            "faults": _FAULTS_ON,
            "spec": {"type": "string", "description": "The same in the ETHOS_FAULTS grammar ('' when off)."},
            "previous": {**_FAULTS_ON, "description": "After PUT or DELETE: the faults in force before."},
        },
    },
    "/api/admin/cache/pii-scan": {
        "type": "object", "required": ["scanned", "leaking", "entities", "leaks", "purged"],
        "properties": {
            "scanned": _COUNT, "leaking": _COUNT, "purged": _COUNT,
            "entities": {"type": "object", "additionalProperties": _COUNT},
            "leaks": {"type": "array", "items": {"type": "object"}},
        },
    },
}
#: error statuses by path (or "METHOD path"), besides 422 (FastAPI adds it where there are parameters)
ERRORS: dict[str, dict[int, str]] = {
    "/api/ai/marketing-chat": {
        400: "The body is not a JSON object.",
        422: "A field is missing, of the wrong type or out of range.",
        502: "The LLM provider failed.",
        503: "Overloaded: no capacity for this request now (error \"overloaded\"); try again after"
             " Retry-After seconds.",
        504: "The LLM provider timed out.",
    },
    "/api/admin/cache/invalidate": {400: "key_pattern is not a valid pattern."},
    "/api/admin/cache/invalidate-source": {400: "source is not a document file name."},
    "PUT /api/admin/faults": {
        400: "The body is not a JSON object; or a query parameter the route does not take.",
        422: "A fault is unknown, of the wrong type or out of range (error_rate 0..1, "
             f"latency_ms and ttft_ms whole milliseconds 0..{MAX_DELAY_MS}).",
    },
}
ADMIN_ERRORS = {
    400: "A query parameter the route does not take, or one given twice.",
    401: "No admin key was sent.",
    403: "The admin key is wrong.",
    429: "Too many wrong keys from this address: locked out for a while (Retry-After).",
    503: "No admin key is configured, or the cache store cannot be reached.",
}
#: one server-sent event (OpenAPI < 3.2: the schema of a stream describes each event)
_SSE = {"text/event-stream": {"schema": {
    "type": "object",
    "required": ["data"],
    "description": 'Events `data: {"delta": …}`, then `event: done` (or `event: error`).',
    "properties": {
        "event": {"enum": ["message", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}}}
_PROMETHEUS = {"text/plain": {"schema": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Add what FastAPI cannot see to its document (in place; returned). Pure."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    doc["components"]["securitySchemes"] = {
        ADMIN_SCHEME: {"type": "apiKey", "in": "header", "name": ADMIN_HEADER}
    }
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error("A parameter is missing, of the wrong type or out of range.")
            if path.startswith("/api/admin/"):
                op["security"] = [{ADMIN_SCHEME: []}]
                for status, text in ADMIN_ERRORS.items():
                    responses[str(status)] = _error(text)
            for status, text in {**ERRORS.get(path, {}), **ERRORS.get(f"{method.upper()} {path}", {})}.items():
                responses[str(status)] = _error(text)
            ok = responses.get("200", {})
            if path in BODIES:
                ok["content"] = {"application/json": {"schema": BODIES[path]}}
            elif path == "/metrics":
                ok["content"] = _PROMETHEUS
                ok["description"] = "Prometheus text exposition."
            elif path == "/api/ai/marketing-chat":
                ok.setdefault("content", {}).update(_SSE)
    return doc


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json``."""
    build = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(complete(build()))
        return done[0]

    # FastAPI's documented way to customise the document is to replace ``app.openapi``
    # ("Extending OpenAPI"); its class declares a plain method
    app.openapi = openapi  # type: ignore[method-assign]
