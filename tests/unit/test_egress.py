"""Caller-chosen LLM URLs outside development: listed hosts only, no private addresses.

Refusals happen before any connection: no test here sends a packet to a non-loopback
address. The one accepted connection goes to a loopback server that the allow-list names.
"""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from agents.llm import ProviderConfigError, select_llm
from core.egress import SETTING, EgressPolicy, EgressRefusedError, guarded_async_client
from core.settings import Settings
from tests.support.live_server import serve_asgi


def _production(**overrides):
    return Settings(
        environment="production",
        auth_enabled=True,
        database_url="postgresql://app@db.example.com/stack8s",
        supabase_url="https://project.supabase.example.com",
        _env_file=None,
        **overrides,
    )


def _policy(*entries, enforced=True):
    return EgressPolicy.from_entries(entries, enforced=enforced)


def _resolver(*answers):
    """Resolve every name to the next answer in turn (the last one repeats)."""
    calls = []

    async def resolve(host, port):
        calls.append(host)
        return list(answers[min(len(calls), len(answers)) - 1])

    resolve.calls = calls
    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:11434/v1",
        "http://[::ffff:10.0.0.5]/v1",
        "https://attacker.example.com/v1",
    ],
)
async def test_production_url_not_listed_then_refused_naming_the_setting(url):
    policy = _policy("vllm.team.example.com")

    with pytest.raises(EgressRefusedError, match=SETTING):
        await policy.check_url_resolves(url, resolver=_resolver(["93.184.216.34"]))


async def test_production_listed_name_resolving_to_private_address_then_refused():
    policy = _policy(".corp.example.com")

    with pytest.raises(EgressRefusedError, match=r"10\.0\.0\.5, a private address"):
        await policy.check_url_resolves(
            "http://vllm.corp.example.com/v1", resolver=_resolver(["10.0.0.5"])
        )


async def test_production_listed_localhost_then_refused_for_its_loopback_address():
    # The real system resolver: localhost resolves from /etc/hosts, no network involved.
    policy = _policy("localhost")

    with pytest.raises(EgressRefusedError, match="loopback"):
        await policy.check_url_resolves("http://localhost:11434/v1")


async def test_production_listed_name_and_its_network_then_accepted():
    policy = _policy("vllm.corp.example.com", "10.0.3.0/24")

    await policy.check_url_resolves(
        "http://vllm.corp.example.com:8000/v1", resolver=_resolver(["10.0.3.7"])
    )


async def test_development_any_url_then_accepted():
    await _policy(enforced=False).check_url_resolves("http://127.0.0.1:11434/v1")


async def test_name_rebinds_to_private_address_at_connect_then_refused_before_connecting():
    resolver = _resolver(["93.184.216.34"], ["10.0.0.5"])
    policy = _policy("rebind.example.com")
    await policy.check_url_resolves("http://rebind.example.com/v1", resolver=resolver)

    async with guarded_async_client(policy, timeout_s=5, resolver=resolver) as client:
        with pytest.raises(httpx.ConnectError, match=SETTING):
            await client.get("http://rebind.example.com/v1/models")
    assert resolver.calls == ["rebind.example.com", "rebind.example.com"]


async def test_listed_loopback_stub_then_guarded_client_reaches_it():
    app = Starlette(routes=[Route("/v1/models", lambda r: JSONResponse({"data": []}))])
    with serve_asgi(app) as url:
        async with guarded_async_client(_policy("127.0.0.1"), timeout_s=5) as client:
            response = await client.get(f"{url}/v1/models")

    assert response.status_code == 200 and response.json() == {"data": []}


async def test_guarded_client_redirect_to_metadata_then_refused():
    app = Starlette(
        routes=[
            Route(
                "/v1/models",
                lambda r: JSONResponse({}, 307, {"Location": "http://169.254.169.254/"}),
            )
        ]
    )
    with serve_asgi(app) as url:
        async with guarded_async_client(_policy("127.0.0.1"), timeout_s=5) as client:
            with pytest.raises(httpx.ConnectError, match="metadata"):
                await client.get(f"{url}/v1/models")


def test_production_select_llm_with_unlisted_caller_url_then_provider_config_error():
    with pytest.raises(ProviderConfigError, match=SETTING):
        select_llm(
            _production(),
            provider="openai_compatible",
            base_url="http://10.0.0.5:8000/v1",
            request_key="sk-caller-key-123",
        )


def test_production_select_llm_with_listed_caller_url_then_guarded_and_no_server_key():
    settings = _production(
        llm_base_url_allowed_hosts=["127.0.0.1"],
        llm_api_key="sk-server-own-key",
        llm_base_url="https://api.example.com/v1",
    )

    selection = select_llm(settings, provider="openai_compatible", base_url="http://127.0.0.1:9/v1")

    assert selection.egress is not None and selection.egress.enforced
    assert selection.api_key is not None
    assert selection.api_key.get_secret_value() != "sk-server-own-key"


def test_allow_list_entry_that_is_not_a_host_then_settings_refuse_it():
    with pytest.raises(ValueError, match=SETTING):
        Settings(llm_base_url_allowed_hosts=["http://vllm:8000/v1"], _env_file=None)


@pytest.mark.parametrize(
    "text", ['["vllm.example.com", "10.0.3.0/24"]', "vllm.example.com, 10.0.3.0/24"]
)
def test_allow_list_from_environment_then_json_or_comma_separated(monkeypatch, text):
    monkeypatch.setenv("LLM_BASE_URL_ALLOWED_HOSTS", text)

    settings = Settings(_env_file=None)

    assert settings.llm_base_url_allowed_hosts == ["vllm.example.com", "10.0.3.0/24"]
