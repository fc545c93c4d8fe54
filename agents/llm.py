"""LLM providers: which chat model a request uses, whose key pays for it, and what if it fails.

``offline`` needs no model at all (the agents run their deterministic paths); ``openai`` and
``openai_compatible`` (vLLM, Ollama's /v1, any OpenAI-shaped server) go through
langchain-openai's ``ChatOpenAI`` on the Chat Completions API, which all of them serve.

Keys come from the request, else the caller's vaulted key, else the environment — the last
only when ALLOW_ENV_PROVIDER_KEYS=true and only towards the configured endpoint. A key is held
as a SecretStr and travels in the runtime context only: never in graph state, ``configurable``,
checkpoints or logs. Errors that leave this module name the provider and the error type, never
the provider's response text (which can quote a key back).

Test seam: ``set_chat_model_override(factory)`` makes ``make_chat_model`` return
``factory(selection)`` for every non-offline selection, so tests can script a fake chat model
through the real graph. It is process-wide and meant for tests only; production never sets it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel, SecretStr, ValidationError

from agents.prompts import STRUCTURED_RETRY
from core.egress import (
    EgressPolicy,
    EgressRefusedError,
    caller_url_policy,
    guarded_async_client,
    is_configured_url,
    refusing_sync_client,
)
from core.settings import Settings

logger = logging.getLogger(__name__)

Provider = Literal["offline", "openai", "openai_compatible"]
KeySource = Literal["request", "vault", "environment", "none"]
PROVIDERS: tuple[Provider, ...] = ("offline", "openai", "openai_compatible")
# Local servers (vLLM, Ollama) accept any bearer token; the OpenAI client insists on one.
LOCAL_SERVER_TOKEN = "not-needed"
STRUCTURED_OUTPUT_ATTEMPTS = 3
OFFLINE_MODEL = "offline-deterministic"

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)
ChatModelFactory = Callable[["LLMSelection"], BaseChatModel]


class LLMError(RuntimeError):
    """A chat model could not produce what was asked; the message is safe to show."""


class ProviderConfigError(ValueError):
    """The request asks for a provider that cannot be used as configured."""


class MalformedOutputError(LLMError):
    """The model's structured output stayed invalid after every retry."""


class ProviderCallError(LLMError):
    """The provider failed (HTTP error, timeout, refused connection)."""


@dataclass(frozen=True)
class LLMSelection:
    """The provider, model, endpoint and key one request runs with."""

    provider: Provider
    model: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    key_source: KeySource = "none"
    fallback: LLMSelection | None = None
    # Set for a URL the caller chose: every connection to it is checked (core.egress).
    egress: EgressPolicy | None = None

    @property
    def is_offline(self) -> bool:
        """Say whether the deterministic agents run instead of a model."""
        return self.provider == "offline"

    def describe(self) -> str:
        """Name the selection without its key, for logs and events."""
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.provider}:{self.model}{where} (key: {self.key_source})"


OFFLINE = LLMSelection("offline", OFFLINE_MODEL)


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
) -> LLMSelection:
    """Decide the provider, endpoint and key for one request, following the key precedence.

    The fallback (LLM_FALLBACK_PROVIDER) never receives the caller's key: a key given for
    one provider is not sent to another. It uses the server's own configuration, and is
    dropped (with a log line) when that configuration cannot run it.

    Raises:
        ProviderConfigError: unknown provider, bad URL, or no key with LLM_WITHOUT_KEY=error.

    """
    chosen = provider or settings.llm_provider
    if chosen not in PROVIDERS:
        raise ProviderConfigError(f"unknown LLM provider {chosen!r}; use one of {PROVIDERS}")
    primary = _select_one(
        settings,
        chosen,
        model=model,
        base_url=base_url,
        request_key=request_key,
        vaulted_key=vaulted_key,
    )
    fallback_name = settings.llm_fallback_provider
    if primary.is_offline or not fallback_name or fallback_name == chosen:
        return primary
    try:
        fallback = _select_one(settings, fallback_name, fallback=True)
    except ProviderConfigError as exc:
        logger.warning("LLM fallback %s disabled: %s", fallback_name, exc)
        return primary
    return replace(primary, fallback=fallback)


