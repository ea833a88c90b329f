"""Every error the API gives is JSON ``{"error": code, "detail": text}``; never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ethos.service")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
        self.extra = dict(extra or {})  # more fields of the body, e.g. retry_after_s on a 429


def error_response(status: int, error: str, detail: object, headers=None,
                   extra: Mapping[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **(extra or {})}, status_code=status, headers=headers)


def _describe(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        # Never echo the input back: it may hold personal data.
        out.append(f"{loc}: {e.get('msg', 'invalid')}")
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.error, exc.detail, headers=exc.headers, extra=exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
            return error_response(
                400, "invalid_json",
                "the request body must be a JSON object sent with Content-Type: application/json",
            )
        return error_response(422, "invalid_request", _describe(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "an unexpected error occurred")
