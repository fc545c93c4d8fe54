"""The OpenAPI document, made to say what the server does.

Routes declare the errors they can answer with ``errors(...)``; ``install_openapi`` then
finishes the generated document: FastAPI's ``HTTPValidationError`` (a ``detail`` list the
server never sends) becomes the one error shape ``ErrorPublic``, every response names its
``X-Request-ID`` header, operations that need a signed-in caller carry the bearer scheme, and
fields of the tools' models get descriptions from ``api.openapi_fields`` where the model has
none. ``tests/security/test_api_fuzz.py`` holds the document to the server's answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from api.openapi_fields import FIELD_DESCRIPTIONS

ERROR_SCHEMA = "ErrorPublic"
_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
_REQUEST_ID = {
    "description": "The request's id (the caller's X-Request-ID when short and plain).",
    "schema": {"type": "string"},
}

ERROR_TEXT: dict[int, str] = {
    400: "The body could not be read as JSON (for example, it is not UTF-8).",
    401: "No bearer token, or one that does not verify (only when auth is enabled).",
    404: "No such resource for this caller.",
    409: "The chat is busy with a run in progress (or there is nothing to resume).",
    413: "The body is over the size limit (64 KB; a chat message over 16 KB).",
    422: "The request does not validate; the message names each field and what is wrong.",
    429: "The caller's rate budget is spent; retry after Retry-After seconds.",
    503: "The database, the embedder or the key vault is unavailable, or the app is starting.",
}


class ErrorPublic(BaseModel):
    """Every error answer: a stable code, a message for people, and the request's id."""

    code: str = Field(description="Stable, machine-readable: invalid_request, not_found, ...")
    message: str = Field(description="What went wrong, for people; never a secret.")
    request_id: str = Field(description="Quote it when reporting a problem (X-Request-ID).")
    resumable: bool | None = Field(
        default=None,
        description="Only on the 503 of a turn that a database outage or a server shutdown "
        "interrupted: true when POST /api/v1/chat/{conversation_id}/resume can continue it "
        "from its checkpoint (once the database is back).",
    )


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return ``responses=`` entries for these error statuses, in the one error shape."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorPublic, "description": ERROR_TEXT[status]}
        if status == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before the next request.",
                    "schema": {"type": "string"},
                }
            }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"description": "Bearer.", "schema": {"type": "string"}}
            }
        responses[status] = entry
    return responses


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": dict(_REF)}}


def _finish(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA, ErrorPublic.model_json_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Supabase access token; not needed when AUTH_ENABLED=false.",
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {"description": ERROR_TEXT[422], "content": _error_content()}
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-ID"] = _REQUEST_ID
            if "401" in responses:
                operation["security"] = [{"bearerAuth": []}, {}]
    for name, fields in FIELD_DESCRIPTIONS.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field, text in fields.items():
            if field in properties and "description" not in properties[field]:
                properties[field]["description"] = text
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at ``app.openapi_url`` (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
