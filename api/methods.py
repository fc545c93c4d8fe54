"""405 with ``Allow`` for an API path asked with a method it does not serve.

Two gaps in plain routing: the chat page's files are mounted at "/", so a path that no route
serves with the request's method fell through to them (a GET on a POST-only route was a
static-file 404, an OPTIONS a 405 allowing GET and HEAD); and a literal path such as
``/api/v1/chat/start`` also fits the template ``/api/v1/chat/{conversation_id}``, so a
PATCH on it reached the rename route. The API's paths and methods are read from the OpenAPI
document, which lists every route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send


class MethodMap:
    """The methods each API path serves, read once from the OpenAPI document."""

    def __init__(self, openapi: Callable[[], dict[str, Any]]) -> None:
        """Read the paths of ``openapi()`` on first use (the routes are all added by then)."""
        self._openapi = openapi
        self._literal: dict[str, set[str]] | None = None
        self._templates: list[tuple[re.Pattern[str], set[str]]] = []

    def _load(self) -> dict[str, set[str]]:
        if self._literal is None:
            literal: dict[str, set[str]] = {}
            for path, operations in self._openapi().get("paths", {}).items():
                # FastAPI serves HEAD only where declared, so GET does not imply it here.
                methods = {m.upper() for m in operations}
                if "{" in path:
                    self._templates.append((compile_path(path)[0], methods))
                else:
                    literal[path] = methods
            self._literal = literal
        return self._literal

    @staticmethod
    def route_path(scope: Scope) -> str:
        """Return the request's path without the app's mount prefix."""
        root, path = scope.get("app_root_path", ""), str(scope["path"])
        return path[len(root) :] if root and path.startswith(root) else path

    def literal(self, path: str) -> set[str]:
        """Return the methods of a path without parameters (empty when it is not one)."""
        return self._load().get(path, set())

    def any(self, path: str) -> set[str]:
        """Return the methods of every API path, literal or template, that ``path`` fits."""
        found = set(self.literal(path))
        for pattern, methods in self._templates:
            if pattern.match(path):
                found |= methods
        return found


async def _method_not_allowed(
    scope: Scope, receive: Receive, send: Send, allowed: set[str]
) -> None:
    allow = ", ".join(sorted(allowed))
    response = JSONResponse(
        {
            "code": "method_not_allowed",
            "message": f"{scope['method']} is not allowed here; use {allow}",
            "request_id": scope.get("state", {}).get("request_id", ""),
        },
        status_code=405,
        headers={"Allow": allow},
    )
    await response(scope, receive, send)


class WrongMethodOnLiteralPath:
    """Answer 405 for a literal API path asked with a method it does not serve."""

    def __init__(self, app: ASGIApp, methods: MethodMap) -> None:
        """Wrap ``app``."""
        self.app = app
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 405, or pass the request on."""
        if scope["type"] == "http":
            allowed = self.methods.literal(MethodMap.route_path(scope))
            if allowed and scope["method"] not in allowed:
                await _method_not_allowed(scope, receive, send, allowed)
                return
        await self.app(scope, receive, send)


class PagesOrMethodNotAllowed:
    """Serve the page's files at "/", but answer 405 for an API path asked the wrong way."""

    def __init__(self, methods: MethodMap, files: ASGIApp) -> None:
        """Answer for the API's paths before handing over to ``files``."""
        self.methods = methods
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 405 in the one error shape, or serve a file."""
        if scope["type"] == "http":
            allowed = self.methods.any(MethodMap.route_path(scope))
            if allowed and scope["method"] not in allowed:
                await _method_not_allowed(scope, receive, send, allowed)
                return
        await self.files(scope, receive, send)
