"""Production mode over real HTTP: X-LLM-Base-URL reaches only what the allow-list admits.

The API runs with ENVIRONMENT=production (auth against the Supabase stand-in) and
LLM_BASE_URL_ALLOWED_HOSTS naming one loopback OpenAI-compatible stub. Refused URLs get a
422 that names the setting, before any run starts and before any connection is made.
"""

import uuid

import httpx
import pytest

import core.egress
from api.app import create_app
from core.settings import Settings
from tests.stubs.openai_stub import running_stub
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration

HS_SECRET = "egress-test-hs256-project-secret-" + "y" * 20
SERVER_KEY = "sk-server-own-key-never-for-callers"


@pytest.fixture(scope="module")
def stub():
    with running_stub() as server:
        yield server


@pytest.fixture(scope="module")
def api(pg_url, ingested, auth_stub, stub):
    settings = Settings(
        environment="production",
        database_url=pg_url,
        auth_enabled=True,
        supabase_url=auth_stub.base_url,
        supabase_jwt_secret=HS_SECRET,
        vault_master_key="egress-test-master-key-" + uuid.uuid4().hex,
        llm_api_key=SERVER_KEY,
        # The stub by its address; a domain whose names resolve to private addresses.
        llm_base_url_allowed_hosts=["127.0.0.1", ".corp.example.com"],
        _env_file=None,
    )
    with serve_asgi(create_app(settings)) as url:
        yield url


def _message(api, auth_stub, base_url):
    headers = {
        "Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}",
        "X-LLM-Provider": "openai_compatible",
        "X-LLM-Base-URL": base_url,
    }
    return httpx.post(
        f"{api}/api/v1/chat/message",
        json={"message": "Deploy Llama 3.1 8B for 20 users on AWS"},
        headers=headers,
        timeout=120,
    )


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.2:8000/v1",
        "http://10.0.0.5:8000/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://attacker.example.com/v1",
    ],
)
def test_production_refused_base_url_then_422_naming_the_setting(api, auth_stub, base_url):
    response = _message(api, auth_stub, base_url)

    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}
    assert "LLM_BASE_URL_ALLOWED_HOSTS" in body["message"]


def test_production_listed_name_resolving_to_private_address_then_422(api, auth_stub, monkeypatch):
    async def corp_dns(host, port):
        return ["10.0.0.5"] if host.endswith(".corp.example.com") else []

    # The server runs in this process: its lookups go through the patched resolver.
    monkeypatch.setattr(core.egress, "system_resolver", corp_dns)

    response = _message(api, auth_stub, "http://vllm.corp.example.com:8000/v1")

    assert response.status_code == 422
    assert "10.0.0.5, a private address" in response.json()["message"]


def test_production_allow_listed_loopback_stub_then_called_without_the_server_key(
    api, auth_stub, stub
):
    response = _message(api, auth_stub, stub.base_url)

    assert response.status_code == 200, response.text
    requests = stub.chat_requests()
    assert requests
    assert all(SERVER_KEY not in r.headers.get("authorization", "") for r in requests)
