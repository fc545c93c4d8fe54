"""The chat page in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright drives the system browser (``executable_path``); it downloads nothing. Without
Chromium or Playwright the tests skip on a developer's machine, but fail under CI=true:
CI must install ``chromium`` (apt) and the dev extras.
"""

import os
import shutil
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from evals.table_checks import markdown_table
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
    first = dict(zip(headers, [td.inner_text() for td in rows[0].query_selector_all("td")],
                     strict=True))
    assert first["#"] == "1" and first["$/hour each"].startswith("$")
    assert first["Weights"] and first["KV cache"] and " × " in first["TP × replicas"]
    bars = page.query_selector_all("[data-testid=cost-chart] rect.bar")
    assert len(bars) == 3
    assert float(bars[0].get_attribute("width")) > 0
    assert "meta-llama/Llama-3.1-70B-Instruct" in page.inner_text("[data-testid=model-table]")
    assert page.query_selector_all("details.status .line.done")
    assert "Authentication is off" in page.inner_text("#banner")
    assert page.inner_text(".chat-item .open") == "Deploy Llama 3.1 70B for inference"


def test_fine_tune_request_then_the_table_and_the_cost_show_the_run_not_a_month(page, page_url):
    page.goto(page_url)
    page.wait_for_selector("#banner:not([hidden])")

    page.fill("#input", "fine-tune llama 3.1 8b with lora on about 20k support chats, aws")
    page.click("#send")
    gpu_table = page.wait_for_selector("[data-testid=gpu-table]", timeout=PLAN_TIMEOUT_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    gpu_table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "chat_training_plan.png"))
    headers = [th.inner_text() for th in gpu_table.query_selector_all("th")]
    assert headers[-2:] == ["Run time", "Run cost"] and "$/month, all" not in headers
    first = [td.inner_text() for td in gpu_table.query_selector_all("tbody tr")[0]
             .query_selector_all("td")]
    assert first[4].startswith("1×") and first[-1].startswith("$")
    plan = page.inner_text("[data-testid=plan]")
    assert "Job cost (one-off, per run)" in plan and "Monthly cost" not in plan
    chart = page.query_selector("[data-testid=cost-chart]")
    assert chart is not None and "for the run, paid once" in chart.text_content()
    assert "concurrent users" not in plan


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


# The WCAG 2 contrast ratio of an element's text over the first opaque background behind it,
# computed in the page from getComputedStyle (alpha in the text colour is blended first).
CONTRAST_JS = """
(selector) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const background = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const luminance = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const out = [];
  for (const node of document.querySelectorAll(selector)) {
    if (!node.textContent.trim()) continue;
    const bg = background(node);
    const fg = parse(getComputedStyle(node).color);
    const mixed = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
    const [hi, lo] = [luminance(mixed), luminance(bg)].sort((x, y) => y - x);
    out.push({ text: node.textContent.slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05) });
  }
  return out;
}
"""


def _plan_in_page(page, page_url, text):
    page.goto(page_url)
    page.fill("#input", text)
    page.click("#send")
    page.wait_for_selector("[data-testid=plan]", timeout=PLAN_TIMEOUT_MS)
    page.wait_for_selector("#send:not([disabled])")


def _cells(rows, columns):
    return [tuple(row[c] for c in columns) for row in rows]


