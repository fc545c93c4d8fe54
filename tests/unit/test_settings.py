import pytest
from pydantic import ValidationError

from core.settings import Settings

SAFE_PRODUCTION = {
    "environment": "production",
    "auth_enabled": True,
    "allow_env_provider_keys": False,
    "database_url": "postgresql://app@db.example/stack8s",
    "supabase_url": "https://abc.supabase.co",
    "supabase_jwt_secret": "a-real-secret-with-enough-entropy-0123456789",
}


def test_settings_when_production_is_configured_safely_then_accepted():
    settings = Settings(**SAFE_PRODUCTION)

    assert settings.environment == "production" and not settings.embedded_database


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"auth_enabled": False}, "AUTH_ENABLED must be true"),
        ({"allow_env_provider_keys": True}, "ALLOW_ENV_PROVIDER_KEYS must be false"),
        ({"supabase_jwt_secret": "your-jwt-secret-here"}, "SUPABASE_JWT_SECRET is a placeholder"),
        ({"database_url": None}, "DATABASE_URL must point"),
    ],
)
def test_settings_when_production_is_unsafe_then_refused_with_reason(override, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**{**SAFE_PRODUCTION, **override})


def test_settings_in_development_then_embedded_database_and_no_auth_by_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AUTH_ENABLED", raising=False)

    settings = Settings(_env_file=None)

    assert settings.embedded_database and not settings.auth_enabled


@pytest.mark.parametrize(
    ("mode", "database_url", "expected"),
    [
        ("auto", None, True),  # the embedded Postgres: no pooler in between
        ("auto", "postgresql://app@pooler.example:6543/stack8s", False),
        ("on", "postgresql://app@db.example:5432/stack8s", True),
        ("off", None, False),
    ],
)
def test_prepared_statements_then_on_only_where_no_transaction_pooler_can_sit(
    mode, database_url, expected
):
    settings = Settings(_env_file=None, db_prepared_statements=mode, database_url=database_url)

    assert settings.prepared_statements is expected


def test_prepared_statements_when_unknown_mode_then_refused_naming_the_setting():
    with pytest.raises(ValidationError, match="db_prepared_statements"):
        Settings(_env_file=None, db_prepared_statements="sometimes")
