import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    app = create_app(Settings(database_url=pg_url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


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
