"""Scripts written against the API that Stack8s replaces keep working: its examples, replayed.

The examples live in ``tests/fixtures/original_api/requests.json``; each is sent over real
HTTP to a real server (offline provider, ingested catalogs) and must succeed with the fields
the original document promised. Where the original document is at hand (``shared/seeds``
beside the checkout), a second test checks that the fixture still holds every one of its
request examples, so an example cannot be dropped from the replay unnoticed.
"""

import json
import re
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import PROJECT_ROOT, Settings
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original_api" / "requests.json"
EXAMPLES = json.loads(FIXTURE.read_text())["requests"]
ORIGINAL_DOCS = sorted((PROJECT_ROOT.parent / "shared" / "seeds").glob("002_*.txt"))
TIMEOUT = httpx.Timeout(120.0)


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


def _fill(value, conversation_id):
    text = json.dumps(value).replace("{conversation_id}", conversation_id)
    return json.loads(text)


def test_every_original_example_replayed_then_each_succeeds_with_the_documented_fields(server):
    conversation_id = ""
    answered = []
    with httpx.Client(base_url=server, timeout=TIMEOUT) as client:
        for example in EXAMPLES:
            path = example["path"].replace("{conversation_id}", conversation_id)
            body = _fill(example.get("body"), conversation_id) if "body" in example else None
            response = client.request(example["method"], path, json=body)

            assert response.status_code == 200, (example["path"], response.text[:500])
            keys = example["expect"].get("keys", [])
            if keys:
                assert set(keys) <= set(response.json()), (example["path"], response.text[:500])
            if example["path"] == "/api/v1/chat/start":
                conversation_id = response.json()["conversation_id"]
            answered.append(example["path"])
    assert len(answered) == len(EXAMPLES)


def test_original_compute_example_then_its_singular_provider_and_region_filter(server):
    example = next(e for e in EXAMPLES if e["path"] == "/api/v1/tools/compute/search")
    body = {**example["body"], "min_vcpu": None, "min_ram_gb": None, "max_price_monthly": None}

    rows = httpx.post(f"{server}{example['path']}", json=body, timeout=TIMEOUT).json()["results"]

    assert rows
    assert {(r["provider"], r["region"]) for r in rows} == {("aws", "us-east-1")}


def _documented_requests(text):
    """Return (method, path, body) for every request example of the original document."""
    found = []
    for match in re.finditer(r"http://localhost:8000(/[\w/]+)`", text):
        found.append(("GET", match.group(1), None))
    blocks = re.split(r"\n#### ", text)
    for block in blocks:
        endpoint = re.search(r"```bash\n(GET|POST|PUT|PATCH|DELETE) (/\S+)\n```", block)
        if endpoint is None:
            continue
        request = re.search(r"\*\*Request:\*\*\n```json\n(.*?)\n```", block, re.S)
        body = json.loads(request.group(1)) if request else None
        found.append((endpoint.group(1), endpoint.group(2), body))
    return found


@pytest.mark.skipif(not ORIGINAL_DOCS, reason="no original API document beside the checkout")
def test_original_document_then_every_request_example_is_in_the_replay():
    documented = _documented_requests(ORIGINAL_DOCS[0].read_text(errors="replace"))
    replayed = [
        (e["method"], e["path"], _fill(e.get("body"), "uuid") if "body" in e else None)
        for e in EXAMPLES
    ]

    assert len(documented) >= 8
    missing = [d for d in documented if d not in replayed]
    assert not missing, missing