def _select_one(
    settings: Settings,
    chosen: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    request_key: str | None = None,
    vaulted_key: str | None = None,
    fallback: bool = False,
) -> LLMSelection:
    if chosen == "offline":
        return OFFLINE
    configured_url = _checked_base_url(settings.llm_base_url)
    if fallback:
        # One LLM_BASE_URL serves the compatible endpoint; an OpenAI fallback uses OpenAI's.
        url = configured_url if chosen == "openai_compatible" else None
    else:
        url = _checked_base_url(base_url) or configured_url
    egress = None
    if url and url != configured_url and not is_configured_url(url, settings):
        egress = caller_url_policy(settings)
        try:
            egress.check_url(url)
        except EgressRefusedError as exc:
            raise ProviderConfigError(str(exc)) from exc
        if not egress.enforced:
            egress = None
    if chosen == "openai_compatible" and not url:
        raise ProviderConfigError("openai_compatible needs a base URL (LLM_BASE_URL)")
    # The server's own key goes only to the endpoint the server was configured with; a
    # caller-chosen URL with the environment key would hand that key to the caller.
    env_allowed = url == configured_url or (chosen == "openai" and url is None)
    key, source = _pick_key(settings, request_key, vaulted_key, env_allowed=env_allowed)
    if key is None:
        if chosen == "openai_compatible":
            key, source = LOCAL_SERVER_TOKEN, "none"
        elif fallback:
            raise ProviderConfigError(f"no key for the {chosen} fallback")
        elif settings.llm_without_key == "offline":
            logger.info("no provider key for this request: using the offline provider")
            return OFFLINE
        else:
            raise ProviderConfigError(
                f"this request has no key for the {chosen} provider and the server does not "
                "lend its own (LLM_WITHOUT_KEY=error): bring your own key with the request"
            )
    return LLMSelection(
        cast(Provider, chosen),
        model or settings.llm_model,
        url,
        SecretStr(key),
        source,
        egress=egress,
    )


def _pick_key(
    settings: Settings,
    request_key: str | None,
    vaulted_key: str | None,
    *,
    env_allowed: bool = True,
) -> tuple[str | None, KeySource]:
    if request_key:
        return request_key, "request"
    if vaulted_key:
        return vaulted_key, "vault"
    if settings.llm_api_key:
        if not settings.allow_env_provider_keys:
            logger.warning("LLM_API_KEY is set but ALLOW_ENV_PROVIDER_KEYS=false: not using it")
        elif not env_allowed:
            logger.warning("not sending LLM_API_KEY to a base URL the request chose")
        else:
            return settings.llm_api_key, "environment"
    return None, "none"


_override: ChatModelFactory | None = None


def set_chat_model_override(factory: ChatModelFactory | None) -> None:
    """Make ``make_chat_model`` build models with ``factory`` (None restores ChatOpenAI).

    For tests only: it is process-wide, so a test sets it and clears it in a ``finally``.
    """
    global _override
    _override = factory


@contextmanager
def chat_model_override(factory: ChatModelFactory) -> Iterator[None]:
    """Use ``factory`` for chat models inside the ``with`` block (tests)."""
    set_chat_model_override(factory)
    try:
        yield
    finally:
        set_chat_model_override(None)


def make_chat_model(selection: LLMSelection, *, timeout_s: float = 60.0) -> BaseChatModel | None:
    """Build the chat model for ``selection``, or None for the offline provider."""
    if selection.is_offline:
        return None
    if _override is not None:
        return _override(selection)
    import openai
    from langchain_openai import ChatOpenAI

    # A client of its own (closed after the call by call_with_fallback), not ChatOpenAI's
    # process-wide cached one: a cached async client is bound to the event loop it first
    # ran in, and would carry one caller's provider cookies into another caller's requests.
    # A URL the caller chose gets a client that checks every address it connects to.
    if selection.egress is not None:
        clients: dict[str, Any] = {
            "http_async_client": guarded_async_client(selection.egress, timeout_s=timeout_s),
            "http_client": refusing_sync_client(),
        }
    else:
        clients = {"http_async_client": openai.DefaultAsyncHttpxClient(timeout=timeout_s)}
    return ChatOpenAI(
        model=selection.model,
        api_key=selection.api_key,
        base_url=selection.base_url,
        timeout=timeout_s,
        max_retries=1,
        temperature=0,
        # Chat Completions is what vLLM, Ollama and other compatible servers implement.
        use_responses_api=False,
        **clients,
    )


