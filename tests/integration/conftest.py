"""Fixtures shared by the integration tests."""

from collections.abc import Iterator

import pytest

from api.app import create_app
from core.settings import Settings
from tests.stubs.supabase_auth import SupabaseAuthStub, running_supabase_auth
from tests.support.live_server import serve_asgi


@pytest.fixture(scope="module")
def auth_stub() -> Iterator[SupabaseAuthStub]:
    """Serve the Supabase Auth stand-in for one test module."""
    with running_supabase_auth() as auth:
        yield auth


@pytest.fixture(scope="module")
def authed_api(pg_url, ingested, auth_stub) -> Iterator[str]:
    """Serve the app with auth on against the stand-in, over real HTTP; yield its base URL."""
    settings = Settings(
        database_url=pg_url, auth_enabled=True, supabase_url=auth_stub.base_url, _env_file=None
    )
    with serve_asgi(create_app(settings)) as url:
        yield url
