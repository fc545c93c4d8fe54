"""Supabase access tokens, verified locally: JWKS (ES256/RS256) or the legacy HS256 secret.

The algorithm is pinned by the key, never read from the token: a JWKS key of type EC
verifies ES256 only, RSA verifies RS256 only, and the project secret verifies HS256 only.
Every token must carry ``exp`` and ``sub``, ``aud == "authenticated"`` and the project's
issuer (``SUPABASE_URL/auth/v1``). Legacy HS256 projects that did not configure the
secret may confirm a token with Supabase's ``auth.get_user`` instead (cached briefly).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from core.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_USER_ID = "00000000-0000-4000-8000-000000000001"
LOCAL_NOTICE = (
    "Authentication is off (AUTH_ENABLED=false): every visitor is the one local user. "
    "Do not expose this server."
)
AUDIENCE = "authenticated"
_LEEWAY_S = 10
_ALGORITHM_BY_KTY = {"EC": "ES256", "RSA": "RS256"}


class AuthError(Exception):
    """The token is missing, malformed, expired, or not ours; the client gets a plain 401."""


@dataclass(frozen=True)
class User:
    """The caller: a Supabase user id (``sub``), or the local user when auth is off."""

    id: str
    email: str | None = None
    local: bool = False


LOCAL_USER = User(LOCAL_USER_ID, "local@stack8s", local=True)


def _user_from_claims(claims: dict[str, Any]) -> User:
    try:
        user_id = str(uuid.UUID(str(claims["sub"])))
    except (KeyError, ValueError) as exc:
        raise AuthError("the token's subject is not a user id") from exc
    email = claims.get("email")
    return User(user_id, email if isinstance(email, str) else None)


class TokenVerifier:
    """Verify Supabase access tokens against the project's keys."""

    refetch_cooldown_s: float = 10.0
    """Least time between two JWKS fetches caused by an unknown ``kid`` (no fetch storms)."""

    jwks_ttl_s: float = 600.0
    """How long fetched keys are trusted before a routine refresh."""

    get_user_ttl_s: float = 60.0
    """How long a token confirmed by ``auth.get_user`` stays confirmed."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        """Read the project's URL, secret and anon key from the settings."""
        base = (settings.supabase_url or "").rstrip("/")
        self.issuer = f"{base}/auth/v1" if base else None
        self.jwks_url = f"{base}/auth/v1/.well-known/jwks.json" if base else None
        self._secret = settings.supabase_jwt_secret or None
        self._anon_key = settings.supabase_anon_key
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._keys: dict[str, tuple[str, Any]] = {}
        self._fetched_at: float | None = None
        self._last_refetch = 0.0
        self._lock = asyncio.Lock()
        self._confirmed: dict[str, tuple[float, User]] = {}

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _fetch_jwks(self) -> None:
        if not self.jwks_url:
            return
        try:
            response = await self._http.get(self.jwks_url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("could not fetch the JWKS: %s", type(exc).__name__)
            return
        keys: dict[str, tuple[str, Any]] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            algorithm = _ALGORITHM_BY_KTY.get(str(jwk.get("kty")))
            if algorithm is None or not jwk.get("kid"):
                continue
            if algorithm == "ES256" and jwk.get("crv") != "P-256":
                continue
            try:
                keys[str(jwk["kid"])] = (algorithm, jwt.PyJWK(jwk, algorithm).key)
            except jwt.PyJWKError:
                logger.warning("ignoring an unusable JWKS key")
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> tuple[str, Any] | None:
        now = time.monotonic()
        async with self._lock:
            stale = self._fetched_at is None or now - self._fetched_at > self.jwks_ttl_s
            if stale:
                await self._fetch_jwks()
            elif kid not in self._keys and now - self._last_refetch >= self.refetch_cooldown_s:
                # An unknown kid may be a freshly rotated key: refetch once, then give up.
                self._last_refetch = now
                await self._fetch_jwks()
            return self._keys.get(kid)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                issuer=self.issuer,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from exc
        return claims

    async def verify(self, token: str) -> User:
        """Return the token's user.

        Raises:
            AuthError: The token does not verify.

        """
        if not self.issuer:
            raise AuthError("SUPABASE_URL is not configured")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        # The header only says which key to look up; the key decides the algorithm.
        kid = header.get("kid")
        if header.get("alg") == "HS256":
            if self._secret:
                return _user_from_claims(self._decode(token, self._secret, "HS256"))
            if self._anon_key:
                return await self._confirm_with_supabase(token)
            raise AuthError("HS256 tokens are not accepted by this server")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token names no key")
        found = await self._key_for(kid)
        if found is None:
            raise AuthError("unknown signing key")
        algorithm, key = found
        return _user_from_claims(self._decode(token, key, algorithm))

    async def _confirm_with_supabase(self, token: str) -> User:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._confirmed.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        from supabase_auth import AsyncGoTrueClient  # the auth half of the supabase client

        assert self.issuer is not None and self._anon_key is not None
        client = AsyncGoTrueClient(
            url=self.issuer,
            headers={"apikey": self._anon_key, "Authorization": f"Bearer {self._anon_key}"},
            auto_refresh_token=False,
            persist_session=False,
            http_client=self._http,
        )
        try:
            response = await client.get_user(token)
        except Exception as exc:  # supabase_auth raises several error types; all mean "no"
            raise AuthError(f"token not confirmed ({type(exc).__name__})") from exc
        if response is None or response.user is None:
            raise AuthError("token not confirmed")
        if response.user.aud != AUDIENCE:
            raise AuthError("token is not for authenticated users")
        user = _user_from_claims({"sub": response.user.id, "email": response.user.email})
        if len(self._confirmed) > 10_000:
            self._confirmed.clear()
        self._confirmed[digest] = (now + self.get_user_ttl_s, user)
        return user
