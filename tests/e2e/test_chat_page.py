"""The chat page in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright drives the system browser (``executable_path``); it downloads nothing. Without
Chromium or Playwright the tests skip on a developer's machine, but fail under CI=true:
CI must install ``chromium`` (apt) and the dev extras.
"""

import os
import shutil
import uuid
from pathlib import Path

import httpx
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
]
PLAN_TIMEOUT_MS = 90_000


def _unavailable(reason):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must provide it: apt-get install -y chromium)")
    pytest.skip(reason)


def _chromium():
    # Debian's /usr/bin/chromium is a wrapper script; Playwright wants the binary itself.
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def page_url(pg_url, ingested):
    app = create_app(Settings(database_url=pg_url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert errors == [], errors


def test_llama_70b_request_then_plan_with_gpu_table_and_cost_chart(page, page_url):
    page.goto(page_url)
    page.wait_for_selector("#banner:not([hidden])")

    page.fill("#input", "Deploy Llama 3.1 70B for inference")
    page.click("#send")
    gpu_table = page.wait_for_selector("[data-testid=gpu-table]", timeout=PLAN_TIMEOUT_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    gpu_table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "chat_plan.png"))
    rows = gpu_table.query_selector_all("tbody tr")
    assert 1 <= len(rows) <= 3
    headers = [th.inner_text() for th in gpu_table.query_selector_all("th")]
    assert headers[:3] == ["#", "Provider", "Instance"]
    first = [td.inner_text() for td in rows[0].query_selector_all("td")]
    assert first[0] == "1" and first[7].startswith("$")
    bars = page.query_selector_all("[data-testid=cost-chart] rect.bar")
    assert len(bars) == 3
    assert float(bars[0].get_attribute("width")) > 0
    assert "meta-llama/Llama-3.1-70B-Instruct" in page.inner_text("[data-testid=model-table]")
    assert page.query_selector_all("details.status .line.done")
    assert "Authentication is off" in page.inner_text("#banner")
    assert page.inner_text(".chat-item .open") == "Deploy Llama 3.1 70B for inference"


def test_artifact_then_collapsible_with_a_working_copy_button(page, page_url, browser_context):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page_url)
    page.goto(page_url)
    page.fill("#input", "Set up Stable Diffusion XL serving")
    page.click("#send")
    page.wait_for_selector("[data-testid=plan]", timeout=PLAN_TIMEOUT_MS)

    artifact = page.query_selector(".artifact")
    assert artifact.get_attribute("open") is None
    artifact.query_selector("summary .name").click()
    code = artifact.query_selector("pre code").inner_text()
    artifact.query_selector("button.copy").click()

    assert artifact.get_attribute("open") is not None
    assert "apiVersion" in code or "image:" in code
    page.wait_for_selector(".artifact button.copy >> text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == code


def test_vague_request_then_questions_and_reopened_chat_shows_history(page, page_url):
    page.goto(page_url)
    page.fill("#input", "I want to deploy AI")
    page.click("#send")
    page.wait_for_selector(".msg.assistant .markdown ol", timeout=PLAN_TIMEOUT_MS)
    page.wait_for_selector("#send:not([disabled])")
    page.fill("#input", "A Llama 3.1 8B chatbot for 20 users on AWS")
    page.click("#send")
    page.wait_for_selector("[data-testid=gpu-table]", timeout=PLAN_TIMEOUT_MS)

    page.goto(page_url)
    page.click(".chat-item .open >> text=I want to deploy AI")
    page.wait_for_selector("[data-testid=gpu-table]", timeout=PLAN_TIMEOUT_MS)

    assert len(page.query_selector_all(".msg.user")) == 2
    assert "A few questions" in page.inner_text(".msg.assistant >> nth=0")
    providers = page.query_selector_all("[data-testid=gpu-table] tbody tr td:nth-child(2)")
    assert providers and {p.inner_text() for p in providers} == {"aws"}


def _cutting_proxy(upstream, cut_after_events):
    """Proxy to ``upstream``; end the first streamed message response after a few events."""
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    cuts = {"left": 1}

    async def handle(request):
        client = httpx.AsyncClient(base_url=upstream, timeout=None)
        skip = {"host", "content-length", "connection"}
        upstream_request = client.build_request(
            request.method,
            request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            headers={k: v for k, v in request.headers.items() if k.lower() not in skip},
            content=await request.body(),
        )
        response = await client.send(upstream_request, stream=True)
        cut = (
            request.url.path == "/api/v1/chat/message"
            and response.headers.get("content-type", "").startswith("text/event-stream")
            and cuts["left"] > 0
        )
        if cut:
            cuts["left"] -= 1

        async def body():
            seen = 0
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
                    seen += chunk.count(b"\r\n\r\n")
                    if cut and seen >= cut_after_events:
                        return  # the connection ends here, mid-run
            finally:
                await response.aclose()
                await client.aclose()

        drop = {"content-length", "transfer-encoding", "connection"}
        headers = {k: v for k, v in response.headers.items() if k.lower() not in drop}
        return StreamingResponse(body(), status_code=response.status_code, headers=headers)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])


def test_connection_lost_mid_run_then_page_rejoins_and_shows_the_plan_once(page, page_url, db):
    marker = f"Deploy Llama 3.1 70B for inference ({uuid.uuid4().hex[:6]})"
    with serve_asgi(_cutting_proxy(page_url, cut_after_events=3)) as proxy:
        page.goto(proxy)
        # Holding a catalog table stalls the run, so the page rejoins while it is running.
        with db.transaction():
            db.execute("lock table cloud.instances in access exclusive mode")
            page.fill("#input", marker)
            page.click("#send")
            page.wait_for_selector("details.status .line >> text=Connection lost", timeout=20_000)
            run = db.execute(
                "select r.status from chat.runs r join chat.threads t on t.id = r.thread_id"
                " where t.title = %s",
                (marker,),
            ).fetchone()
            assert run["status"] == "running"
        page.wait_for_selector("[data-testid=gpu-table]", timeout=PLAN_TIMEOUT_MS)
        page.screenshot(path=str(ARTIFACTS / "chat_rejoined.png"))

    assert len(page.query_selector_all("[data-testid=plan]")) == 1
    done = [line.text_content() for line in page.query_selector_all("details.status .line.done")]
    assert done.count("Reading the requirements") == 1
    assert done.count("Writing the plan") == 1
