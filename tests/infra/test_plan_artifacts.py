"""The files a deployment plan ships validate like our own infra: strict schemas, no regexes.

Each target below is a configuration a plan can produce; every export format is written and
checked with its own tooling (kubectl kustomize, helm lint/template, the compose spec,
SkyPilot's task schema).
"""

from pathlib import Path

import pytest
import yaml

from agents.artifacts.build import build_artifacts
from agents.artifacts.bundle import readme
from agents.artifacts.kubernetes import pod_templates
from agents.artifacts.skypilot import SKYPILOT_CLOUDS
from agents.artifacts.target import DeploymentTarget
from tests.infra.crd_checks import crd_errors
from tests.infra.plan_exports import check_compose_files, skypilot_errors, validate_exports
from tests.infra.skypilot_schema import schema_sources, task_errors

BASE = {
    "provider": "aws",
    "region": "us-east-1",
    "cpu": 40.0,
    "memory_gb": 300.0,
    "disk_gb": 400,
}
TARGETS = {
    "vllm-fp8-tp2": DeploymentTarget(
        **BASE,
        name="llama-3-1-70b-instruct",
        workload="serve",
        engine="vLLM",
        image="vllm/vllm-openai:v0.10.1",
        arch="x86_64",
        model_id="meta-llama/Llama-3.1-70B-Instruct",
        model_repo="meta-llama/Llama-3.1-70B-Instruct",
        precision="fp8",
        quantization="fp8",
        tensor_parallel=2,
        replicas=2,
        gpu_model="H100",
        gpu_count=2,
        gpu_memory_gb=80,
        max_model_len=8192,
        gpu_memory_utilization=0.9,
        instance_type="p5.48xlarge",
    ),
    "tei-cpu": DeploymentTarget(
        **BASE,
        name="bge-small-en-v1-5",
        workload="serve",
        engine="TEI",
        image="ghcr.io/huggingface/text-embeddings-inference:cpu-1.8",
        arch="x86_64",
        model_id="BAAI/bge-small-en-v1.5",
        model_repo="BAAI/bge-small-en-v1.5",
        cpu_only=True,
        instance_type="c6i.2xlarge",
    ),
    "ollama-cpu-arm": DeploymentTarget(
        **BASE,
        name="llama-3-1-8b-instruct",
        workload="serve",
        engine="Ollama",
        image="ollama/ollama:0.11.4",
        arch="arm64",
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        model_repo="hf.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",
        max_model_len=4096,
        cpu_only=True,
        instance_type="c7g.2xlarge",
    ),
    "triton-unknown-gpu": DeploymentTarget(
        **BASE,
        name="stable-diffusion-xl-base-1-0",
        workload="serve",
        engine="Triton",
        image="nvcr.io/nvidia/tritonserver:25.07-py3",
        arch="x86_64",
        model_id="stabilityai/stable-diffusion-xl-base-1.0",
        model_repo="stabilityai/stable-diffusion-xl-base-1.0",
        gpu_model="RTX4090",
        gpu_count=1,
        gpu_memory_gb=24,
        instance_type="1x-RTX_4090",
    ),
    "training-job": DeploymentTarget(
        **BASE,
        name="mistral-7b-v0-1",
        workload="train",
        engine="training stack",
        image="pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime",
        arch="x86_64",
        model_id="mistralai/Mistral-7B-v0.1",
        model_repo="mistralai/Mistral-7B-v0.1",
        gpu_model="A100-80GB",
        gpu_count=4,
        gpu_memory_gb=80,
        instance_type="p4de.24xlarge",
    ),
    "whisper-batch": DeploymentTarget(
        **BASE,
        name="whisper-large-v3",
        workload="batch",
        engine="vLLM",
        image="vllm/vllm-openai:v0.10.1",
        arch="x86_64",
        model_id="openai/whisper-large-v3",
        model_repo="openai/whisper-large-v3",
        replicas=3,
        gpu_model="L4",
        gpu_count=1,
        gpu_memory_gb=24,
        instance_type="g6.xlarge",
    ),
}
# Documents a day through an LLM: a nightly CronJob, two workers, the fp8 build on TP 2.
TARGETS["llm-nightly-batch"] = TARGETS["vllm-fp8-tp2"].model_copy(
    update={
        "workload": "batch",
        "batch_input": "requests",
        "schedule": "0 1 * * *",
        "replicas": 2,
        "max_model_len": 8192,
    }
)
TARGETS["llm-batch-once"] = TARGETS["llm-nightly-batch"].model_copy(update={"schedule": None})
TARGETS["pytorchjob"] = TARGETS["training-job"].model_copy(update={"launcher": "PyTorchJob"})
TARGETS["rayjob"] = TARGETS["training-job"].model_copy(
    update={"launcher": "RayJob", "image": "rayproject/ray:2.46.0-py311-gpu"}
)