def test_plan_tables_then_the_page_says_what_the_markdown_says(page, page_url):
    text = ("we want to put llama 3.1 8b behind an internal chat tool, maybe 30 people using "
            "it at once, gcp, ideally under 2k a month")
    _plan_in_page(page, page_url, text)
    chats = httpx.get(f"{page_url}/api/v1/chats").json()["items"]
    # Newest first; the title is the first message, shortened.
    chat_id = next(c["conversation_id"] for c in chats if text.startswith(c["title"][:40]))
    answer = httpx.get(f"{page_url}/api/v1/chat/{chat_id}").json()["messages"][-1]["content"]

    def shown(testid):
        table = page.query_selector(f"[data-testid={testid}]")
        headers = [th.inner_text() for th in table.query_selector_all("th")]
        return [dict(zip(headers, [td.inner_text() for td in row.query_selector_all("td")],
                         strict=True)) for row in table.query_selector_all("tbody tr")]

    gpus, models = shown("gpu-table"), shown("model-table")
    written = markdown_table(answer, "GPU instances")
    assert _cells(gpus, ["Instance", "Weights", "KV cache", "TP × replicas"]) == _cells(
        written, ["instance", "weights", "kv cache", "tp × replicas"])
    assert any("AWQ-INT4" in row["Weights"] for row in gpus)  # the T4 option's int4 build
    written = markdown_table(answer, "Models")
    assert _cells(models, ["Model", "On this plan's GPUs"]) == _cells(
        written, ["model", "on this plan's gpus"])
    assert models[0]["On this plan's GPUs"].startswith("planned:")


def test_artifacts_then_their_text_contrast_is_at_least_4_5(page, page_url):
    _plan_in_page(page, page_url, "Serve Llama 3.1 8B for 20 users on AWS")
    for summary in page.query_selector_all(".artifact summary .name"):
        summary.click()

    ratios = page.evaluate(
        CONTRAST_JS, ".artifact pre code, .artifact pre code span, .artifact summary span"
    )

    assert len(ratios) > 10
    worst = min(ratios, key=lambda r: r["ratio"])
    assert worst["ratio"] >= 4.5, worst
    assert page.query_selector_all(".artifact pre code .tok-key")  # YAML keys are coloured


def test_download_then_a_zip_of_every_format(page, page_url, tmp_path):
    _plan_in_page(page, page_url, "Serve Llama 3.1 8B for 20 users on AWS")
    shown = page.text_content(".artifact >> nth=0 >> pre code")

    with page.expect_download() as download:
        page.click("[data-testid=download]")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)

    assert path.suffix == ".zip"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        workload = archive.read("kustomize/workload.yaml").decode()
    assert {
        "README.md",
        "helm/Chart.yaml",
        "helm/templates/workload.yaml",
        "kustomize/kustomization.yaml",
        "compose/compose.yaml",
        "skypilot/skypilot.yaml",
    } <= names
    assert workload.strip() == shown.strip()


def test_phone_width_then_tables_scroll_in_their_box_not_the_page(browser_context, page_url):
    phone = browser_context.new_page()
    try:
        phone.set_viewport_size({"width": 390, "height": 844})
        _plan_in_page(phone, page_url, "Deploy Llama 3.1 70B for inference")

        box = phone.evaluate(
            "() => { const t = document.querySelector('[data-testid=gpu-table]');"
            " const s = t.parentElement; return {overflow: getComputedStyle(s).overflowX,"
            " scroll: s.scrollWidth, client: s.clientWidth,"
            " page: document.querySelector('#conversation').scrollWidth,"
            " view: document.querySelector('#conversation').clientWidth}; }"
        )
    finally:
        phone.close()

    assert box["overflow"] == "auto"
    assert box["scroll"] > box["client"]  # the table is wider than the phone: it scrolls
    assert box["page"] <= box["view"]  # the conversation itself does not


def test_reopened_chat_then_its_run_log_is_still_there(page, page_url):
    marker = f"Serve Llama 3.1 8B for 5 users on AWS ({uuid.uuid4().hex[:6]})"
    _plan_in_page(page, page_url, marker)
    before = [line.text_content() for line in page.query_selector_all("details.status .line")]

    page.goto(page_url)
    page.click(f".chat-item .open >> text={marker}")
    page.wait_for_selector("[data-testid=plan]", timeout=PLAN_TIMEOUT_MS)
    after = [line.text_content() for line in page.query_selector_all("details.status .line")]

    assert before and after == before
    assert page.inner_text("details.status summary").startswith("Run log")
