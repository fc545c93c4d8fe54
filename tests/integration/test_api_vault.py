"""BYOK keys over real HTTP: header keys are never logged or stored; vaulted keys are sealed
at rest, shown only by their last four characters, and used when a request brings none."""

import asyncio
import logging
import uuid

import httpx
import pytest

from agents.llm import chat_model_override
from api.app import create_app
from api.vault import Vault, VaultCorruptError
from core.db import create_pool
from core.settings import Settings
from tests.support.live_server import serve_asgi

MASTER = "2:current-master-secret,1:previous-master-secret"
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def server(pg_url, ingested, auth_stub):
    settings = Settings(
        database_url=pg_url,
        auth_enabled=True,
        supabase_url=auth_stub.base_url,
        vault_master_key=MASTER,
        _env_file=None,
    )
    app = create_app(settings)
    # log_level info: uvicorn's access log is on, so the test sees what it would print.
    with serve_asgi(app, log_level="info") as url:
        yield url, app


@pytest.fixture
def api(server):
    return server[0]


@pytest.fixture
def user(auth_stub):
    return {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def text(self):
        parts = []
        for r in self.records:
            parts += [r.getMessage(), str(r.args), r.exc_text or "", str(r.__dict__)]
        return "\n".join(parts)


@pytest.fixture
def captured_logs():
    capture = _Capture()
    loggers = [logging.getLogger(name) for name in (None, "uvicorn", "uvicorn.access")]
    root_level = loggers[0].level
    loggers[0].setLevel(logging.DEBUG)
    for logger in loggers:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
        loggers[0].setLevel(root_level)


def _chat(api, headers):
    return httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=10).json()[
        "conversation_id"
    ]


def _tables_containing(db, needle):
    tables = db.execute(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema not in ('pg_catalog', 'information_schema')"
        " and table_type = 'BASE TABLE'"
    ).fetchall()
    hits = []
    for row in tables:
        found = db.execute(
            f'select count(*) as n from "{row["table_schema"]}"."{row["table_name"]}" t'
            " where position(%s in t::text) > 0",
            (needle,),
        ).fetchone()
        if found["n"]:
            hits.append(f"{row['table_schema']}.{row['table_name']}")
    return hits


def test_byok_header_key_then_never_logged_nor_stored(api, user, db, captured_logs):
    sentinel = "sk-BYOK-SENTINEL-" + uuid.uuid4().hex
    headers = {**user, "X-LLM-API-Key": sentinel, "X-LLM-Provider": "offline"}
    chat_id = _chat(api, headers)
    body = {"conversation_id": chat_id, "message": "Deploy Llama 3.1 8B for 5 users"}

    plain = httpx.post(f"{api}/api/v1/chat/message", json=body, headers=headers, timeout=TIMEOUT)
    with httpx.stream(
        "POST",
        f"{api}/api/v1/chat/message",
        json={**body, "message": "make it 10 users"},
        headers={**headers, "Accept": "text/event-stream"},
        timeout=TIMEOUT,
    ) as streamed:
        streamed_text = streamed.read().decode()

    assert plain.status_code == 200 and plain.json()["response_type"] == "deployment_plan"
    assert "event: end" in streamed_text and sentinel not in streamed_text + plain.text
    assert any(r.name == "uvicorn.access" for r in captured_logs.records)
    assert sentinel not in captured_logs.text()
    assert _tables_containing(db, sentinel) == []


def test_put_key_then_get_shows_only_last_four_and_ciphertext_hides_it(api, user, db):
    secret = "sk-vault-" + uuid.uuid4().hex

    put = httpx.put(f"{api}/api/v1/keys/openai", json={"api_key": secret}, headers=user, timeout=10)
    shown = httpx.get(f"{api}/api/v1/keys/openai", headers=user, timeout=10)

    assert put.status_code == 200 and shown.status_code == 200
    assert shown.json()["exists"] is True and shown.json()["last_four"] == secret[-4:]
    assert secret not in shown.text and secret not in put.text
    row = db.execute(
        "select ciphertext, key_version, t::text as everything from chat.vaulted_keys t"
        " where last_four = %s and key_version = 2",
        (secret[-4:],),
    ).fetchone()
    assert secret.encode() not in bytes(row["ciphertext"])
    assert secret not in row["everything"]
    assert _tables_containing(db, secret) == []


