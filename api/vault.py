"""Users' provider keys, encrypted at rest with AES-256-GCM under a master key.

``VAULT_MASTER_KEY`` is a keyring: either one secret (version 1), or comma-separated
``VERSION:SECRET`` entries with the current key first, e.g. ``2:new-secret,1:old-secret``.
Each secret is stretched to 32 bytes with HKDF-SHA256. A row records the ``key_version``
that sealed it; rotation is: put the new key first, keep the old one after it, and every
key is re-sealed under the new version the next time it is read (or stored); once no row
has the old version (``select count(*) from chat.vaulted_keys where key_version = 1``),
drop the old entry. The ciphertext is bound to its owner and provider (associated data),
so a row copied to another user or provider does not decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from psycopg_pool import AsyncConnectionPool

from core.db import as_user, fetchone_as_user

PROVIDERS = ("openai", "openai_compatible")
_NONCE_BYTES = 12


class VaultUnavailableError(RuntimeError):
    """No master key is configured."""


class VaultCorruptError(RuntimeError):
    """A stored key could not be decrypted (wrong master key, or tampered row)."""


def _derive(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"stack8s-vault")
    return hkdf.derive(secret.encode())


def parse_keyring(value: str | None) -> dict[int, bytes]:
    """Parse ``VAULT_MASTER_KEY`` into ``{version: 32-byte key}``, current version first."""
    if not value or not value.strip():
        return {}
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if len(entries) == 1 and ":" not in entries[0]:
        return {1: _derive(entries[0])}
    ring: dict[int, bytes] = {}
    for entry in entries:
        version, sep, secret = entry.partition(":")
        if not sep or not version.strip().isdigit() or not secret:
            raise ValueError("VAULT_MASTER_KEY entries must look like VERSION:SECRET")
        ring[int(version)] = _derive(secret)
    return ring


@dataclass(frozen=True)
class VaultedKey:
    """A vaulted key's public facts."""

    provider: str
    last_four: str
    key_version: int
    updated_at: Any


class Vault:
    """Seal and open provider keys, and keep them in ``chat.vaulted_keys`` under RLS."""

    def __init__(self, master_key: str | None) -> None:
        """Load the keyring (empty when no master key is configured)."""
        self._ring = parse_keyring(master_key)

    @property
    def configured(self) -> bool:
        """Say whether a master key is set."""
        return bool(self._ring)

    @property
    def current_version(self) -> int:
        """Return the version new keys are sealed with."""
        if not self._ring:
            raise VaultUnavailableError("VAULT_MASTER_KEY is not set")
        return next(iter(self._ring))

    @staticmethod
    def _aad(user_id: str, provider: str) -> bytes:
        return f"stack8s:{user_id}:{provider}".encode()

    def seal(self, user_id: str, provider: str, api_key: str) -> tuple[bytes, int]:
        """Encrypt ``api_key`` for its owner and provider; return ``(nonce + sealed, version)``."""
        version = self.current_version
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._ring[version]).encrypt(
            nonce, api_key.encode(), self._aad(user_id, provider)
        )
        return nonce + sealed, version

    def open(self, user_id: str, provider: str, blob: bytes, version: int) -> str:
        """Decrypt a sealed key."""
        key = self._ring.get(version)
        if key is None:
            raise VaultCorruptError(f"master key version {version} is not configured")
        try:
            plain = AESGCM(key).decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], self._aad(user_id, provider)
            )
        except InvalidTag as exc:
            raise VaultCorruptError("vaulted key does not decrypt") from exc
        return plain.decode()

    async def put(
        self, pool: AsyncConnectionPool[Any], user_id: str, provider: str, api_key: str
    ) -> VaultedKey:
        """Store (or replace) the caller's key for ``provider``."""
        blob, version = self.seal(user_id, provider, api_key)
        row = await fetchone_as_user(
            pool,
            user_id,
            "insert into chat.vaulted_keys"
            " (user_id, provider, ciphertext, last_four, key_version)"
            " values (%s, %s, %s, %s, %s)"
            " on conflict (user_id, provider) do update set"
            " ciphertext = excluded.ciphertext, last_four = excluded.last_four,"
            " key_version = excluded.key_version, updated_at = now()"
            " returning provider, last_four, key_version, updated_at",
            (user_id, provider, blob, api_key[-4:], version),
        )
        assert row is not None
        return VaultedKey(**row)

    async def describe(
        self, pool: AsyncConnectionPool[Any], user_id: str, provider: str
    ) -> VaultedKey | None:
        """Return the public facts of the caller's key, or None."""
        row = await fetchone_as_user(
            pool,
            user_id,
            "select provider, last_four, key_version, updated_at"
            " from chat.vaulted_keys where user_id = %s and provider = %s",
            (user_id, provider),
        )
        return VaultedKey(**row) if row else None

    async def delete(self, pool: AsyncConnectionPool[Any], user_id: str, provider: str) -> bool:
        """Remove the caller's key; say whether there was one."""
        async with as_user(pool, user_id) as conn:
            cursor = await conn.execute(
                "delete from chat.vaulted_keys where user_id = %s and provider = %s",
                (user_id, provider),
            )
            return cursor.rowcount > 0

    async def reveal(
        self, pool: AsyncConnectionPool[Any], user_id: str, provider: str
    ) -> str | None:
        """Return the caller's plaintext key for one run, re-sealing it under the current key."""
        if not self.configured:
            return None
        async with as_user(pool, user_id) as conn:
            row = await (
                await conn.execute(
                    "select ciphertext, key_version from chat.vaulted_keys"
                    " where user_id = %s and provider = %s",
                    (user_id, provider),
                )
            ).fetchone()
            if row is None:
                return None
            plain = self.open(user_id, provider, bytes(row["ciphertext"]), row["key_version"])
            if row["key_version"] != self.current_version:
                blob, version = self.seal(user_id, provider, plain)
                await conn.execute(
                    "update chat.vaulted_keys set ciphertext = %s, key_version = %s"
                    " where user_id = %s and provider = %s",
                    (blob, version, user_id, provider),
                )
        return plain
