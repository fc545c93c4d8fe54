"""The OpenAPI document says what the server does: errors, headers, streams, every field."""

import pytest

from api.app import create_app
from core.settings import Settings


@pytest.fixture(scope="module")
def schema():
    return create_app(Settings(_env_file=None)).openapi()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_public_field_then_has_a_description(schema):
    missing = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        for field, spec in component.get("properties", {}).items()
        if not spec.get("description")
    ]

    assert not missing, f"describe these (model Field or api/openapi_fields.py): {missing}"


def test_validation_errors_then_documented_in_the_one_error_shape(schema):
    schemas = schema["components"]["schemas"]

    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorPublic"]["required"]) == {"code", "message", "request_id"}
    for label, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and label != "GET /ready":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorPublic"), (label, status)


def test_operations_of_signed_in_callers_then_401_429_and_bearer_documented(schema):
    chat_and_tools = [
        (label, op)
        for label, op in _operations(schema)
        if "/api/v1/chat" in label or ("/api/v1/tools/" in label and "optimizer" not in label)
    ]

    assert len(chat_and_tools) >= 12
    for label, operation in chat_and_tools:
        assert {"401", "429"} <= set(operation["responses"]), label
        assert {"bearerAuth": []} in operation["security"], label
    assert "Retry-After" in schema["paths"]["/api/v1/chats"]["get"]["responses"]["429"]["headers"]


def test_message_route_then_llm_headers_and_event_stream_with_event_names(schema):
    operation = schema["paths"]["/api/v1/chat/message"]["post"]

    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"X-LLM-API-Key", "X-LLM-Provider", "X-LLM-Base-URL", "X-LLM-Model"}
    ok = operation["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= set(ok)
    described = ok["text/event-stream"]["schema"]["description"]
    for event in ("metadata", "status", "token", "clarification", "plan", "error", "end"):
        assert f"`{event}`" in described
    assert {"404", "409", "413", "422", "503"} <= set(operation["responses"])


def test_rejoin_route_then_last_event_id_header_and_event_stream(schema):
    operation = schema["paths"]["/api/v1/chat/{conversation_id}/runs/{run_id}/stream"]["get"]

    assert "last-event-id" in {p["name"].lower() for p in operation["parameters"]}
    assert "text/event-stream" in operation["responses"]["200"]["content"]


def test_health_and_ready_then_response_schemas(schema):
    health = schema["paths"]["/health"]["get"]["responses"]["200"]
    ready = schema["paths"]["/ready"]["get"]["responses"]

    assert health["content"]["application/json"]["schema"]["$ref"].endswith("/HealthPublic")
    for status in ("200", "503"):
        ref = ready[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ReadyPublic")


def test_every_response_then_documents_the_request_id_header(schema):
    for label, operation in _operations(schema):
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in response.get("headers", {}), (label, status)
