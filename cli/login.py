"""``stack8s login``: get a Supabase access token for the CLI to talk to a deployed server.

Signs in with email + password, or with a magic-link token from the sign-in email, through
the ``supabase`` client, and keeps the session in ``~/.stack8s/credentials.json`` (mode
0600). Nothing but the token and its expiry is written.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.settings import Settings

DEFAULT_CREDENTIALS = Path.home() / ".stack8s" / "credentials.json"


class LoginError(RuntimeError):
    """Sign-in failed; the message is safe to print."""


@dataclass(frozen=True)
class LoginResult:
    """A signed-in session: what the CLI sends as ``Authorization: Bearer``."""

    access_token: str
    refresh_token: str | None
    expires_at: int | None
    user_id: str
    email: str | None


def login(
    supabase_url: str,
    anon_key: str,
    *,
    email: str,
    password: str | None = None,
    magic_link_token: str | None = None,
) -> LoginResult:
    """Sign in to the project's Supabase Auth and return the session.

    Args:
        supabase_url: The project URL (``SUPABASE_URL``), e.g. https://abc.supabase.co.
        anon_key: The project's public anon key (``SUPABASE_ANON_KEY``).
        email: The user's email.
        password: The password, for password sign-in.
        magic_link_token: The token of a magic-link email, instead of a password.

    Raises:
        LoginError: Neither or both secrets were given, or Supabase refused the sign-in.

    """
    from supabase import ClientOptions, create_client

    if (password is None) == (magic_link_token is None):
        raise LoginError("give either a password or a magic-link token")
    client = create_client(
        supabase_url,
        anon_key,
        options=ClientOptions(auto_refresh_token=False, persist_session=False),
    )
    try:
        if password is not None:
            response: Any = client.auth.sign_in_with_password(
                {"email": email, "password": password}
            )
        else:
            response = client.auth.verify_otp(
                {"email": email, "token": magic_link_token or "", "type": "email"}
            )
    except Exception as exc:  # the auth client raises several error types; all mean "no"
        raise LoginError(f"sign-in refused ({type(exc).__name__})") from exc
    session = response.session
    if session is None or response.user is None:
        raise LoginError("sign-in returned no session")
    return LoginResult(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_at=session.expires_at,
        user_id=response.user.id,
        email=response.user.email,
    )


def save_credentials(result: LoginResult, path: Path = DEFAULT_CREDENTIALS) -> Path:
    """Write the session where only this user can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({**asdict(result), "saved_at": int(time.time())}, handle)
    return path


def load_access_token(path: Path = DEFAULT_CREDENTIALS) -> str | None:
    """Return the saved access token if it has not expired."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    expires_at = data.get("expires_at")
    if isinstance(expires_at, int) and expires_at <= time.time():
        return None
    token = data.get("access_token")
    return token if isinstance(token, str) else None


def cmd_login(settings: Settings, args: argparse.Namespace) -> int:
    """Sign in and save the session."""
    url = args.supabase_url or settings.supabase_url
    anon = args.anon_key or settings.supabase_anon_key
    if not url or not anon:
        print("stack8s login: set SUPABASE_URL and SUPABASE_ANON_KEY", file=sys.stderr)
        return 2
    password = None
    if args.magic_link_token is None:
        password = os.environ.get("STACK8S_PASSWORD") or getpass.getpass("password: ")
    try:
        result = login(
            url, anon, email=args.email, password=password, magic_link_token=args.magic_link_token
        )
    except LoginError as exc:
        print(f"stack8s login: {exc}", file=sys.stderr)
        return 1
    where = save_credentials(result, Path(args.credentials))
    print(f"signed in as {result.email or result.user_id}; token saved to {where}")
    return 0


def add_login_parser(sub: Any) -> None:
    """Add ``stack8s login`` to the CLI's subcommands."""
    parser = sub.add_parser(
        "login",
        help="sign in to Supabase and save an access token",
        description="Sign in with a password (asked for) or a magic-link token, and save the "
        "access token that eval --via-api and the Python client (client.Stack8sClient) send.",
    )
    parser.add_argument("--email", required=True, help="the account's email")
    parser.add_argument("--magic-link-token", default=None, help="token from the sign-in email")
    parser.add_argument("--supabase-url", default=None, help="default: SUPABASE_URL")
    parser.add_argument("--anon-key", default=None, help="default: SUPABASE_ANON_KEY")
    parser.add_argument(
        "--credentials", default=str(DEFAULT_CREDENTIALS), help="where the token is saved"
    )
    parser.set_defaults(handler=cmd_login)
