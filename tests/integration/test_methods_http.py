"""A wrong method on an API path is a 405 naming the right ones, over real HTTP.

The chat page's files are mounted at "/", which used to answer an API path asked the wrong
way: GET on a POST-only route was a static-file 404, OPTIONS a 405 allowing GET and HEAD.
"""

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(pg_url):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/tools/compute/search", "POST"),
        ("GET", "/api/v1/chat/start", "POST"),
        ("PATCH", "/api/v1/chat/message", "POST"),
        ("OPTIONS", "/api/v1/tools/sizing", "POST"),
        ("PUT", "/api/v1/chats", "GET"),
        ("POST", "/health", "GET"),
        ("DELETE", "/api/v1/chat/abc/runs/def/stream", "GET"),
    ],
)
def test_wrong_method_on_api_path_then_405_with_allow(server, method, path, allow):
    response = httpx.request(method, f"{server}{path}", timeout=10)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert set(response.json()) == {"code", "message", "request_id"}
    assert response.json()["code"] == "method_not_allowed"


def test_unknown_path_then_404_and_page_still_served(server):
    assert httpx.get(f"{server}/api/v1/nothing-here", timeout=10).status_code == 404
    assert httpx.get(f"{server}/", timeout=10).headers["content-type"].startswith("text/html")
