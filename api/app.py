"""The FastAPI application: lifespan (database pool), middleware, routes and the chat page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.bodies import ReadBodyFirstMiddleware
from api.docs import install_docs
from api.errors import choose_request_id, install_error_handlers
from api.foreground import ForegroundFirstMiddleware
from api.limits import BodySizeLimitMiddleware
from api.methods import MethodMap, PagesOrMethodNotAllowed, WrongMethodOnLiteralPath
from api.openapi import install_openapi
from api.routes import account, chat, export, health, optimizer, tools
from api.runtime import ChatRuntime
from core.db import (
    FailFastPool,
    create_pool,
    database_url,
    embedded_data_dir,
    embedded_server,
)
from core.embedded import EmbeddedSupervisor
from core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


class RequestIdMiddleware:
    """Give every request an id (``request.state.request_id``) and echo it in X-Request-ID.

    Pure ASGI, not ``@app.middleware("http")``: that wrapper copies every streamed chunk
    through a task and a memory stream, which costs the SSE streams and, under load, the
    time to their first event.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the request and its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = choose_request_id(Headers(scope=scope).get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


def supervise_embedded(settings: Settings, pool: FailFastPool) -> EmbeddedSupervisor | None:
    """Start the supervisor of the embedded Postgres (None with an external database)."""
    server = embedded_server(embedded_data_dir(settings)) if settings.embedded_database else None
    if server is None:
        return None
    supervisor = EmbeddedSupervisor(server, on_restart=pool.replace_connections)
    supervisor.start()
    return supervisor


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database pool opens in the lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(database_url(settings), settings)
        await pool.open(wait=False)
        app.state.pool = pool
        supervisor = supervise_embedded(settings, pool)
        await app.state.chat.start(pool)
        try:
            yield
        finally:
            await app.state.chat.stop()
            if supervisor is not None:
                await supervisor.stop()
            await pool.close()

    app = FastAPI(
        title="Stack8s",
        version="0.1.0",
        description="Grounded deployment plans for AI workloads.",
        lifespan=lifespan,
        # Served by api.docs from packaged files: the defaults load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.chat = ChatRuntime(settings)
    install_error_handlers(app)
    methods = MethodMap(app.openapi)
    # Inside CORS, so that a preflight OPTIONS is answered by CORS first.
    app.add_middleware(WrongMethodOnLiteralPath, methods=methods)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Last-Event-ID",
            "X-Request-ID",
            "X-LLM-API-Key",
            "X-LLM-Provider",
            "X-LLM-Base-URL",
            "X-LLM-Model",
        ],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(metrics.MetricsMiddleware)

    # A request that starts a turn is foreground from its first moment here, but only once
    # its body is complete: a slow client must not hold back the turns (api.bodies).
    app.add_middleware(ForegroundFirstMiddleware, gate=app.state.chat.foreground)
    app.add_middleware(ReadBodyFirstMiddleware, timeout_s=settings.request_body_timeout_s)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health.router)
    app.include_router(tools.router)
    app.include_router(optimizer.router)
    app.include_router(chat.router)
    app.include_router(export.router)
    app.include_router(account.router)
    app.include_router(metrics.router)
    install_docs(app)
    install_openapi(app)
    pages = StaticFiles(directory=STATIC_DIR, html=True)
    app.mount("/", PagesOrMethodNotAllowed(methods, pages), name="static")
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.app:app` and `langgraph dev` import this module; build the app on first use
    # so that importing it for tests or tooling does not read the environment.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
