"""Provider selection, keys, the chat-model seam, structured-output retries and fallback."""

import logging

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from agents.llm import (
    LOCAL_SERVER_TOKEN,
    OFFLINE,
    MalformedOutputError,
    ProviderCallError,
    ProviderConfigError,
    call_with_fallback,
    chat_model_override,
    invoke_structured,
    make_chat_model,
    select_llm,
)
from core.settings import Settings
from tests.stubs.fake_chat import ScriptedChatModel
from tests.stubs.script import Reply, ToolCall, call

LOCAL = "http://127.0.0.1:9/v1"


def _settings(**overrides):
    values = {
        "llm_provider": "offline",
        "llm_model": "gpt-test",
        "llm_base_url": None,
        "llm_api_key": None,
        "llm_fallback_provider": None,
        "allow_env_provider_keys": False,
        "llm_without_key": "offline",
    }
    return Settings(_env_file=None, **{**values, **overrides})


class Answer(BaseModel):
    city: str
    count: int


# --- select_llm -------------------------------------------------------------------------


def test_default_settings_then_offline():
    assert select_llm(_settings()) is OFFLINE


def test_request_key_then_used_for_the_request():
    selection = select_llm(_settings(llm_provider="openai"), request_key="sk-req")

    assert selection.provider == "openai"
    assert selection.api_key.get_secret_value() == "sk-req"
    assert selection.key_source == "request"


def test_request_key_beats_vaulted_key():
    selection = select_llm(_settings(llm_provider="openai"), request_key="a", vaulted_key="b")

    assert selection.api_key.get_secret_value() == "a"


def test_vaulted_key_when_no_request_key():
    selection = select_llm(_settings(llm_provider="openai"), vaulted_key="sk-vault")

    assert selection.key_source == "vault"


def test_env_key_not_allowed_and_no_request_key_then_offline(caplog):
    settings = _settings(llm_provider="openai", llm_api_key="sk-env")

    selection = select_llm(settings)

    assert selection.is_offline
    assert "ALLOW_ENV_PROVIDER_KEYS=false" in caplog.text
    assert "sk-env" not in caplog.text


def test_env_key_not_allowed_and_without_key_error_then_clear_error():
    settings = _settings(llm_provider="openai", llm_api_key="sk-env", llm_without_key="error")

    with pytest.raises(ProviderConfigError, match="no key for the openai provider") as info:
        select_llm(settings)

    assert "sk-env" not in str(info.value)


def test_env_key_allowed_then_used():
    settings = _settings(llm_provider="openai", llm_api_key="sk-env", allow_env_provider_keys=True)

    selection = select_llm(settings)

    assert selection.key_source == "environment"
    assert selection.base_url is None


def test_env_key_never_sent_to_a_base_url_the_request_chose():
    settings = _settings(llm_provider="openai", llm_api_key="sk-env", allow_env_provider_keys=True)

    selection = select_llm(settings, base_url="https://attacker.example/v1")

    assert selection.is_offline


def test_env_key_sent_to_the_configured_base_url():
    settings = _settings(
        llm_provider="openai_compatible",
        llm_base_url=LOCAL,
        llm_api_key="sk-env",
        allow_env_provider_keys=True,
    )

    selection = select_llm(settings, base_url=LOCAL + "/")

    assert selection.key_source == "environment"


def test_openai_compatible_without_key_then_local_server_token():
    selection = select_llm(_settings(llm_provider="openai_compatible", llm_base_url=LOCAL))

    assert selection.api_key.get_secret_value() == LOCAL_SERVER_TOKEN
    assert selection.base_url == LOCAL


def test_openai_compatible_without_url_then_error():
    with pytest.raises(ProviderConfigError, match="base URL"):
        select_llm(_settings(llm_provider="openai_compatible"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "localhost:8000", "ftp://x/v1"])
def test_base_url_not_http_then_error(url):
    with pytest.raises(ProviderConfigError, match="http"):
        select_llm(_settings(llm_provider="openai_compatible"), base_url=url)


def test_unknown_provider_then_error():
    with pytest.raises(ProviderConfigError, match="unknown LLM provider"):
        select_llm(_settings(), provider="anthropic")


def test_context_provider_overrides_settings():
    selection = select_llm(
        _settings(llm_provider="openai"), provider="offline", request_key="sk-req"
    )

    assert selection.is_offline


def test_fallback_never_receives_the_request_key():
    settings = _settings(
        llm_provider="openai", llm_base_url=LOCAL, llm_fallback_provider="openai_compatible"
    )

    selection = select_llm(settings, request_key="sk-user")

    assert selection.fallback is not None
    assert selection.fallback.api_key.get_secret_value() == LOCAL_SERVER_TOKEN


def test_openai_fallback_uses_openai_endpoint_not_the_compatible_one():
    settings = _settings(
        llm_provider="openai_compatible",
        llm_base_url=LOCAL,
        llm_fallback_provider="openai",
        llm_api_key="sk-env",
        allow_env_provider_keys=True,
    )

    selection = select_llm(settings)

    assert selection.fallback.provider == "openai"
    assert selection.fallback.base_url is None


def test_fallback_without_a_usable_key_then_dropped():
    settings = _settings(
        llm_provider="openai_compatible", llm_base_url=LOCAL, llm_fallback_provider="openai"
    )

    assert select_llm(settings).fallback is None


def test_offline_fallback_then_kept():
    settings = _settings(
        llm_provider="openai", llm_fallback_provider="offline", llm_without_key="error"
    )

    assert select_llm(settings, request_key="k").fallback is OFFLINE


