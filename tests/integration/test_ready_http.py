import socket
import threading
import time

import httpx
import pytest
import uvicorn

from api.app import create_app
from core.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    port = _free_port()
    app = create_app(Settings(database_url=pg_url, _env_file=None))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_ready_over_http_then_every_catalog_count_positive_and_pgvector_version(server):
    response = httpx.get(f"{server}/ready", timeout=10)

    body = response.json()
    assert response.status_code == 200
    assert body["database"]["ok"] is True
    assert body["database"]["pgvector_version"].count(".") == 2
    assert set(body["catalogs"]) == {"instances", "gpus", "charts", "models", "chunks"}
    assert all(count > 0 for count in body["catalogs"].values())
    assert body["embedder"]["model"].endswith("all-MiniLM-L6-v2")


def test_health_over_http_then_ok_with_request_id(server):
    response = httpx.get(f"{server}/health", headers={"X-Request-ID": "abc123"}, timeout=10)

    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "abc123"


def test_unknown_api_path_then_404_in_the_error_shape(server):
    response = httpx.get(f"{server}/api/v1/nope", timeout=10)

    body = response.json()
    assert response.status_code == 404
    assert set(body) == {"code", "message", "request_id"} and body["code"] == "not_found"
