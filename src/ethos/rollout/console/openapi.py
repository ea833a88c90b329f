"""The OpenAPI document of the console's JSON API (``GET /api/console/openapi.json``).

Written by hand (the console is a plain Starlette app), from ``docs/console.md``;
``tests/integration/rollout/test_fuzz_console.py`` fuzzes the console from it.
"""

from __future__ import annotations

from typing import Any

from ... import __version__

ADMIN_SCHEME = "AdminApiKey"
_ERROR = {"$ref": "#/components/schemas/Error"}
_OBJECT = {"type": "object"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(description, _ERROR)


_AUTH_ERRORS = {
    "401": _err("No admin key was sent."),
    "403": _err("The admin key is wrong."),
    "429": _err("Too many wrong keys from this address: locked out (Retry-After)."),
    "503": _err("No admin key is configured (or, for an action, no router or revisions)."),
}

#: the body of an action: common fields, and those of each action (docs/console.md)
ACTION_BODY = {
    "type": "object",
    "properties": {
        "executed_by": {"type": "string", "maxLength": 80, "description": "Who acts (required to act)."},
        "reason": {"type": "string", "maxLength": 500},
        "dry_run": {"type": "boolean", "description": "Answer the plan and change nothing."},
        "cache": {"enum": ["clear", "preserve", "auto"]},
        "stages": {"type": "string", "description": "Gradual stages, e.g. 50:15m,25:15m,5:30m."},
        "weights": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
                    "description": "Integers summing to 100, by revision."},
        "pattern": {"type": "string", "description": "'all' or a key glob (docs/api.md)."},
        "revisions": {"type": "array", "items": {"type": "string"}},
    },
}


def document(actions: tuple[str, ...]) -> dict[str, Any]:
    """The console's document; ``actions`` are the names ``/actions/{action}`` takes. Pure."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "ethos console", "version": __version__,
                 "description": "The JSON API the console's page reads; scripts may use it too."},
        "paths": {
            "/api/console/state": {"get": {
                "summary": "Revisions, weights, health, triggers, journal, incident, drill.",
                "responses": {"200": _json("The state.", _OBJECT)},
            }},
            "/api/console/history": {"get": {
                "summary": "The charted signals of the last hour, by column.",
                "parameters": [{"name": "since", "in": "query", "required": False,
                                "schema": {"type": "number"}, "description": "Unix seconds."}],
                "responses": {"200": _json("The columns.", _OBJECT),
                              "400": _err("since is not a number.")},
            }},
            "/api/console/auth": {"get": {
                "summary": "204 when the admin key is right.",
                "security": [{ADMIN_SCHEME: []}],
                "responses": {"204": {"description": "The key is right."}, **_AUTH_ERRORS},
            }},
            "/api/console/actions/{action}": {"post": {
                "summary": "Run an action (journaled), or answer its plan (dry_run).",
                "security": [{ADMIN_SCHEME: []}],
                "parameters": [{"name": "action", "in": "path", "required": True,
                                "schema": {"enum": list(actions)}}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": ACTION_BODY}}},
                "responses": {
                    "200": _json("The outcome, or the plan of a dry run.", _OBJECT),
                    "202": _json("Started and still running: follow it in the journal.", _OBJECT),
                    "400": _err("Not a JSON object, or a field is wrong (executed_by missing ...)."),
                    "404": _err("No such action."),
                    "409": _err("Another run holds the journal's lock; nothing changed."),
                    "500": _err("The action ran and a step failed (action_failed): see the journal."),
                    "501": _err("Drills are not installed."),
                    **_AUTH_ERRORS,
                },
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (refused admin requests, lockouts).",
                "responses": {"200": {"description": "Prometheus text exposition.",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
        },
        "components": {
            "securitySchemes": {ADMIN_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Admin-API-Key"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"],
                                  "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}},
        },
    }


__all__ = ["ACTION_BODY", "document"]
