"""The FastAPI application: lifespan (database pool), middleware, routes and the chat page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api import metrics
from api.errors import choose_request_id, install_error_handlers
from api.limits import BodySizeLimitMiddleware
from api.routes import account, chat, health, optimizer, tools
from api.runtime import ChatRuntime
from core.db import create_pool, database_url
from core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database pool opens in the lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(database_url(settings), settings)
        await pool.open(wait=False)
        app.state.pool = pool
        await app.state.chat.start(pool)
        try:
            yield
        finally:
            await app.state.chat.stop()
            await pool.close()

    app = FastAPI(
        title="Stack8s",
        version="0.1.0",
        description="Grounded deployment plans for AI workloads.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chat = ChatRuntime(settings)
    install_error_handlers(app)
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

    @app.middleware("http")
    async def assign_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = choose_request_id(request.headers.get("x-request-id"))
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    app.include_router(health.router)
    app.include_router(tools.router)
    app.include_router(optimizer.router)
    app.include_router(chat.router)
    app.include_router(account.router)
    app.include_router(metrics.router)
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.app:app` and `langgraph dev` import this module; build the app on first use
    # so that importing it for tests or tooling does not read the environment.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
