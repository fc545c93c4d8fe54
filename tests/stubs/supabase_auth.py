"""A local stand-in for Supabase Auth's HTTP endpoints (no Supabase server is reachable here).

It serves what Stack8s and the ``supabase`` client call, under ``/auth/v1``:

- ``GET /.well-known/jwks.json``: the public halves of the stand-in's EC (P-256) keys.
- ``POST /token?grant_type=password``: email + password → a session (ES256 access token).
- ``POST /verify``: a magic-link / email OTP token → a session.
- ``GET /user``: the user of a bearer token, as Supabase answers ``auth.get_user`` (it
  accepts its own ES256 tokens and HS256 tokens signed with ``legacy_secret``).

``mint`` makes tokens with any claims, key, ``kid`` or algorithm, so tests can forge the bad
ones too. It runs with ``tests.support.live_server.serve_asgi``, like the Stack8s API.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.live_server import serve_asgi


class SupabaseAuthStub:
    """Supabase Auth, just enough of it: keys, password and magic-link sign-in, get_user."""

    legacy_secret = "legacy-hs256-secret-for-tests-only-0123456789"

    def __init__(self) -> None:
        self.base_url = ""
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.users: dict[str, dict[str, str]] = {}
        self.magic_links: dict[str, str] = {}
        self.jwks_fetches = 0
        self.current_kid = self.add_key()
        self.app = Starlette(
            routes=[
                Route("/auth/v1/.well-known/jwks.json", self._jwks),
                Route("/auth/v1/token", self._token, methods=["POST"]),
                Route("/auth/v1/verify", self._verify, methods=["POST"]),
                Route("/auth/v1/user", self._user),
            ]
        )

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/auth/v1"

    def add_key(self) -> str:
        """Create a signing key (a rotation); return its kid. New tokens use it."""
        kid = uuid.uuid4().hex[:16]
        self._keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.current_kid = kid
        return kid

    def private_key(self, kid: str | None = None) -> ec.EllipticCurvePrivateKey:
        return self._keys[kid or self.current_kid]

    def add_user(self, email: str, password: str) -> str:
        user_id = str(uuid.uuid4())
        self.users[email] = {"id": user_id, "password": password}
        return user_id

    def add_magic_link(self, email: str) -> str:
        token = uuid.uuid4().hex
        self.magic_links[token] = email
        return token

    def claims(self, sub: str, /, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "sub": sub,
            "aud": "authenticated",
            "iss": self.issuer,
            "iat": now,
            "exp": now + 3600,
            "role": "authenticated",
            "email": f"{sub[:8]}@example.test",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def mint(
        self,
        sub: str,
        /,
        *,
        key: Any = None,
        algorithm: str = "ES256",
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Sign a token for ``sub`` (claims overridable; a claim set to None is left out)."""
        signing_key = key if key is not None else self.private_key(kid)
        header = {"kid": kid or self.current_kid} if algorithm.startswith("ES") else {}
        header.update(headers or {})
        return jwt.encode(self.claims(sub, **claims), signing_key, algorithm, headers=header)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self._keys.items():
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return {"keys": keys}

    def _session(self, email: str) -> dict[str, Any]:
        user_id = self.users[email]["id"]
        token = self.mint(user_id, email=email)
        return {
            "access_token": token,
            "refresh_token": uuid.uuid4().hex,
            "token_type": "bearer",
            "expires_in": 3600,
            "expires_at": int(time.time()) + 3600,
            "user": self._user_body(user_id, email),
        }

    @staticmethod
    def _user_body(user_id: str, email: str | None) -> dict[str, Any]:
        return {
            "id": user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "app_metadata": {"provider": "email"},
            "user_metadata": {},
            "created_at": datetime.now(UTC).isoformat(),
        }

    @staticmethod
    def _error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"code": status, "error_code": code, "msg": message}, status)

    async def _jwks(self, request: Request) -> JSONResponse:
        self.jwks_fetches += 1
        return JSONResponse(self.jwks())

    async def _token(self, request: Request) -> JSONResponse:
        if request.query_params.get("grant_type") != "password":
            return self._error(400, "unsupported_grant_type", "unsupported grant type")
        body = await request.json()
        user = self.users.get(body.get("email", ""))
        if user is None or user["password"] != body.get("password"):
            return self._error(400, "invalid_credentials", "Invalid login credentials")
        return JSONResponse(self._session(body["email"]))

    async def _verify(self, request: Request) -> JSONResponse:
        body = await request.json()
        token = body.get("token_hash") or body.get("token")
        email = self.magic_links.pop(str(token), None)
        if email is None or email not in self.users:
            return self._error(403, "otp_expired", "Token has expired or is invalid")
        return JSONResponse(self._session(email))

    async def _user(self, request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not request.headers.get("apikey"):
            return self._error(401, "no_authorization", "missing bearer or apikey")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") == "HS256":
                key: Any = self.legacy_secret
                algorithm = "HS256"
            else:
                key, algorithm = self.private_key(header.get("kid")).public_key(), "ES256"
            claims = jwt.decode(token, key, [algorithm], audience="authenticated")
        except (jwt.PyJWTError, KeyError):
            return self._error(403, "bad_jwt", "invalid JWT")
        return JSONResponse(self._user_body(claims["sub"], claims.get("email")))


@contextmanager
def running_supabase_auth() -> Iterator[SupabaseAuthStub]:
    """Start the stand-in; yield it with ``base_url`` set (the SUPABASE_URL to configure)."""
    stub = SupabaseAuthStub()
    with serve_asgi(stub.app) as url:
        stub.base_url = url
        yield stub
