"""The files a deployment plan ships validate like our own infra: strict schemas, no regexes."""

from pathlib import Path

import pytest
import yaml
from test_compose import check_jsonschema

from agents.artifacts import build_artifacts, vllm_stack_values
from tests.infra.k8s_validation import validate_k8s_yaml

ENGINES = [
    ("vLLM", "meta-llama/Llama-3.1-70B-Instruct", 4),
    ("TEI", "BAAI/bge-small-en-v1.5", 1),
    ("Triton", "stabilityai/stable-diffusion-xl-base-1.0", 1),
    ("Ollama", "meta-llama/Llama-3.1-8B-Instruct", 0),
    ("training stack", "mistralai/Mistral-7B-v0.1", 2),
]


@pytest.mark.parametrize(("engine", "model_id", "gpus"), ENGINES)
def test_plan_kubernetes_manifest_when_validated_strictly_then_no_errors(engine, model_id, gpus):
    manifest = next(
        a for a in build_artifacts(engine, model_id, gpus) if a.kind == "kubernetes_manifest"
    )

    errors = validate_k8s_yaml(manifest.content)

    assert errors == []
    limits = [
        c["resources"]["limits"]
        for doc in yaml.safe_load_all(manifest.content)
        if doc["kind"] in ("Deployment", "Job")
        for c in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert limits
    if gpus:
        assert all(lim["nvidia.com/gpu"] == gpus for lim in limits)
    else:
        assert all("nvidia.com/gpu" not in lim for lim in limits)


@pytest.mark.parametrize(("engine", "model_id", "gpus"), ENGINES)
def test_plan_compose_snippet_when_checked_against_compose_spec_then_valid(
    engine, model_id, gpus, tmp_path: Path
):
    snippet = next(a for a in build_artifacts(engine, model_id, gpus) if a.kind == "compose")
    path = tmp_path / "compose.yaml"
    path.write_text(snippet.content)

    result = check_jsonschema(path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_plan_vllm_values_then_tensor_parallel_matches_the_gpus():
    values = yaml.safe_load(vllm_stack_values("meta-llama/Llama-3.1-70B-Instruct", 4))

    spec = values["servingEngineSpec"]["modelSpec"][0]
    assert spec["requestGPU"] == 4 and spec["vllmConfig"]["tensorParallelSize"] == 4