@pytest.mark.parametrize("name", TARGETS)
def test_export_when_every_format_is_validated_then_no_errors(name, k8s_tools, tmp_path: Path):
    target = TARGETS[name]

    errors = validate_exports(target, tmp_path, k8s_tools)
    errors += check_compose_files([tmp_path / "compose" / "compose.yaml"])

    assert errors == []


@pytest.mark.parametrize("name", TARGETS)
def test_plan_artifacts_when_parsed_then_gpu_requests_match_the_target(name):
    target = TARGETS[name]
    artifacts = {a.filename: a for a in build_artifacts(target)}

    pods = [
        template["spec"]
        for doc in yaml.safe_load_all(artifacts["workload.yaml"].content)
        for template in pod_templates(doc)
    ]
    limits = [c["resources"]["limits"] for pod in pods for c in pod["containers"]]
    assert limits
    if target.cpu_only:
        assert all("nvidia.com/gpu" not in a.content for a in artifacts.values())
    else:
        assert all(lim["nvidia.com/gpu"] == target.gpu_count for lim in limits)
        assert all("affinity" in pod for pod in pods)


def test_skypilot_schema_when_a_field_is_misspelled_then_rejected():
    errors = skypilot_errors("resources:\n  cloud: aws\n  acelerators: {H100: 1}\nrun: echo\n")

    assert errors and "acelerators" in errors[0]


def test_skypilot_schema_when_an_unknown_cloud_or_top_level_key_then_rejected():
    errors = task_errors({"resources": {"cloud": "nocloud"}, "run": "echo", "command": "x"})

    assert any("nocloud" in e for e in errors)
    assert any("'command' was unexpected" in e for e in errors)


def test_skypilot_schema_is_skypilots_own_with_every_registry_it_reads_loaded():
    sources = schema_sources()

    assert all(sources.values()), sources
    assert "aws" in sources["clouds"] and "least_load" in sources["load balancing policies"]


def test_every_cloud_a_plan_names_in_its_task_is_one_skypilot_knows():
    clouds = schema_sources()["clouds"]

    assert sorted(SKYPILOT_CLOUDS - set(clouds)) == []
    assert all(task_errors({"resources": {"cloud": c}, "run": "echo"}) == [] for c in clouds)


def _workload(target: DeploymentTarget) -> dict:
    manifest = next(a for a in build_artifacts(target) if a.filename == "workload.yaml")
    return next(d for d in yaml.safe_load_all(manifest.content) if d["kind"] == "Deployment")


def test_ollama_when_probed_then_ready_only_once_its_model_is_pulled():
    target = TARGETS["ollama-cpu-arm"]

    (container,) = _workload(target)["spec"]["template"]["spec"]["containers"]

    assert container["readinessProbe"]["exec"]["command"] == ["ollama", "show", target.model_repo]
    assert container["livenessProbe"]["httpGet"]["path"] == "/"


def test_one_gpu_replica_then_recreate_and_several_then_rolling_with_a_budget():
    single = TARGETS["vllm-fp8-tp2"].model_copy(update={"replicas": 1})

    assert _workload(single)["spec"]["strategy"] == {"type": "Recreate"}
    assert "strategy" not in _workload(TARGETS["vllm-fp8-tp2"])["spec"]


def test_own_servers_then_the_skypilot_task_names_no_cloud():
    own = TARGETS["training-job"].model_copy(update={"provider": "own", "region": "on-premises"})

    task = yaml.safe_load(next(a for a in build_artifacts(own) if a.kind == "skypilot").content)

    assert "cloud" not in task["resources"] and "region" not in task["resources"]
    assert task["resources"]["accelerators"] == {"A100-80GB": 4}
    assert skypilot_errors(yaml.safe_dump(task)) == []


def _docs(target: DeploymentTarget) -> list[dict]:
    manifest = next(a for a in build_artifacts(target) if a.filename == "workload.yaml")
    return list(yaml.safe_load_all(manifest.content))


def test_audio_backlog_then_an_indexed_job_that_transcribes_its_share_and_ends():
    target = TARGETS["whisper-batch"]

    (job,) = _docs(target)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert job["kind"] == "Job" and pod["restartPolicy"] == "Never"
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3 == int(env["JOB_WORKERS"])
    assert "readinessProbe" not in container and "ports" not in container
    script = container["args"][0]
    assert "vllm serve openai/whisper-large-v3" in script
    assert "audio.transcriptions.create" in script and "JOB_COMPLETION_INDEX" in script
    claims = [v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"claimName": "whisper-large-v3-data"}]
    compile(script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0], "transcribe", "exec")


