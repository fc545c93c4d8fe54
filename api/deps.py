"""Typed dependencies shared by the routes: settings, the pool, the caller, run context."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from psycopg_pool import AsyncConnectionPool

from api.auth import LOCAL_USER, AuthError, User
from api.errors import request_id
from api.limits import RateLimiter
from api.runtime import ChatRuntime
from api.vault import PROVIDERS, VaultCorruptError
from core.egress import EgressRefusedError, caller_url_policy, is_configured_url
from core.settings import Settings
from graph.context import Context

logger = logging.getLogger(__name__)

_LLM_PROVIDERS = ("offline", "openai", "openai_compatible")
# The dependencies below are ``async def`` although they only read app state: FastAPI runs a
# plain ``def`` dependency in its thread pool, a hop per request that costs more than the
# lookup (and queues behind 40 threads under load).
_BEARER = {"WWW-Authenticate": "Bearer"}


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was started with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    """Return the app's one connection pool."""
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


async def get_runtime(request: Request) -> ChatRuntime:
    """Return the chat runtime (runs, verifier, vault, limiter)."""
    runtime: ChatRuntime = request.app.state.chat
    return runtime


AppSettings = Annotated[Settings, Depends(get_app_settings)]
Pool = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]
Runtime = Annotated[ChatRuntime, Depends(get_runtime)]


async def current_user(request: Request, runtime: Runtime) -> User:
    """Return the caller: the Supabase token's user, or the local user when auth is off.

    Raises:
        HTTPException: 401 when the token is missing or does not verify.

    """
    if not runtime.settings.auth_enabled:
        return LOCAL_USER
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "a bearer token is required", headers=_BEARER)
    try:
        return await runtime.verifier.verify(token.strip())
    except AuthError as exc:
        # The reason goes to the log, not to the client: it would help a forger.
        logger.info("token refused: %s", exc)
        raise HTTPException(401, "invalid or expired token", headers=_BEARER) from exc


CurrentUser = Annotated[User, Depends(current_user)]


async def rate_limited_user(user: CurrentUser, runtime: Runtime) -> User:
    """Return the caller after taking one request from their rate budget.

    Raises:
        HTTPException: 429 with Retry-After when the budget is spent.

    """
    limiter: RateLimiter = runtime.limiter
    wait = await limiter.acquire(user.id)
    if wait is not None:
        raise HTTPException(
            429,
            "too many requests; retry later",
            headers={"Retry-After": limiter.retry_after_header(wait)},
        )
    return user


LimitedUser = Annotated[User, Depends(rate_limited_user)]


def _header(raw: str | None, name: str, limit: int) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if len(value) > limit:
        # Never echo the value: it may be a secret.
        raise HTTPException(422, f"{name} is too long")
    return value


# Documented as header parameters; read and bounded by run_context itself (a too-long value
# is a 422 that never echoes it: it may be a key). HTTP header values are ASCII text.
_ASCII = {"pattern": "^[\\x20-\\x7e]*$"}
LlmApiKey = Annotated[
    str | None,
    Header(
        alias="X-LLM-API-Key",
        description="Your provider key for this request only (never stored; 512 chars max).",
        json_schema_extra=_ASCII,
    ),
]
LlmProvider = Annotated[
    str | None,
    Header(
        alias="X-LLM-Provider",
        description="The LLM provider for this request.",
        json_schema_extra={"enum": list(_LLM_PROVIDERS)},
    ),
]
LlmBaseUrl = Annotated[
    str | None,
    Header(
        alias="X-LLM-Base-URL",
        description="An OpenAI-compatible endpoint (vLLM, Ollama /v1). Outside development "
        "its host must be on LLM_BASE_URL_ALLOWED_HOSTS; the server's own key is never sent "
        "to it.",
        json_schema_extra=_ASCII,
    ),
]
LlmModel = Annotated[
    str | None,
    Header(
        alias="X-LLM-Model",
        description="The model name at the provider.",
        json_schema_extra=_ASCII,
    ),
]


async def run_context(
    request: Request,
    user: LimitedUser,
    runtime: Runtime,
    x_llm_api_key: LlmApiKey = None,
    x_llm_provider: LlmProvider = None,
    x_llm_base_url: LlmBaseUrl = None,
    x_llm_model: LlmModel = None,
) -> Context:
    """Build the run's context from the BYOK headers, else the caller's vaulted key.

    The key lives only in this context for this run: never stored, never logged, never
    in ``configurable`` or state (LangGraph checkpoints those).

    Raises:
        HTTPException: 422 for an unknown provider, a malformed base URL, or (outside
            development) a base URL whose host or addresses LLM_BASE_URL_ALLOWED_HOSTS
            does not admit.

    """
    api_key = _header(x_llm_api_key, "X-LLM-API-Key", 512)
    provider = _header(x_llm_provider, "X-LLM-Provider", 40)
    base_url = _header(x_llm_base_url, "X-LLM-Base-URL", 500)
    model = _header(x_llm_model, "X-LLM-Model", 200)
    if provider is not None and provider not in _LLM_PROVIDERS:
        raise HTTPException(422, f"X-LLM-Provider must be one of {', '.join(_LLM_PROVIDERS)}")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise HTTPException(422, "X-LLM-Base-URL must be an http(s) URL")
    if base_url is not None and not is_configured_url(base_url, runtime.settings):
        # Checked here for a clear 422 before any run; checked again at each connection.
        try:
            await caller_url_policy(runtime.settings).check_url_resolves(base_url)
        except EgressRefusedError as exc:
            raise HTTPException(422, f"X-LLM-Base-URL refused: {exc}") from exc
    vaulted = None
    wanted = provider or runtime.settings.llm_provider
    if api_key is None and wanted in PROVIDERS and runtime.vault.configured:
        assert runtime.pool is not None
        try:
            vaulted = await runtime.vault.reveal(runtime.pool, user.id, wanted)
        except VaultCorruptError:
            logger.warning("a vaulted key could not be opened; ignoring it")
    return Context(
        llm_provider=provider,
        llm_model=model,
        llm_base_url=base_url,
        llm_api_key=api_key,
        vaulted_api_key=vaulted,
        request_id=request_id(request),
    )


RunContext = Annotated[Context, Depends(run_context)]
