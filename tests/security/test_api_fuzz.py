"""Schemathesis over the live API's OpenAPI schema: the server does what the schema says.

The API runs on loopback with auth off; the ``st`` command fuzzes every operation (examples,
coverage and fuzzing phases, bounded per operation; the stateful phase runs where the
schema lets Schemathesis link operations). Real chat and run ids are supplied so that the
chat operations reach their logic, not only the 404 path. Checks: no 5xx; only documented
status codes, content types and headers; bodies (and each SSE event) that match the
documented schemas; 405 with Allow for an undocumented method; and the error shape
(``tests/security/schemathesis_hooks.py``) on every 4xx.
"""

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from api.app import create_app
from core.settings import PROJECT_ROOT, Settings
from tests.support.live_server import serve_asgi

pytest.importorskip("schemathesis")

MAX_EXAMPLES = 12
# Every check that compares an answer with the schema: the documented status codes, content
# types, headers and bodies, and 405 with Allow for a method the path does not serve.
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
    )
)
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def api(pg_url, ingested):
    settings = Settings(
        database_url=pg_url,
        auth_enabled=False,
        vault_master_key="fuzz-test-master-key-" + uuid.uuid4().hex,
        _env_file=None,
    )
    with serve_asgi(create_app(settings), log_level="critical") as url:
        yield url


def _config(api, path):
    chat = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"message": "Deploy Llama 3.1 8B for 20 users on AWS"},
        timeout=TIMEOUT,
    ).json()
    doomed = httpx.post(f"{api}/api/v1/chat/start", timeout=TIMEOUT).json()["conversation_id"]
    path.write_text(
        "[parameters]\n"
        f'"path.conversation_id" = "{chat["conversation_id"]}"\n'
        f'"path.run_id" = "{chat["run_id"]}"\n'
        # The offline provider: a generated base URL must not send the run to the network
        # (tests/integration/test_llm_egress_http.py covers the caller-chosen endpoints).
        '"header.X-LLM-Provider" = "offline"\n'
        "\n[[operations]]\n"
        'include-name = "DELETE /api/v1/chat/{conversation_id}"\n'
        f'parameters = {{ "path.conversation_id" = "{doomed}" }}\n'
        # The rejoin stream has both path parameters pinned to one real run, so random
        # fuzzing filters nearly every example (a Hypothesis health check fails under load);
        # the examples and coverage phases still call it and check for server errors.
        "\n[[operations]]\n"
        'include-name = "GET /api/v1/chat/{conversation_id}/runs/{run_id}/stream"\n'
        "phases.fuzzing.enabled = false\n"
        # The same for resume: its one pinned chat leaves fuzzing little to vary, and
        # Hypothesis' "filter too much" check failed it in a clean-clone run.
        "\n[[operations]]\n"
        'include-name = "POST /api/v1/chat/{conversation_id}/resume"\n'
        "phases.fuzzing.enabled = false\n"
    )


def test_schemathesis_over_the_openapi_schema_then_no_server_error_and_error_shape(
    api, tmp_path
):
    config = tmp_path / "schemathesis.toml"
    _config(api, config)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color"),
        *("run", f"{api}/openapi.json", "--workers", "1", "--seed", "20260101"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--checks", CHECKS),
        *("--max-examples", str(MAX_EXAMPLES), "--request-timeout", "30"),
        *("--suppress-health-check", "all", "--generation-database", "none"),
        *("--report", "junit", "--report-dir", str(tmp_path)),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_hooks",
    }

    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480
    )

    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    assert "Server error" not in result.stdout
    assert "generated" in result.stdout, summary
