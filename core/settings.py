"""Every runtime setting of Stack8s, read once from the environment (and `.env`)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that ship in .env.example and docs; a production deployment must replace them.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "replace-me", "your-jwt-secret-here", "dev-secret", "secret"}
)


class Settings(BaseSettings):
    """Stack8s configuration; each field maps to the upper-case environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "staging", "production"] = "development"

    # Database: an external Postgres with pgvector, or the embedded one when unset.
    database_url: str | None = None
    stack8s_home: Path = Path(".stack8s")
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    db_pool_max_idle_s: float = 300.0
    db_pool_max_lifetime_s: float = 1800.0
    db_connect_timeout_s: float = 5.0
    # Server-side prepared statements with cached generic plans, for the statements the code
    # marks (the compute search). A transaction pooler (Supavisor on 6543, PgBouncer in
    # transaction mode) cannot keep them, so "auto" turns them on for the embedded database
    # only; set "on" for a direct connection to your own Postgres.
    db_prepared_statements: Literal["auto", "on", "off"] = "auto"

    # Embeddings: local (packaged MiniLM), http (a TEI server) or openai.
    embeddings_provider: Literal["local", "http", "openai"] = "local"
    embeddings_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    embeddings_model_path: str | None = None
    embeddings_http_url: str = "http://localhost:8081"
    embeddings_api_key: str | None = None
    embeddings_dim: int = 384
    embeddings_timeout_s: float = 10.0
    embeddings_cache_enabled: bool = True
    embeddings_cache_ttl_days: int = 30

    # Natural-language inference, used by the context optimizer to find contradictions.
    nli_provider: Literal["disabled", "http", "local"] = "disabled"
    nli_http_url: str = "http://localhost:8082"
    nli_model: str = "cross-encoder/nli-deberta-v3-base"
    nli_timeout_ms: int = 10_000

    # LLM providers for the agents.
    llm_provider: Literal["offline", "openai", "openai_compatible"] = "offline"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_fallback_provider: Literal["offline", "openai", "openai_compatible"] | None = None
    llm_timeout_s: float = 60.0
    allow_env_provider_keys: bool = False
    # A request with no key of its own: plan offline, or refuse with a clear error.
    llm_without_key: Literal["offline", "error"] = "offline"
    # Hosts a caller may point X-LLM-Base-URL at outside development (core.egress): names,
    # .domain suffixes, addresses or networks. Non-public addresses need an address entry.
    # A JSON list or comma-separated.
    llm_base_url_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Auth.
    auth_enabled: bool = False
    supabase_url: str | None = None
    supabase_anon_key: str | None = None
    supabase_jwt_secret: str | None = None
    vault_master_key: str | None = None

    # HTTP surface.
    host: str = "127.0.0.1"
    port: int = 8000
    # A request body must arrive within this many seconds (else 408), before it is admitted.
    request_body_timeout_s: float = 10.0
    # On SIGTERM, running turns have this many seconds to finish before they are interrupted.
    shutdown_grace_s: float = 20.0
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000"])
    rate_limit_enabled: bool = False
    rate_limit_per_minute: int = 60
    redis_url: str | None = None
    log_level: str = "INFO"

    @property
    def embedded_database(self) -> bool:
        """Say whether the app must start its own Postgres."""
        return not self.database_url

    @property
    def prepared_statements(self) -> bool:
        """Say whether connections may keep prepared statements (see db_prepared_statements)."""
        if self.db_prepared_statements == "auto":
            return self.embedded_database
        return self.db_prepared_statements == "on"

    @field_validator("llm_base_url_allowed_hosts", mode="before")
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("llm_base_url_allowed_hosts")
    @classmethod
    def _valid_allow_list(cls, value: list[str]) -> list[str]:
        from core.egress import EgressPolicy  # core.egress reads Settings: import late

        EgressPolicy.from_entries(value, enforced=True)
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems: list[str] = []
        if not self.auth_enabled:
            problems.append("AUTH_ENABLED must be true")
        if self.allow_env_provider_keys:
            problems.append("ALLOW_ENV_PROVIDER_KEYS must be false (users bring their own keys)")
        if not self.database_url:
            problems.append("DATABASE_URL must point at a managed Postgres with pgvector")
        if not self.supabase_url:
            problems.append("SUPABASE_URL must be set so that tokens can be verified")
        for name in ("supabase_jwt_secret", "vault_master_key"):
            value = getattr(self, name)
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                problems.append(f"{name.upper()} is a placeholder; set a real secret")
        if problems:
            raise ValueError(
                "refusing to start with ENVIRONMENT=production: " + "; ".join(problems)
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
