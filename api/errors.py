"""One error shape for every failure: ``{code, message, request_id}``, never a stack trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import DatabaseUnavailableError

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "service_unavailable",
}


def choose_request_id(incoming: str | None) -> str:
    """Return the caller's request id when it is short and plain, else a fresh one."""
    # Echo a caller's id only when it is short and plain; never reflect arbitrary bytes.
    if incoming and len(incoming) <= 64 and incoming.isascii() and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def request_id(request: Request) -> str:
    """Return the request's id, set by the middleware (or a fresh one)."""
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    resumable: bool | None = None,
) -> JSONResponse:
    """Build the one error body (with extra headers such as Retry-After).

    ``resumable`` (a turn a database outage or a shutdown interrupted) says whether
    ``/resume`` can continue it from a checkpoint.
    """
    rid = request_id(request)
    body: dict[str, object] = {"code": code, "message": message, "request_id": rid}
    if resumable is not None:
        body["resumable"] = resumable
    return JSONResponse(
        body,
        status_code=status,
        headers={**(headers or {}), "X-Request-ID": rid},
    )


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the one error shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, "invalid_request", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(request, exc.status_code, code, message, exc.headers)

    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", type(exc).__name__)
        return error_response(request, 503, "db_unavailable", "the database is unavailable")

    for exc_type in (DatabaseUnavailableError, PoolTimeout, psycopg.OperationalError):
        app.add_exception_handler(exc_type, _db_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"request_id": request_id(request)})
        return error_response(request, 500, "internal_error", "something went wrong")
