"""How each engine is started: image per hardware, command, arguments, port, health check."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from agents.artifacts.hardware import Arch, compute_capability
from agents.artifacts.target import DeploymentTarget

VLLM_IMAGE = "vllm/vllm-openai:v0.10.1"
OLLAMA_IMAGE = "ollama/ollama:0.11.4"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.07-py3"
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.4"
TRTLLM_IMAGE = "nvcr.io/nvidia/tritonserver:25.07-trtllm-python-py3"
TEI_VERSION = "1.8"
# pytorch/pytorch is built for x86_64 only; NVIDIA's NGC PyTorch image also ships arm64.
TRAINING_IMAGE = "pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime"
TRAINING_IMAGE_ARM = "nvcr.io/nvidia/pytorch:25.07-py3"
# A RayJob's cluster runs Ray's own image (the training script needs Ray Train in it).
RAY_VERSION = "2.46.0"
RAY_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311-gpu"
RAY_IMAGE_CPU = f"rayproject/ray:{RAY_VERSION}-py311"
# Images published for both architectures; every other one is x86_64 only.
MULTI_ARCH = frozenset({OLLAMA_IMAGE, TRITON_IMAGE, TRAINING_IMAGE_ARM})
# Where a batch job reads its inputs and writes its outputs (a volume the user fills).
DATA_DIR = "/data"


def tei_image(gpu_model: str | None, cpu_only: bool) -> str:
    """Return TEI's image for the GPU generation: TEI ships one build per compute capability."""
    if cpu_only:
        return f"ghcr.io/huggingface/text-embeddings-inference:cpu-{TEI_VERSION}"
    cap = compute_capability(gpu_model)
    if cap is None or cap >= 9.0:
        prefix = "hopper-"
    elif cap >= 8.9:
        prefix = "89-"
    elif cap >= 8.6:
        prefix = "86-"
    elif cap >= 8.0:
        prefix = ""
    else:
        prefix = "turing-"
    return f"ghcr.io/huggingface/text-embeddings-inference:{prefix}{TEI_VERSION}"


def image_for(engine: str, gpu_model: str | None, cpu_only: bool, arch: Arch) -> str:
    """Return the engine's image for the hardware (GPU generation, CPU, architecture)."""
    if engine == "TEI":
        return tei_image(gpu_model, cpu_only)
    if engine == "training stack":
        return TRAINING_IMAGE_ARM if arch == "arm64" else TRAINING_IMAGE
    return {
        "vLLM": VLLM_IMAGE,
        "Ollama": OLLAMA_IMAGE,
        "Triton": TRITON_IMAGE,
        "TGI": TGI_IMAGE,
        "TensorRT-LLM": TRTLLM_IMAGE,
    }[engine]


def ray_image(cpu_only: bool) -> str:
    """Return Ray's image for a RayJob's cluster (x86_64 builds)."""
    return RAY_IMAGE_CPU if cpu_only else RAY_IMAGE


def image_arches(image: str) -> tuple[Arch, ...]:
    """Return the CPU architectures an image is published for."""
    return ("x86_64", "arm64") if image in MULTI_ARCH else ("x86_64",)


@dataclass(frozen=True)
class Server:
    """The container's start-up: command and args, the port it serves, its health path."""

    command: list[str] | None
    args: list[str]
    port: int | None
    health_path: str | None
    env: dict[str, str] = field(default_factory=dict)
    model_volume: str | None = None
    """Where the container keeps downloaded weights (a volume is mounted there)."""
    ready_command: list[str] | None = None
    """A command that succeeds once the model is loaded, where the health path says less."""
    data_volume: str | None = None
    """Where a batch job's inputs and outputs live (a volume the user provides)."""


def vllm_args(target: DeploymentTarget, *, port: bool = True) -> list[str]:
    """Return vLLM's flags: the sized precision, parallelism, context and memory share."""
    args = ["--model", target.model_repo or ""] + (["--port", "8000"] if port else [])
    if target.model_id and target.model_repo != target.model_id:
        args += ["--served-model-name", target.model_id]
    args += ["--tensor-parallel-size", str(target.tensor_parallel)]
    if target.quantization:
        args += ["--quantization", target.quantization]
    elif target.dtype:
        args += ["--dtype", target.dtype]
    args += ["--kv-cache-dtype", target.kv_cache_dtype]
    if target.max_model_len:
        args += ["--max-model-len", str(target.max_model_len)]
    if target.gpu_memory_utilization:
        args += ["--gpu-memory-utilization", f"{target.gpu_memory_utilization:g}"]
    return args


# A batch transcription: start vLLM in the container, wait for it, send every audio file
# of this worker's share (Indexed Job: JOB_COMPLETION_INDEX of JOB_WORKERS) to its
# /v1/audio/transcriptions endpoint, write one .txt per file, skip those already written (a
# retried pod resumes), then stop. One machine (compose, SkyPilot) does every file. The OpenAI
# client ships in the vLLM image.
_TRANSCRIBE = """\
import os, pathlib, time, urllib.request
from openai import OpenAI
model = os.environ["MODEL_ID"]
audio = pathlib.Path(os.environ.get("AUDIO_DIR", "/data/audio"))
out = pathlib.Path(os.environ.get("OUT_DIR", "/data/transcripts"))
index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
workers = int(os.environ.get("JOB_WORKERS", "1"))
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=5)
        break
    except OSError:
        time.sleep(10)
client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
files = sorted(p for p in audio.rglob("*") if p.is_file())
for number, path in enumerate(files):
    if number % workers != index:
        continue
    target = out / (str(path.relative_to(audio)) + ".txt")
    if target.exists():
        continue
    target.parent.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as f:
        text = client.audio.transcriptions.create(model=model, file=f).text
    target.write_text(text)
"""


