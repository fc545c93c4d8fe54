"""The runtime context of one run: knobs and secrets that must never be checkpointed.

LangGraph copies plain ``configurable`` values into checkpoint metadata, so a user's key
travels here instead; the context lives only as long as the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Context:
    """Per-run settings; every field is optional and falls back to the server's settings."""

    llm_provider: str | None = None
    """offline | openai | openai_compatible; None uses LLM_PROVIDER."""

    llm_model: str | None = None
    """Model name for the provider; None uses LLM_MODEL."""

    llm_base_url: str | None = None
    """OpenAI-compatible endpoint (vLLM, Ollama /v1); None uses LLM_BASE_URL."""

    llm_api_key: str | None = field(default=None, repr=False)
    """The caller's own key for this run only (BYOK). Never stored, never logged."""

    vaulted_api_key: str | None = field(default=None, repr=False)
    """The caller's key decrypted from the vault for this run only."""

    request_id: str | None = None
    """Correlates logs and events of the request that started the run."""

    max_tool_steps: int = 6
    """Upper bound on architect ⇄ tools rounds when a model calls tools."""

    optimizer_budget_tokens: int = 1500
    """Token budget the context optimizer compresses the conversation to."""
