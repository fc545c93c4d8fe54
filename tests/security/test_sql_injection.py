"""SQL injection strings in every field of every tool endpoint change nothing.

Each string field (and list of strings) of each tool endpoint's body is sent each payload
over real HTTP. Answers are 2xx or 4xx; a filter field matched against catalog values
(providers, regions, GPU model, licence, task tag, model id) finds nothing; every table's
row count and checksum are the same afterwards, and no table appeared or went. The app's
connections log every statement (``log_statement=all``), which proves the SQL is
parameterized: a payload may appear as a bound parameter, never in a statement's text.
"""

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

MARK = "S8INJ"
PAYLOADS = [
    f"{MARK}'; drop table cloud.instances; --",
    f"{MARK}' or '1'='1",
    f'{MARK}" or ""="',
    f"{MARK}%' and 1=1 --",
    f"{MARK}') union select null, version(), null --",
    f"{MARK}'||(select pg_sleep(3))||'",
    f"{MARK}$$; drop schema hf cascade; $$",
    f"{MARK}\\'; truncate hf.models; --",
    f"{MARK}x'); update cloud.instances set price_hourly = 0; --",
    f"{MARK}*/ delete from k8s.charts; /*",
]
BASE_BODIES = {
    "/api/v1/tools/compute/search": {"top_k": 3},
    "/api/v1/tools/k8s/search": {"query": "redis"},
    "/api/v1/tools/hf/search": {"query": "chat model for support"},
    "/api/v1/tools/sizing": {"model_id": "Llama-3.1-8B"},
    "/api/v1/tools/optimizer/analyze": {
        "messages": [{"role": "user", "content": "Deploy Llama 3.1 8B"}],
        "budget_tokens": 50,
    },
}
# Fields compared with catalog values: an injected value must match nothing.
FILTERS = {"providers", "regions", "gpu_model", "pipeline_tag", "license_filter", "model_id"}
SCHEMAS = ("cloud", "k8s", "hf", "chat", "auth", "public")
TIMEOUT = httpx.Timeout(30.0)
LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _with_statement_log(url):
    return url + ("&" if "?" in url else "?") + "options=" + quote("-c log_statement=all")


@pytest.fixture(scope="module")
def api(pg_url, ingested):
    settings = Settings(database_url=_with_statement_log(pg_url), _env_file=None)
    with serve_asgi(create_app(settings), log_level="critical") as url:
        yield url


def _fingerprint(db):
    relations = db.execute(
        "select n.nspname || '.' || c.relname as name from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'v', 'm', 'S', 'i') and n.nspname = any(%s)",
        (list(SCHEMAS),),
    ).fetchall()
    tables = db.execute(
        "select table_schema, table_name from information_schema.tables"
        " where table_type = 'BASE TABLE' and table_schema = any(%s)",
        (list(SCHEMAS),),
    ).fetchall()
    sums = {}
    for row in tables:
        name = f'"{row["table_schema"]}"."{row["table_name"]}"'
        found = db.execute(
            "select count(*) as n, md5(coalesce(string_agg(md5(t::text), ''"
            f" order by md5(t::text)), '')) as h from {name} t"
        ).fetchone()
        sums[name] = (found["n"], found["h"])
    return sorted(r["name"] for r in relations), sums


def _string_fields(api, path):
    schema = httpx.get(f"{api}/openapi.json", timeout=TIMEOUT).json()
    components = schema["components"]["schemas"]
    ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = {}
    for name, spec in components[ref["$ref"].split("/")[-1]]["properties"].items():
        options = spec.get("anyOf", [spec])
        if any(o.get("type") == "string" for o in options):
            fields[name] = "string"
        elif any(o.get("items", {}).get("type") == "string" for o in options):
            fields[name] = "list"
    return fields


def _bodies(api):
    for path, base in BASE_BODIES.items():
        if path.endswith("/analyze"):
            for payload in PAYLOADS:
                body = json.loads(json.dumps(base))
                body["messages"][0]["content"] = payload
                yield path, "messages.content", body
            continue
        for field, kind in _string_fields(api, path).items():
            for payload in PAYLOADS:
                yield path, field, {**base, field: [payload] if kind == "list" else payload}


def _log_file(db):
    if os.environ.get("TEST_DATABASE_URL"):
        return None
    return Path(db.execute("show data_directory").fetchone()["data_directory"]) / "log"


def _log_entries(text):
    entries, current = [], []
    for line in text.splitlines():
        if LOG_ENTRY.match(line) and current:
            entries.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        entries.append("\n".join(current))
    return entries


def test_injection_strings_in_every_tool_field_then_4xx_or_nothing_and_no_change(api, db):
    before = _fingerprint(db)
    log = _log_file(db)
    offset = log.stat().st_size if log else 0
    outcomes = []

    with httpx.Client(timeout=TIMEOUT) as client:
        for path, field, body in _bodies(api):
            started = time.monotonic()
            response = client.post(f"{api}{path}", json=body)
            outcomes.append((path, field, body, response, time.monotonic() - started))

    assert len(outcomes) >= 10 * len(PAYLOADS)
    # Free-text fields take any text: those payloads reached the database as parameters.
    assert sum(o[3].status_code == 200 for o in outcomes) >= 2 * len(PAYLOADS)
    for path, field, _, response, elapsed in outcomes:
        assert response.status_code < 500, (path, field, response.text)
        assert elapsed < 3, (path, field, "pg_sleep ran?", elapsed)
        if response.status_code < 300 and field in FILTERS:
            assert response.json().get("results", []) == [], (path, field, response.text)
    assert _fingerprint(db) == before
    if log is not None:
        with log.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            # Tools lowercase some labels before querying: look for the mark in any case.
            entries = [e for e in _log_entries(handle.read()) if MARK.lower() in e.lower()]
        bound = [e for e in entries if "DETAIL:  Parameters:" in e]
        in_sql = [e for e in entries if "LOG:  statement:" in e or "LOG:  execute" in e]
        assert len(bound) >= len(PAYLOADS), "the statement log shows no bound payloads"
        assert in_sql == [], in_sql[:3]


def test_injection_strings_in_chat_fields_then_4xx_or_a_turn_and_no_change(api, db):
    before = _fingerprint(db)[1]
    catalogs = {k: v for k, v in before.items() if k.startswith(('"cloud"', '"k8s"', '"hf"'))}
    statuses = []

    with httpx.Client(timeout=TIMEOUT) as client:
        for payload in PAYLOADS[:4]:
            chat = client.post(f"{api}/api/v1/chat/start").json()["conversation_id"]
            statuses += [
                client.post(
                    f"{api}/api/v1/chat/message",
                    json={"conversation_id": chat, "message": f"Deploy Llama 3.1 8B {payload}"},
                ).status_code,
                client.patch(f"{api}/api/v1/chat/{chat}", json={"title": payload}).status_code,
                client.get(f"{api}/api/v1/chat/{quote(payload, safe='')}").status_code,
                client.get(f"{api}/api/v1/chats", params={"limit": payload}).status_code,
            ]

    after = _fingerprint(db)[1]
    assert all(s < 500 for s in statuses), statuses
    assert {k: after[k] for k in catalogs} == catalogs
