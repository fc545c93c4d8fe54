"""The runtime context of one run: knobs, secrets and handles that must never be checkpointed.

LangGraph copies plain ``configurable`` values into checkpoint metadata, so a user's key
travels here instead; the context lives only as long as the run. LangGraph keeps the context
in the run's ``Runtime`` under the configurable key ``__pregel_runtime``, and the savers'
metadata skips every key that starts with ``__`` and keeps only str/int/float/bool values
(``get_checkpoint_metadata``, langgraph/checkpoint/base/__init__.py, line 798 in
langgraph-checkpoint 4.3.2): neither the key nor the resources reach a checkpoint
(tests/integration/test_graph_offline.py checks the stored rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import InstanceOf
from pydantic.json_schema import SkipJsonSchema

from core.resources import Resources


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

    # InstanceOf and SkipJsonSchema: Studio derives a JSON schema from this class (pydantic),
    # and a pool has none; the field is for code that runs the graph, not for Studio's form.
    resources: SkipJsonSchema[InstanceOf[Resources] | None] = field(
        default=None, repr=False, compare=False
    )
    """The pool, embedder, settings and catalog facts of whoever runs the graph (the API, the
    CLI, the eval runner); None under ``langgraph dev``, where the nodes build their own
    (``core.resources.get_resources``). Not logged (its settings hold secrets)."""
