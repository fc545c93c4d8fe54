"""Supabase token verification over real HTTP, against a local stand-in of Supabase Auth.

No Supabase server can be reached from here: tests.stubs.supabase_auth serves the JWKS,
password and magic-link sign-in and ``/user`` (for ``auth.get_user``) on a loopback port.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.app import create_app
from api.auth import AuthError, TokenVerifier
from cli.login import LoginError, load_access_token, login, save_credentials
from core.settings import Settings
from tests.support.live_server import serve_asgi

HS_SECRET = "test-hs256-project-secret-" + "x" * 20
ANON_KEY = "anon-key-for-tests"


@pytest.fixture(scope="module")
def api(pg_url, ingested, auth_stub):
    settings = Settings(
        database_url=pg_url,
        auth_enabled=True,
        supabase_url=auth_stub.base_url,
        supabase_jwt_secret=HS_SECRET,
        supabase_anon_key=ANON_KEY,
        _env_file=None,
    )
    app = create_app(settings)
    # Every unknown kid may refetch here; production waits between such refetches.
    app.state.chat.verifier.refetch_cooldown_s = 0
    with serve_asgi(app) as url:
        yield url


def _me(api, token, **headers):
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{api}/api/v1/me", headers={**auth, **headers}, timeout=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, secret: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def test_valid_es256_token_then_200_with_the_subject_as_user(api, auth_stub):
    user_id = str(uuid.uuid4())

    response = _me(api, auth_stub.mint(user_id))

    assert response.status_code == 200
    assert response.json()["user_id"] == user_id
    assert response.json()["auth_enabled"] is True and response.json()["notice"] is None


def test_valid_hs256_token_with_the_project_secret_then_200(api, auth_stub):
    user_id = str(uuid.uuid4())
    token = jwt.encode(auth_stub.claims(user_id), HS_SECRET, "HS256")

    assert _me(api, token).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "anon"},
        {"aud": None},
        {"iss": "https://evil.example/auth/v1"},
        {"exp": None},
        {"sub": None},
        {"sub": "not-a-uuid"},
    ],
    ids=["expired", "wrong-aud", "no-aud", "wrong-iss", "no-exp", "no-sub", "sub-not-uuid"],
)
def test_bad_claims_then_401(api, auth_stub, claims):
    token = auth_stub.mint(str(uuid.uuid4()), **claims)

    response = _me(api, token)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_alg_none_then_401(api, auth_stub):
    token = _forge({"alg": "none", "typ": "JWT"}, auth_stub.claims(str(uuid.uuid4())), None)

    assert _me(api, token).status_code == 401


def test_hs256_signed_with_the_public_key_then_401(api, auth_stub):
    public_pem = (
        auth_stub.private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": auth_stub.current_kid}
    token = _forge(header, auth_stub.claims(str(uuid.uuid4())), public_pem)

    assert _me(api, token).status_code == 401


def test_hs256_with_another_secret_then_401(api, auth_stub):
    claims = auth_stub.claims(str(uuid.uuid4()))
    token = jwt.encode(claims, "some-other-secret-" + "y" * 20, "HS256")

    assert _me(api, token).status_code == 401


def test_unknown_kid_then_401_after_at_most_one_jwks_fetch(api, auth_stub):
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = auth_stub.mint(str(uuid.uuid4()), key=stranger, kid="not-a-known-kid")
    before = auth_stub.jwks_fetches

    response = _me(api, token)

    assert response.status_code == 401
    assert auth_stub.jwks_fetches - before <= 1


def test_key_signed_by_another_key_under_a_known_kid_then_401(api, auth_stub):
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = auth_stub.mint(str(uuid.uuid4()), key=stranger, kid=auth_stub.current_kid)

    assert _me(api, token).status_code == 401


def test_rs256_token_naming_the_ec_kid_then_401(api, auth_stub):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = auth_stub.mint(
        str(uuid.uuid4()), key=rsa_key, algorithm="RS256", headers={"kid": auth_stub.current_kid}
    )

    assert _me(api, token).status_code == 401


def test_tampered_payload_then_401(api, auth_stub):
    token = auth_stub.mint(str(uuid.uuid4()))
    header, _, signature = token.split(".")
    forged_claims = _b64(json.dumps(auth_stub.claims(str(uuid.uuid4()))).encode())

    assert _me(api, f"{header}.{forged_claims}.{signature}").status_code == 401


@pytest.mark.parametrize("value", ["", "Bearer", "Basic abc", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_then_401(api, value):
    response = httpx.get(f"{api}/api/v1/me", headers={"Authorization": value}, timeout=10)

    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "request_id"}


def test_rotated_signing_key_then_refetched_and_accepted(api, auth_stub):
    _me(api, auth_stub.mint(str(uuid.uuid4())))  # the verifier holds the current keys
    auth_stub.add_key()
    user_id = str(uuid.uuid4())

    response = _me(api, auth_stub.mint(user_id))

    assert response.status_code == 200 and response.json()["user_id"] == user_id


def test_other_users_chat_then_404_for_read_post_rename_delete_and_rejoin(api, auth_stub):
    alice = {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}
    bob = {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}
    chat_id = httpx.post(f"{api}/api/v1/chat/start", headers=alice, timeout=10).json()[
        "conversation_id"
    ]
    base = f"{api}/api/v1/chat/{chat_id}"

    responses = [
        httpx.get(base, headers=bob, timeout=10),
        httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": "Deploy Llama 3.1 8B"},
            headers=bob,
            timeout=10,
        ),
        httpx.patch(base, json={"title": "mine now"}, headers=bob, timeout=10),
        httpx.delete(base, headers=bob, timeout=10),
        httpx.get(f"{base}/runs/{uuid.uuid4()}/stream", headers=bob, timeout=10),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    assert httpx.get(base, headers=alice, timeout=10).status_code == 200
    assert httpx.get(f"{api}/api/v1/chats", headers=bob, timeout=10).json()["items"] == []


async def test_hs256_without_secret_then_confirmed_by_get_user_and_cached(auth_stub):
    settings = Settings(
        auth_enabled=True,
        supabase_url=auth_stub.base_url,
        supabase_anon_key=ANON_KEY,
        _env_file=None,
    )
    verifier = TokenVerifier(settings)
    user_id = str(uuid.uuid4())
    good = jwt.encode(auth_stub.claims(user_id), auth_stub.legacy_secret, "HS256")
    bad = jwt.encode(auth_stub.claims(user_id), "not-the-legacy-secret-" + "z" * 20, "HS256")
    try:
        user = await verifier.verify(good)
        again = await verifier.verify(good)
        with pytest.raises(AuthError):
            await verifier.verify(bad)
    finally:
        await verifier.aclose()

    assert user.id == user_id and again == user
    assert len(verifier._confirmed) == 1


def test_cli_login_with_password_then_token_accepted_by_the_api(api, auth_stub, tmp_path):
    user_id = auth_stub.add_user("ada@example.test", "correct horse")

    result = login(auth_stub.base_url, ANON_KEY, email="ada@example.test", password="correct horse")
    path = save_credentials(result, tmp_path / "credentials.json")

    assert result.user_id == user_id
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_access_token(path) == result.access_token
    assert _me(api, result.access_token).json()["user_id"] == user_id


def test_cli_login_with_magic_link_token_then_session(auth_stub):
    user_id = auth_stub.add_user("lin@example.test", "unused")
    token = auth_stub.add_magic_link("lin@example.test")

    result = login(auth_stub.base_url, ANON_KEY, email="lin@example.test", magic_link_token=token)

    assert result.user_id == user_id and result.access_token.count(".") == 2


def test_cli_login_with_wrong_password_then_login_error(auth_stub):
    auth_stub.add_user("bo@example.test", "right")

    with pytest.raises(LoginError):
        login(auth_stub.base_url, ANON_KEY, email="bo@example.test", password="wrong")