def test_other_users_key_then_invisible_and_not_deletable(api, user, auth_stub):
    other = {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}
    httpx.put(f"{api}/api/v1/keys/openai", json={"api_key": "sk-mine-12345"}, headers=user)

    seen = httpx.get(f"{api}/api/v1/keys/openai", headers=other, timeout=10)
    deleted = httpx.delete(f"{api}/api/v1/keys/openai", headers=other, timeout=10)

    assert seen.json() == {
        "provider": "openai",
        "exists": False,
        "last_four": None,
        "key_version": None,
        "updated_at": None,
    }
    assert deleted.status_code == 404
    assert httpx.get(f"{api}/api/v1/keys/openai", headers=user).json()["exists"] is True


def test_delete_key_then_gone(api, user):
    httpx.put(f"{api}/api/v1/keys/openai", json={"api_key": "sk-delete-me-1"}, headers=user)

    first = httpx.delete(f"{api}/api/v1/keys/openai", headers=user, timeout=10)
    second = httpx.delete(f"{api}/api/v1/keys/openai", headers=user, timeout=10)

    assert (first.status_code, second.status_code) == (204, 404)
    assert httpx.get(f"{api}/api/v1/keys/openai", headers=user).json()["exists"] is False


def _selection_seen(api, headers, chat_id):
    """Send one message with a recording chat-model factory; return the selections it saw."""
    seen = []

    def factory(selection):
        seen.append(selection)
        raise RuntimeError("no model in this test")

    with chat_model_override(factory):
        httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": "Deploy Llama 3.1 8B for 5 users"},
            headers=headers,
            timeout=TIMEOUT,
        )
    return seen


def test_request_without_key_header_then_the_vaulted_key_is_used(api, user):
    vaulted = "sk-compat-" + uuid.uuid4().hex
    httpx.put(f"{api}/api/v1/keys/openai_compatible", json={"api_key": vaulted}, headers=user)
    provider = {"X-LLM-Provider": "openai_compatible", "X-LLM-Base-URL": "http://127.0.0.1:9/v1"}

    from_vault = _selection_seen(api, {**user, **provider}, _chat(api, user))
    from_header = _selection_seen(
        api, {**user, **provider, "X-LLM-API-Key": "sk-header-key-1"}, _chat(api, user)
    )

    assert from_vault and from_vault[0].key_source == "vault"
    assert from_vault[0].api_key.get_secret_value() == vaulted
    assert from_header and from_header[0].key_source == "request"
    assert from_header[0].api_key.get_secret_value() == "sk-header-key-1"


@pytest.mark.parametrize(
    "headers",
    [{"X-LLM-Provider": "bogus"}, {"X-LLM-Base-URL": "ftp://example.test"}],
    ids=["provider", "base-url"],
)
def test_bad_llm_headers_then_422(api, user, headers):
    response = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"message": "Deploy Llama 3.1 8B"},
        headers={**user, **headers},
        timeout=10,
    )

    assert response.status_code == 422 and response.json()["code"] == "invalid_request"


def test_unknown_provider_path_then_422(api, user):
    response = httpx.put(f"{api}/api/v1/keys/bogus", json={"api_key": "sk-12345678"}, headers=user)

    assert response.status_code == 422


def test_vault_without_master_key_then_503(server, user):
    api, app = server
    configured, app.state.chat.vault = app.state.chat.vault, Vault(None)
    try:
        response = httpx.get(f"{api}/api/v1/keys/openai", headers=user, timeout=10)
    finally:
        app.state.chat.vault = configured

    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"


def test_master_key_rotation_then_old_rows_resealed_on_read(pg_url, db):
    user_id, secret = str(uuid.uuid4()), "sk-rotate-" + uuid.uuid4().hex

    async def scenario():
        pool = create_pool(pg_url, Settings(_env_file=None))
        await pool.open()
        try:
            await Vault("1:old-secret").put(pool, user_id, "openai", secret)
            rotated = await Vault("2:new-secret,1:old-secret").reveal(pool, user_id, "openai")
            after = await Vault("2:new-secret").reveal(pool, user_id, "openai")
            with pytest.raises(VaultCorruptError):
                await Vault("1:old-secret").reveal(pool, user_id, "openai")
            return rotated, after
        finally:
            await pool.close()

    rotated, after = asyncio.run(scenario())

    assert rotated == after == secret
    row = db.execute("select key_version from chat.vaulted_keys where user_id = %s", (user_id,))
    assert row.fetchone()["key_version"] == 2


def test_ciphertext_moved_to_another_provider_then_does_not_decrypt():
    vault = Vault("one-secret")
    blob, version = vault.seal("u1", "openai", "sk-abcdefgh")

    with pytest.raises(VaultCorruptError):
        vault.open("u1", "openai_compatible", blob, version)
    with pytest.raises(VaultCorruptError):
        vault.open("u2", "openai", blob, version)
    assert vault.open("u1", "openai", blob, version) == "sk-abcdefgh"
