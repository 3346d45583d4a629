"""The one place that turns exceptions into the spec's error body.

Validation errors name the offending field; anything unexpected is logged with its
traceback and answered with DRS.M00004 (422), never a 500 with a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendrs.errors import (
    BodyTooLarge,
    DrsError,
    EmptyParameter,
    InvalidParameter,
    InvalidRequestParameter,
    MethodNotAllowed,
    NotFoundRoute,
    ServiceAbnormal,
    UnsupportedMediaType,
)

log = logging.getLogger("opendrs.api")


def render(exc: DrsError) -> JSONResponse:
    return JSONResponse(status_code=exc.http_status, content=exc.to_body())


def validation_to_drs(errors: list[Any]) -> DrsError:
    """Map pydantic's first error to M00201 (missing) / M00007 (bad JSON) / M00202 (bad value)."""
    if not errors:
        return InvalidRequestParameter()
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
    loc = [p for p in loc if p not in {"body", "query", "path", "header"}]
    field = loc[-1] if loc else "body"
    kind = str(err.get("type", ""))
    if kind == "json_invalid":
        return InvalidRequestParameter(detail=str(err.get("msg")))
    if kind == "missing":
        if field == "body":
            return EmptyParameter("body")
        return EmptyParameter(field)
    # Pydantic wraps validator messages as "Value error, <text>"; the text tells the caller
    # what is expected (it never echoes the submitted value).
    msg = str(err.get("msg", "")).removeprefix("Value error, ").strip()
    hint = f"({'.'.join(loc)}: {msg[:200]})" if msg else None
    return InvalidParameter(field, detail=f"{'.'.join(loc)}: {msg}", hint=hint)


def install(app: FastAPI) -> None:
    @app.exception_handler(DrsError)
    async def _drs(_request: Request, exc: DrsError) -> JSONResponse:
        if exc.detail:
            log.info("%s %s: %s", exc.error_code, exc.error_msg, exc.detail)
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        drs = validation_to_drs(list(exc.errors()))
        log.info("rejected request: %s (%s)", drs.error_msg, drs.detail)
        return render(drs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        mapped: DrsError
        if exc.status_code == 404:
            mapped = NotFoundRoute(f"no such API: {request.method} {request.url.path}")
        elif exc.status_code == 405:
            mapped = MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}")
        elif exc.status_code == 415:
            mapped = UnsupportedMediaType("Content-Type must be application/json")
        elif exc.status_code == 413:
            mapped = BodyTooLarge("request body too large")
        elif exc.status_code < 500:
            mapped = InvalidRequestParameter(detail=str(exc.detail))
        else:
            mapped = ServiceAbnormal(detail=str(exc.detail))
        return render(mapped)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return render(ServiceAbnormal(detail=repr(exc)))
