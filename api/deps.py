"""Typed dependencies shared by the routes: settings and the database pool."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was started with."""
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    """Return the app's one connection pool."""
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


AppSettings = Annotated[Settings, Depends(get_app_settings)]
Pool = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]
