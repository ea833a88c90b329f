"""The OpenAPI document of the router's own routes (``GET /router/openapi.json``).

The router is a raw ASGI app, so its document is written here by hand, per router (the
weights name its revisions). Everything outside ``/router/`` is proxied to the revisions
and described by their own document. ``tests/integration/rollout/test_fuzz_router.py``
fuzzes the router from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import __version__
from ..weights import FENCE_HEADER, MAX_FENCE

ADMIN_SCHEME = "AdminApiKey"
_ERROR = {"$ref": "#/components/schemas/Error"}
_WEIGHTS = {"$ref": "#/components/schemas/Weights"}
_TRAFFIC = {"$ref": "#/components/schemas/Traffic"}
_FENCED = {"$ref": "#/components/schemas/Fenced"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _get(summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": ok}}


def _examples(names: list[str]) -> dict[str, Any]:
    """Valid splits (the schema cannot say "sums to 100")."""
    first, rest = names[0], names[1:]
    out: dict[str, Any] = {"all_to_first": {"value": {first: 100, **{n: 0 for n in rest}}}}
    if rest:
        out["canary"] = {"value": {first: 90, rest[0]: 10}}
        out["get_shape"] = {"value": {"weights": {first: 50, rest[0]: 50}}}
    return out


def document(revisions: Sequence[str]) -> dict[str, Any]:
    """The document for a router in front of ``revisions``. Pure."""
    names = list(revisions)
    health = _json("The router answers.", {
        "type": "object", "required": ["status", "revisions", "weights"],
        "properties": {"status": {"const": "ok"},
                       "revisions": {"type": "object", "additionalProperties": {"type": "string"}},
                       "weights": _WEIGHTS},
    })
    stats = _json("Outcomes of proxied requests per revision over sliding windows.", {
        "type": "object", "required": ["weights", "sticky", "windows_s", "revisions"],
        "properties": {"weights": _WEIGHTS, "sticky": {"type": "boolean"},
                       "windows_s": {"type": "array", "items": {"type": "integer"}},
                       "revisions": {"type": "object", "additionalProperties": {"type": "object"}}},
    })
    put = {
        "summary": "Set the traffic split (persisted before it is in force).",
        "description": "Weights are integers 0..100 that must sum to exactly 100; revisions not"
                       " named get 0. The body of GET /router/traffic is accepted too."
                       f" With {FENCE_HEADER}, a change carrying a lower fence than one already"
                       " accepted is refused (409 fenced) and the weights are untouched.",
        "security": [{ADMIN_SCHEME: []}],
        "parameters": [{
            "name": FENCE_HEADER, "in": "header", "required": False,
            "description": "The epoch of the procedure holding control of traffic (fencing token)."
                           " Refused when lower than the highest fence accepted; raises it otherwise."
                           " Absent: an unfenced change, always accepted.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_FENCE},
        }],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"anyOf": [
                _WEIGHTS,
                {"type": "object", "required": ["weights"], "properties": {"weights": _WEIGHTS}},
            ]},
            "examples": _examples(names),
        }}},
        "responses": {
            "200": _json("The split now in force.", _TRAFFIC),
            "400": _json("Not JSON, not weights, not summing to 100, an unknown revision, or an"
                         f" invalid {FENCE_HEADER} (invalid_fence).", _ERROR),
            "401": _json("No admin key was sent.", _ERROR),
            "403": _json("The admin key is wrong.", _ERROR),
            "409": _json("fenced: a higher fence was already accepted (a later holder of control);"
                         " nothing changed.", _FENCED),
            "429": _json("Too many wrong keys from this address: locked out (Retry-After).", _ERROR),
            "503": _json("The router has no admin key configured.", _ERROR),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ethos router", "version": __version__,
                 "description": "The router's own routes; every other path is proxied."},
        "paths": {
            "/router/health": {"get": _get("Liveness and the split.", health),
                               "head": {"summary": "Liveness.", "responses": {"200": {"description": "Up."}}}},
            "/router/stats": {"get": _get("Per-revision request figures.", stats)},
            "/router/metrics": {"get": _get("Prometheus metrics.", {
                "description": "Prometheus text exposition.",
                "content": {"text/plain": {"schema": {"type": "string"}}}})},
            "/router/traffic": {
                "get": _get("The split in force.", _json("The split.", _TRAFFIC)),
                "put": put,
                "post": {**put, "summary": "The same as PUT."},
            },
        },
        "components": {
            "securitySchemes": {ADMIN_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Admin-API-Key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
                "Weights": {
                    "type": "object", "minProperties": 1, "additionalProperties": False,
                    "properties": {n: {"type": "integer", "minimum": 0, "maximum": 100} for n in names},
                },
                "Fenced": {
                    "type": "object", "required": ["error", "detail", "fence"],
                    "properties": {"error": {"const": "fenced"}, "detail": {"type": "string"},
                                   "fence": {"type": "integer", "minimum": 0,
                                             "description": "The router's high-water mark."}},
                },
                "Traffic": {
                    "type": "object", "required": ["weights", "revisions", "sticky", "fence"],
                    "properties": {"weights": _WEIGHTS, "sticky": {"type": "boolean"},
                                   "revisions": {"type": "object", "additionalProperties": {"type": "string"}},
                                   "fence": {"type": ["integer", "null"], "minimum": 0,
                                             "description": "The highest X-Ethos-Fence accepted (null: none)."}},
                },
            },
        },
    }


__all__ = ["document"]