def batch_transcription(target: DeploymentTarget) -> Server:
    """Return a batch job that transcribes an audio backlog with vLLM's Whisper endpoint."""
    serve = shlex.join(["vllm", "serve", target.model_repo or "", "--port", "8000"])
    script = (
        f"{serve} & server=$!; python3 - <<'PY'\n{_TRANSCRIBE}PY\n"
        "status=$?; kill $server; exit $status"
    )
    env = {
        "MODEL_ID": target.model_repo or "",
        "AUDIO_DIR": f"{DATA_DIR}/audio",
        "OUT_DIR": f"{DATA_DIR}/transcripts",
    }
    return Server(
        ["/bin/sh", "-c"],
        [script],
        None,
        None,
        env,
        "/root/.cache/huggingface",
        data_volume=DATA_DIR,
    )


# An LLM batch: every OpenAI batch file (JSONL, one request a line) of this worker's share
# (Indexed Job: JOB_COMPLETION_INDEX of JOB_WORKERS) goes through vLLM's run_batch with the
# engine flags the plan sized, passed as the script's arguments ("$@") so that the files show
# them as they show a server's. A file's results are written aside and moved into place when
# complete, so a retried worker (or tomorrow's run) skips the files already done.
_RUN_BATCH = """\
mkdir -p "$RESULTS_DIR"; i=0; status=0
for f in "$REQUESTS_DIR"/*.jsonl; do
  [ -e "$f" ] || continue
  if [ $((i % ${JOB_WORKERS:-1})) -eq "${JOB_COMPLETION_INDEX:-0}" ]; then
    out="$RESULTS_DIR/$(basename "$f")"
    if [ ! -e "$out" ]; then
      python3 -m vllm.entrypoints.openai.run_batch -i "$f" -o "$out.partial" "$@" \\
        && mv "$out.partial" "$out" || status=1
    fi
  fi
  i=$((i + 1))
done
exit $status
"""


def batch_generation(target: DeploymentTarget) -> Server:
    """Return a batch job that runs OpenAI batch files through vLLM's run_batch."""
    env = {"REQUESTS_DIR": f"{DATA_DIR}/requests", "RESULTS_DIR": f"{DATA_DIR}/results"}
    return Server(
        ["/bin/sh", "-c"],
        [_RUN_BATCH, "run-batch", *vllm_args(target, port=False)],
        None,
        None,
        env,
        "/root/.cache/huggingface",
        data_volume=DATA_DIR,
    )


def server(target: DeploymentTarget) -> Server:
    """Return how the target's engine starts and is probed."""
    hf_cache = "/root/.cache/huggingface"
    if target.workload == "batch" and target.engine == "vLLM":
        if target.batch_input == "requests":
            return batch_generation(target)
        return batch_transcription(target)  # audio (plans stored before requests existed)
    if target.engine == "vLLM":
        return Server(None, vllm_args(target), 8000, "/health", model_volume=hf_cache)
    if target.engine == "TEI":
        args = ["--model-id", target.model_repo or "", "--port", "8080"]
        return Server(None, args, 8080, "/health", model_volume="/data")
    if target.engine == "Ollama":
        # Ollama has no flag to pull at start-up: serve, pull the model, then keep serving.
        model = target.model_repo or ""
        script = f'ollama serve & server=$!; sleep 5; ollama pull "{model}"; wait $server'
        env = {"OLLAMA_HOST": "0.0.0.0:11434"}
        if target.max_model_len:
            env["OLLAMA_CONTEXT_LENGTH"] = str(target.max_model_len)
        # "/" answers while the model is still downloading; ready means the model is there.
        return Server(
            ["/bin/sh", "-c"], [script], 11434, "/", env, "/root/.ollama", ["ollama", "show", model]
        )
    if target.engine == "Triton":
        args = ["tritonserver", "--model-repository=/models"]
        return Server(None, args, 8000, "/v2/health/ready", model_volume="/models")
    if target.engine == "TGI":
        args = ["--model-id", target.model_repo or "", "--port", "80"]
        args += ["--num-shard", str(target.tensor_parallel)]
        if target.max_model_len:
            args += ["--max-total-tokens", str(target.max_model_len)]
        return Server(None, args, 80, "/health", model_volume="/data")
    if target.engine == "TensorRT-LLM":
        args = ["tritonserver", "--model-repository=/models"]
        return Server(None, args, 8000, "/v2/health/ready", model_volume="/models")
    if target.launcher == "RayJob":
        # The RayJob's entrypoint runs the script; the container only starts Ray's head.
        return Server(None, [], None, None, {"MODEL_ID": target.model_repo or ""}, "/checkpoints")
    command = ["torchrun", f"--nproc_per_node={max(target.gpu_count, 1)}", "train.py"]
    env = {"MODEL_ID": target.model_repo or ""}
    return Server(command, [], None, None, env, "/checkpoints")
