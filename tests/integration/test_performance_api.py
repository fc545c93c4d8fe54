"""POST /api/v1/tools/performance over real HTTP: estimates, their source, and clean errors."""

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


def _post(server, body):
    return httpx.post(f"{server}/api/v1/tools/performance", json=body, timeout=60)


def _body(**changes):
    body = {
        "model_id": LLAMA_8B, "gpu_model": "H100", "gpu_count": 1, "tensor_parallel": 1,
        "precision": "bf16", "kv_cache_dtype": "native", "engine": "vLLM", "concurrency": 16,
        "input_tokens": 2000, "output_tokens": 500,
    }
    return body | changes


def test_performance_when_h100_llama_8b_then_measured_estimate_with_its_source(server):
    response = _post(server, _body())

    result = response.json()
    assert response.status_code == 200
    assert result["estimator"].startswith("aiconfigurator 0.12.0 (vllm")
    assert 0 < result["ttft_ms"] < 2000 and 0 < result["tpot_ms"] < 50
    assert result["tokens_per_s_per_user"] == pytest.approx(1000 / result["tpot_ms"])
    # 16 users each streaming at the per-user rate, less the time to first token.
    assert result["tokens_per_s"] < 16 * result["tokens_per_s_per_user"]
    assert result["tokens_per_s"] > 0.8 * 16 * result["tokens_per_s_per_user"]
    assert result["fits"] is True and 15 < result["memory_gb"] < 72


def test_performance_when_t4_then_roofline_names_itself(server):
    response = _post(server, _body(gpu_model="T4", precision="int4", concurrency=4))

    result = response.json()
    assert response.status_code == 200
    assert result["estimator"].startswith("roofline")
    assert result["tpot_ms"] > 20  # 320 GB/s moves ~5.5 GB of int4 weights at most ~45 times/s


def test_performance_when_two_replicas_then_twice_the_tokens_of_one_at_half_the_load(server):
    one = _post(server, _body(concurrency=8)).json()
    two = _post(server, _body(gpu_count=2, concurrency=16)).json()

    assert two["tokens_per_s"] == pytest.approx(2 * one["tokens_per_s"])
    assert two["tpot_ms"] == pytest.approx(one["tpot_ms"])


@pytest.mark.parametrize(
    ("changes", "needle"),
    [({"model_id": "acme/mystery-9b"}, "unknown model 'acme/mystery-9b'"),
     ({"gpu_model": "Z9000"}, "unknown GPU 'Z9000'")],
)
def test_performance_when_unknown_model_or_gpu_then_404_says_which(server, changes, needle):
    response = _post(server, _body(**changes))

    assert response.status_code == 404
    assert needle in response.json()["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"tensor_parallel": 0}, "tensor_parallel"),
     ({"output_tokens": 1}, "output_tokens"),
     ({"kv_cache_dtype": "int3"}, "kv_cache_dtype"),
     ({"gpus": 2}, "gpus")],
)
def test_performance_when_bad_body_then_422_names_the_field(server, changes, field):
    response = _post(server, _body(**changes))

    assert response.status_code == 422
    assert response.json()["message"].startswith(field)


def test_performance_when_fewer_gpus_than_tensor_parallel_then_422_explains(server):
    response = _post(server, _body(gpu_count=1, tensor_parallel=2))

    assert response.status_code == 422
    assert "cannot hold tensor_parallel 2" in response.json()["message"]