class _NoToolCallError(ValueError):
    """The answer called no tool, or called it with arguments that are not JSON."""


def _parsed(schema: type[S], result: Any) -> S:
    """Return the parsed answer of an ``include_raw`` structured call, or raise what was wrong."""
    if result.get("parsing_error") is not None:
        raise result["parsing_error"]
    if result.get("parsed") is not None:
        return schema.model_validate(result["parsed"])
    raw = result.get("raw")
    if getattr(raw, "invalid_tool_calls", None):
        raise _NoToolCallError("the tool arguments were not valid JSON")
    raise _NoToolCallError("the answer did not call the tool")


def _problem(exc: Exception) -> str:
    """Say what was wrong with an answer, briefly and without echoing its values."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
    if isinstance(exc, _NoToolCallError):
        return str(exc)
    return "the tool arguments were not valid JSON for the schema"


async def invoke_structured(
    chat_model: BaseChatModel,
    schema: type[S],
    messages: Sequence[BaseMessage],
    *,
    attempts: int = STRUCTURED_OUTPUT_ATTEMPTS,
) -> S:
    """Ask for ``schema`` as a forced tool call; on malformed output say why and ask again.

    Tool calling (``method="function_calling"``) is the structured-output method OpenAI,
    vLLM and Ollama all serve; strict JSON-schema mode would also reject our open dicts.

    Raises:
        MalformedOutputError: every attempt was malformed.

    """
    structured = chat_model.with_structured_output(
        schema, method="function_calling", include_raw=True
    )
    prompt: list[BaseMessage] = list(messages)
    for attempt in range(1, attempts + 1):
        result = await structured.ainvoke(prompt)
        try:
            return _parsed(schema, result)
        except ValueError as exc:  # OutputParserException and ValidationError are ValueErrors
            problem = _problem(exc)
        logger.warning(
            "malformed %s from the model (attempt %d of %d): %s",
            schema.__name__,
            attempt,
            attempts,
            problem,
        )
        prompt = [
            *messages,
            HumanMessage(STRUCTURED_RETRY.format(schema=schema.__name__, problem=problem)),
        ]
    raise MalformedOutputError(
        f"the model returned a malformed {schema.__name__} {attempts} times in a row"
    )


def _safe_error(selection: LLMSelection, exc: Exception) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    status = getattr(exc, "status_code", None)
    detail = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    return ProviderCallError(f"{selection.describe()} failed: {detail}")


async def call_with_fallback(
    selection: LLMSelection,
    run: Callable[[BaseChatModel | None], Awaitable[T]],
    *,
    timeout_s: float = 60.0,
) -> tuple[T, LLMSelection]:
    """Run with the primary model; if it fails, with the fallback. Return what ran it.

    ``run`` receives None for the offline provider. Errors of the deterministic path are
    raised as they are; a model's error is replaced by one that is safe to store and show,
    since LangGraph writes a failed node's exception into the checkpoint tables.

    Raises:
        LLMError: the model (and its fallback, if any) failed.
        ProviderConfigError: the provider cannot be used as configured.

    """
    try:
        return await _run_closing(selection, run, timeout_s), selection
    except ProviderConfigError:
        raise
    except Exception as exc:
        if selection.is_offline:
            raise
        if selection.fallback is None:
            raise _safe_error(selection, exc) from exc
        logger.warning(
            "LLM %s failed (%s); falling back to %s",
            selection.describe(),
            type(exc).__name__,
            selection.fallback.describe(),
        )
    fallback = selection.fallback
    try:
        return await _run_closing(fallback, run, timeout_s), fallback
    except ProviderConfigError:
        raise
    except Exception as exc:
        if fallback.is_offline:
            raise
        raise _safe_error(fallback, exc) from exc


async def _run_closing(
    selection: LLMSelection,
    run: Callable[[BaseChatModel | None], Awaitable[T]],
    timeout_s: float,
) -> T:
    """Run with a fresh model for ``selection`` and close its HTTP connections afterwards."""
    model = make_chat_model(selection, timeout_s=timeout_s)
    try:
        return await run(model)
    finally:
        client = getattr(model, "root_async_client", None)
        if client is not None:
            await client.close()
