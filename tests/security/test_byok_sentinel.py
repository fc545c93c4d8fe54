"""A sentinel BYOK key used through the API leaves no trace anywhere we keep or show data.

The key is used for real: by header and from the vault, against a local OpenAI-compatible
stub that records it, both when the provider answers and when it refuses the key and echoes
it back in its error (as OpenAI's 401 does). Then the sentinel must appear in no column of
any table (text compared as text, bytea as bytes: checkpoint blobs are bytea), in no log
record (Python logging at DEBUG, uvicorn's access log, and every statement Postgres ran for
the app, ``log_statement=all``), in no SSE event, in no JSON answer and in no metric.
"""

import asyncio
import logging
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from core.db import connection_kwargs
from core.settings import Settings
from tests.stubs.openai_stub import running_stub
from tests.stubs.scenario import REQUEST, cheapest_fit, gpu, plan_args, planner
from tests.support.live_server import serve_asgi

SENTINEL = "sk-S8SENTINEL-" + uuid.uuid4().hex
VAULTED = "sk-S8VAULTED-" + uuid.uuid4().hex
TIMEOUT = httpx.Timeout(60.0)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        parts = [record.getMessage(), str(record.args), str(record.__dict__)]
        self.lines.append(" ".join([*parts, record.exc_text or ""]))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def logs():
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeHandler(capture)


@pytest.fixture(scope="module")
def echoing_provider():
    """An OpenAI-compatible endpoint that refuses every key and quotes it, as OpenAI does."""

    async def refuse(request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}. You can find your API key at ..."
        return JSONResponse({"error": {"message": message, "code": "invalid_api_key"}}, 401)

    app = Starlette(routes=[Route("/v1/chat/completions", refuse, methods=["POST"])])
    with serve_asgi(app) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def stub():
    with running_stub() as server:
        yield server


@pytest.fixture(scope="module")
def api(pg_url, ingested):
    settings = Settings(
        database_url=pg_url + "&options=" + quote("-c log_statement=all"),
        vault_master_key="byok-test-master-" + uuid.uuid4().hex,
        _env_file=None,
    )
    with serve_asgi(create_app(settings), log_level="debug") as url:
        yield url


def _tables_containing(db, needle):
    columns = db.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type"
        " from information_schema.columns c join information_schema.tables t"
        " using (table_schema, table_name)"
        " where t.table_type = 'BASE TABLE'"
        " and c.table_schema not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    hits = []
    for col in columns:
        table = f'"{col["table_schema"]}"."{col["table_name"]}"'
        column = f'"{col["column_name"]}"'
        if col["data_type"] == "bytea":
            where = f"position(convert_to(%s, 'UTF8') in {column}) > 0"
        else:
            where = f"position(%s in {column}::text) > 0"
        found = db.execute(f"select count(*) as n from {table} where {where}", (needle,))
        if found.fetchone()["n"]:
            hits.append(f"{table}.{column}")
    return hits


def _stream(api, headers, body):
    with httpx.stream(
        "POST",
        f"{api}/api/v1/chat/message",
        json=body,
        headers={**headers, "Accept": "text/event-stream"},
        timeout=TIMEOUT,
    ) as response:
        return response.status_code, response.read().decode()


def _postgres_log(db):
    if os.environ.get("TEST_DATABASE_URL"):
        return None
    return Path(db.execute("show data_directory").fetchone()["data_directory"]) / "log"


def test_sentinel_key_by_header_and_vault_then_in_no_table_log_event_answer_or_metric(
    stub, echoing_provider, api, pg_url, db, logs
):
    # ``api`` comes after the stubs: each uvicorn sets the process-wide uvicorn log levels,
    # and the API's (debug) must be the one in force.
    instance = _cheapest(pg_url)
    log = _postgres_log(db)
    offset = log.stat().st_size if log else 0
    compatible = {"X-LLM-Provider": "openai_compatible", "X-LLM-Model": "stub-model"}
    answers = []

    # 1. By header, against a provider that plans.
    stub.reset(planner(plan_args([gpu(instance)])))
    by_header = {**compatible, "X-LLM-Base-URL": stub.base_url, "X-LLM-API-Key": SENTINEL}
    answers.append(_stream(api, by_header, {"message": REQUEST}))
    answers.append(_json(api, by_header, REQUEST))
    used_by_header = [r.headers.get("authorization") for r in stub.chat_requests()]

    # 2. From the vault: stored once, then used by requests that bring no key.
    stored = httpx.put(f"{api}/api/v1/keys/openai_compatible", json={"api_key": VAULTED})
    answers.append((stored.status_code, stored.text))
    stub.reset(planner(plan_args([gpu(instance)])))
    from_vault = {**compatible, "X-LLM-Base-URL": stub.base_url}
    answers.append(_stream(api, from_vault, {"message": REQUEST}))
    used_from_vault = [r.headers.get("authorization") for r in stub.chat_requests()]
    answers.append(
        (0, httpx.get(f"{api}/api/v1/keys/openai_compatible", timeout=TIMEOUT).text)
    )

    # 3. Both keys against a provider that refuses them and echoes them in its error.
    refused = {**compatible, "X-LLM-Base-URL": echoing_provider}
    answers.append(_stream(api, {**refused, "X-LLM-API-Key": SENTINEL}, {"message": REQUEST}))
    answers.append(_json(api, {**refused, "X-LLM-API-Key": SENTINEL}, REQUEST))
    answers.append(_stream(api, refused, {"message": REQUEST}))

    chats = httpx.get(f"{api}/api/v1/chats", params={"limit": 100}, timeout=TIMEOUT).json()
    for chat in chats["items"][:10]:
        answers.append(
            (0, httpx.get(f"{api}/api/v1/chat/{chat['conversation_id']}", timeout=TIMEOUT).text)
        )
    metrics = httpx.get(f"{api}/metrics", timeout=TIMEOUT).text

    assert used_by_header and all(h == f"Bearer {SENTINEL}" for h in used_by_header)
    assert used_from_vault and all(h == f"Bearer {VAULTED}" for h in used_from_vault)
    assert any("event: plan" in text for _, text in answers), "no turn produced a plan"
    for secret in (SENTINEL, VAULTED):
        assert all(secret not in text for _, text in answers), secret
        assert secret not in metrics
        assert not [line for line in logs.lines if secret in line], secret
        assert _tables_containing(db, secret) == [], secret
    assert any("uvicorn.access" in line for line in logs.lines)
    if log is not None:
        with log.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            ran = handle.read()
        assert "chat.run_events" in ran, "the statement log did not record the app's queries"
        assert SENTINEL not in ran and VAULTED not in ran


def _json(api, headers, message):
    response = httpx.post(
        f"{api}/api/v1/chat/message", json={"message": message}, headers=headers, timeout=TIMEOUT
    )
    return response.status_code, response.text


def _cheapest(pg_url):
    async def find():
        conn = await psycopg.AsyncConnection.connect(pg_url, **connection_kwargs())
        try:
            return await cheapest_fit(conn)
        finally:
            await conn.close()

    return asyncio.run(find())
