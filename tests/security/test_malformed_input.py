"""Oversized and malformed bodies, wrong content types, invalid UTF-8, NUL: 4xx, never 500.

Every operation of the OpenAPI schema that takes a body is sent each bad body over real
HTTP; every answer must be a 4xx in the one error shape.
"""

import uuid

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

TIMEOUT = httpx.Timeout(30.0)
ERROR_KEYS = {"code", "message", "request_id"}
CAP = 64 * 1024


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    settings = Settings(
        database_url=pg_url,
        vault_master_key="malformed-test-master-key-" + uuid.uuid4().hex,
        _env_file=None,
    )
    with serve_asgi(create_app(settings), log_level="critical") as url:
        chat_id = httpx.post(f"{url}/api/v1/chat/start", timeout=TIMEOUT).json()[
            "conversation_id"
        ]
        yield url, chat_id


def _body_operations(url, chat_id):
    """Return (method, url) of every operation that takes a request body."""
    schema = httpx.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if "requestBody" in operation:
                concrete = path.replace("{conversation_id}", chat_id).replace(
                    "{provider}", "openai"
                )
                found.append((method.upper(), f"{url}{concrete}"))
    return found


def _chunks(total):
    size = 8192
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


BAD_BODIES = {
    "invalid-json": (b'{"message": ', "application/json"),
    "invalid-utf8": (b'{"message": "\xff\xfe deploy", "query": "\xc3\x28", "title": "\x80"}', None),
    "lone-surrogate": (b'{"message": "\\ud800", "query": "\\udfff", "title": "\\ud800x"}', None),
    "json-null": (b"null", None),
    "json-array": (b"[1, 2, 3]", None),
    "json-number": (b"12345678901234567890123456789", None),
    "deep-nesting": (b"[" * 50_000 + b"]" * 50_000, None),
    "text-plain": (b'{"message": "hi"}', "text/plain"),
    "xml": (b"<message>hi</message>", "application/xml"),
    "form": (b"message=hi&query=x", "application/x-www-form-urlencoded"),
    "multipart": (b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--", None),
    "empty": (b"", "application/json"),
    "oversized": (b'{"message": "' + b"x" * (CAP + 10) + b'"}', "application/json"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_bad_body_on_every_operation_then_4xx_in_the_error_shape(server, kind):
    url, chat_id = server
    content, content_type = BAD_BODIES[kind]
    headers = {"Content-Type": content_type or "application/json"}
    if kind == "multipart":
        headers["Content-Type"] = "multipart/form-data; boundary=x"

    answers = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for method, target in _body_operations(url, chat_id):
            response = client.request(method, target, content=content, headers=headers)
            answers.append((method, target, response))

    assert len(answers) >= 8
    for method, target, response in answers:
        assert 400 <= response.status_code < 500, (method, target, response.status_code)
        assert set(response.json()) == ERROR_KEYS, (method, target, response.text)
    if kind == "oversized":
        assert {r.status_code for _, _, r in answers} == {413}


def test_chunked_body_over_the_cap_without_content_length_then_413(server):
    url, chat_id = server

    answers = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for method, target in _body_operations(url, chat_id):
            # A generator body goes out chunked: no Content-Length for the middleware to read.
            response = client.request(
                method,
                target,
                content=_chunks(CAP * 4),
                headers={"Content-Type": "application/json"},
            )
            answers.append((method, target, response))

    for method, target, response in answers:
        assert response.status_code == 413, (method, target, response.status_code)
        assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/chat/message", {"message": "Deploy\x00 Llama 3.1 8B"}),
        ("POST", "/api/v1/chat/message", {"message": "hi", "conversation_id": "\x00"}),
        ("PATCH", "/api/v1/chat/{chat}", {"title": "a\x00b"}),
        ("PUT", "/api/v1/keys/openai", {"api_key": "sk-abcdef\x00gh"}),
        ("POST", "/api/v1/tools/k8s/search", {"query": "redis\x00"}),
        ("POST", "/api/v1/tools/hf/search", {"query": "chat\x00", "license_filter": ["mit\x00"]}),
        ("POST", "/api/v1/tools/sizing", {"model_id": "Llama-3.1-8B\x00"}),
    ],
    ids=["message", "conversation-id", "title", "api-key", "charts", "models", "sizing"],
)
def test_nul_character_in_a_text_field_then_422(server, method, path, body):
    url, chat_id = server

    response = httpx.request(
        method, url + path.replace("{chat}", chat_id), json=body, timeout=TIMEOUT
    )

    assert response.status_code in (404, 422), response.text
    assert set(response.json()) == ERROR_KEYS


@pytest.mark.parametrize(
    "headers",
    [
        {"X-LLM-API-Key": "\xff\xfe\xfd-not-utf8"},
        {"X-LLM-Provider": "\xe9\xe9"},
        {"X-Request-ID": "\xff" * 300},
        {"Last-Event-ID": "\xff"},
        {"Accept": "text/event-stream\xff"},
        {"Authorization": "Bearer \xff\xfe"},
    ],
    ids=["key", "provider", "request-id", "last-event-id", "accept", "authorization"],
)
def test_headers_that_are_not_utf8_then_never_500(server, headers):
    url, chat_id = server
    raw = {name: value.encode("latin-1") for name, value in headers.items()}

    response = httpx.post(
        f"{url}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": "Deploy Llama 3.1 8B for 5 users"},
        headers=raw,
        timeout=TIMEOUT,
    )

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == ERROR_KEYS
