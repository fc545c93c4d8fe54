"""Fixtures shared by the integration tests."""

from collections.abc import Iterator

import pytest

from tests.stubs.supabase_auth import SupabaseAuthStub, running_supabase_auth


@pytest.fixture(scope="module")
def auth_stub() -> Iterator[SupabaseAuthStub]:
    """Serve the Supabase Auth stand-in for one test module."""
    with running_supabase_auth() as auth:
        yield auth
