"""LLM providers: which chat model a request uses, and whose key pays for it.

``offline`` needs no model at all (the agents run their deterministic paths); ``openai`` and
``openai_compatible`` (vLLM, Ollama's /v1, any OpenAI-shaped server) go through
langchain-openai. Keys come from the request, else the caller's vaulted key, else the
environment — the last only when ALLOW_ENV_PROVIDER_KEYS=true. A key is held as a SecretStr
and travels in the runtime context only: never in graph state, config or logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from core.settings import Settings

logger = logging.getLogger(__name__)

Provider = Literal["offline", "openai", "openai_compatible"]
KeySource = Literal["request", "vault", "environment", "none"]
PROVIDERS: tuple[Provider, ...] = ("offline", "openai", "openai_compatible")
# Local servers (vLLM, Ollama) accept any bearer token; the OpenAI client insists on one.
LOCAL_SERVER_TOKEN = "not-needed"


class ProviderConfigError(ValueError):
    """The request asks for a provider that cannot be used as configured."""


@dataclass(frozen=True)
class LLMSelection:
    """The provider, model, endpoint and key one request runs with."""

    provider: Provider
    model: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    key_source: KeySource = "none"
    fallback: LLMSelection | None = None

    @property
    def is_offline(self) -> bool:
        """Say whether the deterministic agents run instead of a model."""
        return self.provider == "offline"

    def describe(self) -> str:
        """Name the selection without its key, for logs and events."""
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.provider}:{self.model}{where} (key: {self.key_source})"


def _checked_base_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProviderConfigError("the LLM base URL must be an http(s) URL")
    return url.rstrip("/")


def select_llm(
    settings: Settings,
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    request_key: str | None = None,
    vaulted_key: str | None = None,
    with_fallback: bool = True,
) -> LLMSelection:
    """Decide the provider and key for one request, following the key precedence."""
    chosen = provider or settings.llm_provider
    if chosen not in PROVIDERS:
        raise ProviderConfigError(f"unknown LLM provider {chosen!r}; use one of {PROVIDERS}")
    fallback = None
    if (
        with_fallback
        and settings.llm_fallback_provider
        and settings.llm_fallback_provider != chosen
    ):
        fallback = select_llm(
            settings,
            provider=settings.llm_fallback_provider,
            with_fallback=False,
            request_key=request_key,
            vaulted_key=vaulted_key,
        )
    if chosen == "offline":
        return LLMSelection("offline", "offline-deterministic")
    url = _checked_base_url(base_url or settings.llm_base_url)
    if chosen == "openai_compatible" and not url:
        raise ProviderConfigError("openai_compatible needs a base URL (LLM_BASE_URL or header)")
    key, source = _pick_key(settings, request_key, vaulted_key)
    if key is None:
        if chosen == "openai_compatible":
            key, source = LOCAL_SERVER_TOKEN, "none"
        elif settings.llm_without_key == "offline":
            logger.info("no provider key for this request: using the offline provider")
            return LLMSelection("offline", "offline-deterministic")
        else:
            raise ProviderConfigError(
                "this request has no LLM key: send X-LLM-API-Key or store one with "
                "PUT /api/v1/keys/openai"
            )
    return LLMSelection(
        chosen,
        model or settings.llm_model,
        url,
        SecretStr(key),
        source,
        fallback,
    )


def _pick_key(
    settings: Settings, request_key: str | None, vaulted_key: str | None
) -> tuple[str | None, KeySource]:
    if request_key:
        return request_key, "request"
    if vaulted_key:
        return vaulted_key, "vault"
    if settings.llm_api_key:
        if settings.allow_env_provider_keys:
            return settings.llm_api_key, "environment"
        logger.warning("LLM_API_KEY is set but ALLOW_ENV_PROVIDER_KEYS=false: not using it")
    return None, "none"


def make_chat_model(selection: LLMSelection, *, timeout_s: float = 60.0) -> BaseChatModel | None:
    """Build the chat model for ``selection`` (None for offline), with its fallback chained."""
    if selection.is_offline:
        return None
    from langchain_openai import ChatOpenAI

    model: BaseChatModel = ChatOpenAI(
        model=selection.model,
        api_key=selection.api_key,
        base_url=selection.base_url,
        timeout=timeout_s,
        max_retries=1,
        temperature=0,
    )
    return model
