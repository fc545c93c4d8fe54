"""Slow request bodies, over real HTTP: they cannot hold the turns of the other clients.

A client that announces a 100-byte body and sends 1 byte used to take one of the few
places of the foreground gate (api.foreground) and keep it: four of them stopped every
offline turn of the process. The body is now read before anything admits the request.
"""

import socket
import uuid

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

SLOW = httpx.Timeout(30.0)
MESSAGE = "Deploy Llama 3.1 8B for 20 users on AWS"


def _slow_client(url: str, path: str = "/api/v1/chat/message") -> socket.socket:
    """Open a request that says its body is 100 bytes and send only the first byte."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Accept: text/event-stream\r\nContent-Length: 100\r\n\r\n{"
    )
    sock.sendall(head.encode())
    return sock


def _answered(sock: socket.socket) -> bytes:
    """Return what the server sent on ``sock`` so far (b"" if nothing yet)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""


@pytest.fixture(scope="module")
def patient_api(pg_url, ingested):
    settings = Settings(database_url=pg_url, request_body_timeout_s=120.0, _env_file=None)
    with serve_asgi(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def strict_api(pg_url, ingested):
    settings = Settings(database_url=pg_url, request_body_timeout_s=1.0, _env_file=None)
    with serve_asgi(create_app(settings)) as url:
        yield url


def test_slow_bodies_on_turn_routes_then_a_normal_message_still_finishes(patient_api):
    chat_id = httpx.post(f"{patient_api}/api/v1/chat/start", timeout=SLOW).json()[
        "conversation_id"
    ]
    slow = [_slow_client(patient_api) for _ in range(4)]
    slow.append(_slow_client(patient_api, f"/api/v1/chat/{chat_id}/resume"))
    try:
        answer = httpx.post(
            f"{patient_api}/api/v1/chat/message",
            json={"message": MESSAGE},
            timeout=SLOW,  # the turn used to wait behind the slow bodies for as long as they lasted
        )
        streamed = httpx.post(
            f"{patient_api}/api/v1/chat/message",
            json={"message": MESSAGE},
            headers={"Accept": "text/event-stream"},
            timeout=SLOW,
        )
        still_waiting = [_answered(sock) == b"" for sock in slow]
    finally:
        for sock in slow:
            sock.close()

    assert answer.status_code == 200, answer.text
    assert answer.json()["response_type"] == "deployment_plan"
    assert streamed.status_code == 200 and "event: end" in streamed.text
    # The slow requests were still open, bodies incomplete, while the turns ran.
    assert all(still_waiting)


def test_body_that_does_not_arrive_in_time_then_408_in_the_error_shape(strict_api):
    rid = "slow-" + uuid.uuid4().hex[:8]
    host, port = strict_api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/v1/chat/message HTTP/1.1\r\nHost: {host}\r\nX-Request-ID: {rid}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            ).encode()
        )
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert httpx.Response(200, content=body).json() == {
        "code": "request_timeout",
        "message": "the request body did not arrive within 1 s",
        "request_id": rid,
    }


def test_whole_body_within_the_deadline_then_answered_as_usual(strict_api):
    response = httpx.post(f"{strict_api}/api/v1/chat/start", timeout=SLOW)

    assert response.status_code == 200 and response.json()["conversation_id"]
