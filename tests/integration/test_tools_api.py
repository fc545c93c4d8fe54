"""The tool debug endpoints over real HTTP: shapes, 422s that name the field, never a 500."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE cloud.instances; --",
    "\" OR 1=1; SELECT pg_sleep(5); --",
    "%' UNION SELECT * FROM chat.vaulted_keys --",
]


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


def _post(server, path, body):
    return httpx.post(f"{server}/api/v1/tools/{path}", json=body, timeout=30)


def test_compute_search_then_rows_carry_every_documented_field(server):
    response = _post(server, "compute/search", {"gpu_needed": True, "min_vram_gb": 40})

    body = response.json()
    assert response.status_code == 200
    assert {
        "provider", "instance_type", "region", "gpu_model", "gpu_count", "gpu_memory_gb_total",
        "vcpus", "memory_gb", "price_hourly_usd", "price_monthly_usd", "spot_price_hourly_usd",
        "source",
    } <= set(body["results"][0])
    rejected = body["rejected"]["too little VRAM"]
    assert rejected["count"] > 0 and rejected["examples"]
    total = sum(r["count"] for r in body["rejected"].values()) + body["accepted"]
    assert total == body["considered"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"top_k": 0}, "top_k"),
        ({"min_vram_gb": -1}, "min_vram_gb"),
        ({"gpu_needed": "maybe"}, "gpu_needed"),
        ({"providers": "x" * 65}, "providers"),
        ({"max_price_monthly": "cheap"}, "max_price_monthly"),
        ({"dtype": "int3", "model_id": "Llama-3.1-8B"}, "dtype"),
        ({"cpu_count": 4}, "cpu_count"),
        ({"gpu_model": "H100\u0000"}, "gpu_model"),
    ],
)
def test_compute_search_when_bad_body_then_422_names_the_field(server, body, field):
    response = _post(server, "compute/search", body)

    assert response.status_code == 422
    assert set(response.json()) == {"code", "message", "request_id"}
    assert response.json()["message"].startswith(field)


def test_compute_search_when_unknown_model_then_404_says_so(server):
    response = _post(server, "compute/search", {"model_id": "acme/not-a-model"})

    assert response.status_code == 404
    assert "unknown model 'acme/not-a-model'" in response.json()["message"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_compute_search_when_injection_in_text_fields_then_empty_not_500(server, text):
    response = _post(
        server, "compute/search", {"gpu_model": text, "providers": [text], "regions": [text]}
    )

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert response.json()["considered"] == 8031


def test_k8s_search_then_postgresql_first_with_version_repo_and_why(server):
    response = _post(server, "k8s/search", {"query": "postgres", "top_k": 3})

    first = response.json()["results"][0]
    assert response.status_code == 200
    assert first["name"] == "postgresql"
    assert first["version"] and first["app_version"] and first["repo"] and first["why"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"query": ""}, "query"), ({"query": "x" * 501}, "query"),
     ({"query": "redis", "top_k": 51}, "top_k"), ({"top_k": 3}, "query"),
     ({"query": "redis", "sort": "name"}, "sort")],
)
def test_k8s_search_when_bad_body_then_422_names_the_field(server, body, field):
    response = _post(server, "k8s/search", body)

    assert response.status_code == 422
    assert response.json()["message"].startswith(field)


@pytest.mark.parametrize("text", INJECTIONS)
def test_k8s_search_when_injection_then_few_or_no_results_and_no_delay(server, text):
    started = time.monotonic()

    response = _post(server, "k8s/search", {"query": text, "top_k": 50})

    assert response.status_code == 200
    assert len(response.json()["results"]) < 10
    assert time.monotonic() - started < 4


def test_hf_search_then_ranked_models_for_the_query(server):
    response = _post(server, "hf/search", {"query": "text to image generation", "top_k": 3})

    body = response.json()
    assert response.status_code == 200
    assert len(body["results"]) == 3
    assert all(r["model_id"] and r["why"] for r in body["results"])


@pytest.mark.parametrize(
    ("body", "field"),
    [({"query": ""}, "query"), ({"query": "chat", "top_k": 0}, "top_k"),
     ({"query": "chat", "license_filter": "mit"}, "license_filter"),
     ({"query": "chat", "model": "x"}, "model")],
)
def test_hf_search_when_bad_body_then_422_names_the_field(server, body, field):
    response = _post(server, "hf/search", body)

    assert response.status_code == 422
    assert response.json()["message"].startswith(field)


@pytest.mark.parametrize("text", INJECTIONS)
def test_hf_search_when_injection_in_filters_then_empty_not_500(server, text):
    body = {"query": text, "pipeline_tag": text, "license_filter": [text]}

    response = _post(server, "hf/search", body)

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_sizing_when_catalog_model_then_breakdown_and_tensor_parallel(server):
    body = {"model_id": "meta-llama/Llama-3.1-70B-Instruct", "dtype": "bf16",
            "context_length": 8192, "concurrency": 32, "gpu_memory_gb": 80}

    response = _post(server, "sizing", body)

    result = response.json()
    assert response.status_code == 200
    assert result["tensor_parallel"] == 4
    parts = result["weights_gb"] + result["kv_cache_gb"] + result["overhead_gb"]
    assert result["total_vram_gb"] == pytest.approx(parts + result["activations_gb"])
    assert result["per_gpu_gb"] == pytest.approx(result["total_vram_gb"] / 4)


def test_sizing_when_explicit_architecture_then_sized_without_catalog(server):
    arch = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
            "num_key_value_heads": 8, "head_dim": 128, "params_billion_total": 8.0}

    response = _post(server, "sizing", {"architecture": arch, "dtype": "bf16"})

    assert response.status_code == 200
    assert response.json()["weights_gb"] == pytest.approx(16e9 / 2**30)  # 8e9 × 2 bytes, GiB


def test_sizing_when_unknown_model_then_404_with_clear_message(server):
    response = _post(server, "sizing", {"model_id": "acme/mystery-9b"})

    assert response.status_code == 404
    assert "unknown model 'acme/mystery-9b'" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"model_id": "Llama-3.1-8B", "tensor_parallel": 3}, "tensor_parallel"),
     ({"model_id": "Llama-3.1-8B", "context_length": 0}, "context_length"),
     ({"model_id": "Llama-3.1-8B", "gpu_memory_utilization": 0}, "gpu_memory_utilization"),
     ({"dtype": "bf16"}, "body"),
     ({"model_id": "Llama-3.1-8B", "architecture": {"num_hidden_layers": 1}}, "architecture")],
)
def test_sizing_when_bad_body_then_422_names_the_field(server, body, field):
    response = _post(server, "sizing", body)

    assert response.status_code == 422
    assert response.json()["message"].startswith(field)


def test_sizing_when_workload_impossible_then_422_explains(server):
    body = {"model_id": "meta-llama/Llama-3.1-8B-Instruct", "task": "full", "dtype": "int4"}

    response = _post(server, "sizing", body)

    assert response.status_code == 422
    assert "qlora" in response.json()["message"]


def test_local_when_no_cluster_configured_then_not_connected_with_reason(
    server, monkeypatch, tmp_path
):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))

    response = httpx.get(f"{server}/api/v1/tools/local", timeout=10)

    assert response.status_code == 200
    assert response.json()["connected"] is False
    assert "KUBECONFIG" in response.json()["reason"]


class _Nodes(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        body = {"kind": "NodeList", "apiVersion": "v1", "items": [{
            "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }]}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_local_when_kubeconfig_points_at_api_server_then_nodes_and_totals(
    server, monkeypatch, tmp_path
):
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Nodes)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    config = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": f"http://127.0.0.1:{api.server_port}"}}],
        "users": [{"name": "u", "user": {"token": "abc"}}],
    }
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))

    response = httpx.get(f"{server}/api/v1/tools/local", timeout=10)
    api.shutdown()

    body = response.json()
    assert body["connected"] is True
    assert (body["total_cpu_cores"], body["total_memory_gib"], body["total_gpus"]) == (4, 16, 2)


@pytest.mark.parametrize("text", INJECTIONS)
def test_model_id_when_injection_then_404_unknown_model_not_500(server, text):
    sizing = _post(server, "sizing", {"model_id": text})
    compute = _post(server, "compute/search", {"model_id": text})

    assert (sizing.status_code, compute.status_code) == (404, 404)


def test_openapi_then_documents_the_five_tool_endpoints(server):
    paths = httpx.get(f"{server}/openapi.json", timeout=10).json()["paths"]

    assert {
        "/api/v1/tools/compute/search", "/api/v1/tools/hf/search", "/api/v1/tools/k8s/search",
        "/api/v1/tools/local", "/api/v1/tools/sizing",
    } <= set(paths)
    assert list(paths["/api/v1/tools/local"]) == ["get"]


def test_tool_endpoints_when_auth_on_and_no_token_then_401(pg_url, ingested):
    settings = Settings(
        database_url=pg_url,
        auth_enabled=True,
        supabase_url="http://127.0.0.1:9",
        supabase_jwt_secret="tools-api-test-secret-" + "x" * 20,
        _env_file=None,
    )
    with serve_asgi(create_app(settings)) as url:
        post = _post(url, "k8s/search", {"query": "redis"})
        get = httpx.get(f"{url}/api/v1/tools/local", timeout=10)

    assert (post.status_code, get.status_code) == (401, 401)
