"""The caller's account: who they are, the auth settings the page needs, vaulted keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, Field

from api.auth import LOCAL_NOTICE
from api.deps import CurrentUser, LimitedUser, Runtime
from api.openapi import errors
from api.runtime import ChatRuntime
from api.schemas import KeyCreate, KeyPublic, UserPublic

router = APIRouter(prefix="/api/v1", tags=["account"])

Provider = Annotated[Literal["openai", "openai_compatible"], Path(description="LLM provider.")]


class AuthConfigPublic(BaseModel):
    """What a browser needs to sign in."""

    auth_enabled: bool = Field(description="False: no sign-in; every caller is the local user.")
    supabase_url: str | None = Field(description="The Supabase project URL (auth on only).")
    supabase_anon_key: str | None = Field(
        description="The project's public anon key (auth on only)."
    )


@router.get("/auth/config", response_model=AuthConfigPublic)
async def auth_config(runtime: Runtime) -> dict[str, Any]:
    """Return what a browser needs to sign in: the project URL and its public anon key."""
    settings = runtime.settings
    return {
        "auth_enabled": settings.auth_enabled,
        "supabase_url": settings.supabase_url if settings.auth_enabled else None,
        # The anon key is public by design (it ships in every Supabase web page).
        "supabase_anon_key": settings.supabase_anon_key if settings.auth_enabled else None,
    }


@router.get("/me", response_model=UserPublic, responses=errors(401))
async def me(user: CurrentUser, runtime: Runtime) -> UserPublic:
    """Say who the caller is; with auth off, carry the notice the page shows."""
    return UserPublic(
        user_id=user.id,
        email=user.email,
        auth_enabled=runtime.settings.auth_enabled,
        notice=LOCAL_NOTICE if user.local else None,
    )


def _vault_pool(runtime: ChatRuntime) -> Any:
    if not runtime.vault.configured:
        raise HTTPException(503, "the key vault is not configured (VAULT_MASTER_KEY)")
    if runtime.pool is None:
        raise HTTPException(503, "the service is starting")
    return runtime.pool


@router.put("/keys/{provider}", response_model=KeyPublic, responses=errors(400, 401, 413, 429, 503))
async def put_key(
    provider: Provider, body: KeyCreate, user: LimitedUser, runtime: Runtime
) -> KeyPublic:
    """Keep the caller's key for ``provider``, encrypted; runs without a key header use it."""
    stored = await runtime.vault.put(_vault_pool(runtime), user.id, provider, body.api_key.strip())
    return KeyPublic(
        provider=provider,
        exists=True,
        last_four=stored.last_four,
        key_version=stored.key_version,
        updated_at=stored.updated_at,
    )


@router.get("/keys/{provider}", response_model=KeyPublic, responses=errors(401, 429, 503))
async def get_key(provider: Provider, user: LimitedUser, runtime: Runtime) -> KeyPublic:
    """Say whether the caller has a key for ``provider``, showing only its last four."""
    found = await runtime.vault.describe(_vault_pool(runtime), user.id, provider)
    if found is None:
        return KeyPublic(provider=provider, exists=False)
    return KeyPublic(
        provider=provider,
        exists=True,
        last_four=found.last_four,
        key_version=found.key_version,
        updated_at=found.updated_at,
    )


@router.delete(
    "/keys/{provider}",
    status_code=204,
    response_class=Response,
    responses=errors(401, 404, 429, 503),
)
async def delete_key(provider: Provider, user: LimitedUser, runtime: Runtime) -> Response:
    """Remove the caller's key for ``provider``."""
    if not await runtime.vault.delete(_vault_pool(runtime), user.id, provider):
        raise HTTPException(404, "no key stored for this provider")
    return Response(status_code=204)
