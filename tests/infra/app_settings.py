"""The app's settings as the deployment files see them: environment variable names and values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from core.settings import Settings


def settings_env_names() -> set[str]:
    """Return the environment variable of every Settings field, read from the class now."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else field_name.upper())
    return names


def optional_env_names() -> set[str]:
    """Return the fields whose default is None: they must be absent, never empty, to stay None."""
    return {
        name.upper()
        for name, field in Settings.model_fields.items()
        if not field.is_required() and field.default is None and field.default_factory is None
    }


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Build Settings from exactly this environment (nothing from the caller's, no .env)."""
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # `_env_file` is pydantic-settings' init option; mypy without the pydantic plugin sees only
    # the fields, hence the Any.
    settings_cls: Any = Settings
    return settings_cls(_env_file=None)  # a developer's .env must not leak into the check