def test_selection_repr_and_description_hide_the_key():
    selection = select_llm(_settings(llm_provider="openai"), request_key="sk-hidden")

    assert "sk-hidden" not in repr(selection)
    assert "sk-hidden" not in selection.describe()


# --- make_chat_model ----------------------------------------------------------------------


def test_offline_then_no_chat_model():
    assert make_chat_model(OFFLINE) is None


def test_openai_compatible_then_chat_openai_on_chat_completions():
    selection = select_llm(
        _settings(llm_provider="openai_compatible", llm_base_url=LOCAL), request_key="sk-x"
    )

    model = make_chat_model(selection, timeout_s=7)

    assert isinstance(model, ChatOpenAI)
    assert model.use_responses_api is False
    assert model.openai_api_base == LOCAL
    assert model.openai_api_key.get_secret_value() == "sk-x"
    assert model.request_timeout == 7


def test_override_then_factory_builds_the_model():
    fake = ScriptedChatModel(script=lambda _: Reply("hi"))
    selection = select_llm(_settings(llm_provider="openai"), request_key="k")

    with chat_model_override(lambda chosen: fake):
        built = make_chat_model(selection)
        offline = make_chat_model(OFFLINE)

    assert built is fake
    assert offline is None
    assert isinstance(make_chat_model(selection), ChatOpenAI)


# --- invoke_structured ------------------------------------------------------------------


def _answers(*replies):
    queue = list(replies)
    return ScriptedChatModel(script=lambda _request: queue.pop(0))


async def test_structured_answer_then_parsed():
    model = _answers(Reply(tool_calls=[call("Answer", {"city": "Oslo", "count": 2})]))

    answer = await invoke_structured(model, Answer, [HumanMessage("q")])

    assert answer == Answer(city="Oslo", count=2)
    assert model.requests[0]["tools"][0]["function"]["name"] == "Answer"


async def test_malformed_twice_then_retried_with_the_problem_and_succeeds(caplog):
    model = _answers(
        Reply(tool_calls=[ToolCall("Answer", '{"city": "Os')]),
        Reply(tool_calls=[call("Answer", {"city": "Oslo", "count": "many"})]),
        Reply(tool_calls=[call("Answer", {"city": "Oslo", "count": 3})]),
    )

    answer = await invoke_structured(model, Answer, [HumanMessage("q")])

    assert answer.count == 3
    feedback = [r["messages"][-1]["content"] for r in model.requests[1:]]
    assert "not valid JSON" in feedback[0]
    assert "count" in feedback[1]
    assert caplog.text.count("malformed Answer") == 2


async def test_no_tool_call_then_retried():
    model = _answers(
        Reply("I think Oslo"), Reply(tool_calls=[call("Answer", {"city": "O", "count": 1})])
    )

    answer = await invoke_structured(model, Answer, [HumanMessage("q")])

    assert answer.city == "O"
    assert "did not call the tool" in model.requests[1]["messages"][-1]["content"]


async def test_malformed_three_times_then_clear_error():
    model = _answers(*[Reply(tool_calls=[ToolCall("Answer", "{")]) for _ in range(3)])

    with pytest.raises(MalformedOutputError, match="malformed Answer 3 times"):
        await invoke_structured(model, Answer, [HumanMessage("q")])

    assert len(model.requests) == 3


# --- call_with_fallback -------------------------------------------------------------------


def _with_offline_fallback():
    settings = _settings(llm_provider="openai", llm_fallback_provider="offline")
    return select_llm(settings, request_key="sk-secret-in-request")


async def test_primary_fails_then_fallback_runs_and_is_reported(caplog):
    fake = ScriptedChatModel(script=lambda _: Reply(status=500))
    selection = _with_offline_fallback()

    async def run(model):
        if model is None:
            return "offline answer"
        await model.ainvoke("hello")
        return "model answer"

    with chat_model_override(lambda _: fake):
        result, used = await call_with_fallback(selection, run)

    assert result == "offline answer"
    assert used is selection.fallback
    assert "falling back to offline" in caplog.text


async def test_primary_fails_without_fallback_then_safe_error():
    class Leaky(RuntimeError):
        status_code = 401

    selection = select_llm(_settings(llm_provider="openai"), request_key="sk-secret")

    async def run(model):
        raise Leaky("Incorrect API key provided: sk-secret")

    with chat_model_override(lambda _: ScriptedChatModel(script=lambda _: Reply())):
        with pytest.raises(ProviderCallError) as info:
            await call_with_fallback(selection, run)

    assert str(info.value) == "openai:gpt-test (key: request) failed: Leaky (HTTP 401)"
    assert isinstance(info.value.__cause__, Leaky)


async def test_offline_errors_then_raised_as_they_are():
    async def run(model):
        raise KeyError("a bug in the deterministic path")

    with pytest.raises(KeyError):
        await call_with_fallback(OFFLINE, run)


async def test_malformed_output_then_its_own_error_kept():
    selection = select_llm(_settings(llm_provider="openai"), request_key="k")

    async def run(model):
        raise MalformedOutputError("the model returned a malformed Answer 3 times in a row")

    with chat_model_override(lambda _: ScriptedChatModel(script=lambda _: Reply())):
        with pytest.raises(MalformedOutputError):
            await call_with_fallback(selection, run)


def test_log_records_of_selection_carry_no_key(caplog):
    caplog.set_level(logging.DEBUG)
    settings = _settings(llm_provider="openai", llm_api_key="sk-env-secret")

    select_llm(settings)
    select_llm(settings, base_url="https://elsewhere.example/v1")

    assert "sk-env-secret" not in caplog.text