def test_audio_backlog_then_the_skypilot_task_syncs_the_audio_and_runs_to_the_end():
    task = yaml.safe_load(
        next(a for a in build_artifacts(TARGETS["whisper-batch"]) if a.kind == "skypilot").content
    )

    assert task["workdir"] == "." and task["envs"]["AUDIO_DIR"] == "audio"
    assert "JOB_WORKERS" not in task["envs"]  # one VM transcribes every file
    assert "ports" not in task["resources"]
    assert task_errors(task) == []


def test_training_with_the_training_operator_then_a_pytorchjob_master_with_the_gpus():
    target = TARGETS["pytorchjob"]

    (job,) = _docs(target)
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]
    (container,) = master["template"]["spec"]["containers"]

    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    assert container["name"] == "pytorch" and master["replicas"] == 1
    assert job["spec"]["nprocPerNode"] == "4" == container["command"][1].split("=")[1]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_training_with_kuberay_then_a_rayjob_whose_head_holds_the_gpus():
    target = TARGETS["rayjob"]

    (job,) = _docs(target)
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]
    (container,) = head["template"]["spec"]["containers"]

    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"] == "python train.py"
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    assert head["rayStartParams"]["num-gpus"] == "4"
    assert container["image"].startswith("rayproject/ray:")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_crd_check_when_a_field_is_misspelled_or_the_pod_is_wrong_then_rejected():
    (job,) = _docs(TARGETS["pytorchjob"])
    job["spec"]["pytorchReplicaSpec"] = job["spec"].pop("pytorchReplicaSpecs")
    (ray,) = _docs(TARGETS["rayjob"])
    head = ray["spec"]["rayClusterSpec"]["headGroupSpec"]
    head["template"]["spec"]["containers"][0]["imag"] = "x"

    assert any("pytorchReplicaSpec:" in e for e in crd_errors(yaml.safe_dump(job)))
    assert any("imag" in e for e in crd_errors(yaml.safe_dump(ray)))


def test_audio_backlog_then_no_server_stack_values_and_the_readme_says_job():
    target = TARGETS["whisper-batch"]

    files = {a.filename for a in build_artifacts(target)}
    text = readme(target)

    assert "vllm-stack-values.yaml" not in files
    server = build_artifacts(TARGETS["vllm-fp8-tp2"])
    assert "vllm-stack-values.yaml" in {a.filename for a in server}
    assert "A Job transcribing the audio on the whisper-large-v3-data volume" in text
    assert "A RayJob training" in readme(TARGETS["rayjob"])


def test_documents_a_day_through_an_llm_then_a_nightly_cronjob_running_run_batch_as_planned():
    target = TARGETS["llm-nightly-batch"]

    (cron,) = _docs(target)
    job = cron["spec"]["jobTemplate"]["spec"]
    (pod,) = [t["spec"] for t in pod_templates(cron)]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    script, name, *flags = container["args"]
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))

    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "0 1 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and pod["restartPolicy"] == "Never"
    assert job["completionMode"] == "Indexed" and job["completions"] == 2 == int(env["JOB_WORKERS"])
    assert container["command"] == ["/bin/sh", "-c"] and name == "run-batch"
    assert "vllm.entrypoints.openai.run_batch" in script and '"$@"' in script
    # The engine flags the plan sized, as a server would get them, and no port to serve on.
    assert pairs["--model"] == "meta-llama/Llama-3.1-70B-Instruct"
    assert pairs["--tensor-parallel-size"] == "2" and pairs["--quantization"] == "fp8"
    assert pairs["--max-model-len"] == "8192" and "--port" not in pairs
    assert "readinessProbe" not in container and "ports" not in container
    claims = [v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"claimName": "llama-3-1-70b-instruct-data"}]
    assert "vllm-stack-values.yaml" not in {a.filename for a in build_artifacts(target)}


def test_llm_batch_once_then_a_job_and_every_format_runs_the_same_flags():
    target = TARGETS["llm-batch-once"]
    files = {a.kind: a.content for a in build_artifacts(target)}

    (job,) = _docs(target)
    service = next(iter(yaml.safe_load(files["compose"])["services"].values()))
    task = yaml.safe_load(files["skypilot"])

    assert job["kind"] == "Job" and "schedule" not in job["spec"]
    # Compose would substitute the script's own variables: they are escaped, the flags are not.
    assert '"$$f"' in service["command"][0] and '"$f"' not in service["command"][0]
    assert service["command"][1:] == job["spec"]["template"]["spec"]["containers"][0]["args"][1:]
    assert "--tensor-parallel-size 2" in task["run"] and "run_batch" in task["run"]
    assert task["envs"] == {"REQUESTS_DIR": "requests", "RESULTS_DIR": "results"}
    assert "A Job running the OpenAI batch files" in readme(target)
    assert "A CronJob (0 1 * * *, UTC) starting a Job" in readme(TARGETS["llm-nightly-batch"])
