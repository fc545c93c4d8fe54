"""The API docs in a real browser with the network blocked: Swagger UI from packaged files.

Chromium resolves no name and Playwright aborts every request that is not for the local
server, so a page that still reached for a CDN would stay blank and the blocked request
would be listed. Debian's Chromium, headless, as in ``test_chat_page``; a screenshot of the
rendered page goes to ``tests/e2e/artifacts/docs_offline.png``.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name resolves: anything but the loopback server is unreachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _unavailable(reason):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must provide it: apt-get install -y chromium)")
    pytest.skip(reason)


def _chromium():
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def docs_url(pg_url):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


@pytest.fixture
def offline_page(docs_url, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found")
    local = urlsplit(docs_url).netloc
    blocked = []

    def only_local(route):
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            context.route("**/*", only_local)
            yield context.new_page(), blocked
        finally:
            context.close()


def test_docs_with_network_blocked_then_swagger_ui_lists_the_operations(offline_page, docs_url):
    page, blocked = offline_page

    page.goto(f"{docs_url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs_offline.png"), full_page=False)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/chat/message" in p for p in paths)
    assert any("/api/v1/tools/compute/search" in p for p in paths)
    assert page.locator(".info .title").first.inner_text().startswith("Stack8s")
    assert blocked == []


def test_redoc_with_network_blocked_then_it_renders_the_api(offline_page, docs_url):
    page, blocked = offline_page

    page.goto(f"{docs_url}/redoc")
    page.get_by_text("/api/v1/chat/message").first.wait_for(timeout=30_000)

    assert page.locator("h1").first.inner_text().startswith("Stack8s")
    # ReDoc's "API docs by Redocly" footer links its logo from a CDN; only that decorative
    # image may be missing. Everything the page needs (scripts, styles, the schema) is local.
    assert all(kind == "image" for kind, _ in blocked), blocked
