"""A plan to take away: one directory per format, and the same files as a zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from agents.artifacts.build import FORMATS, ExportFormat, export_files
from agents.artifacts.target import DeploymentTarget

# How to run each format's directory ({dir}) once written.
HOW_TO_RUN: dict[ExportFormat, str] = {
    "helm": "helm install {name} {dir}",
    "kustomize": "kubectl apply -k {dir}",
    "compose": "docker compose -f {dir}/compose.yaml up",
    "skypilot": "sky launch {dir}/skypilot.yaml",
}


class NoDeploymentError(ValueError):
    """The plan has no deployment configuration (no instance fits): nothing to export."""


def _what(target: DeploymentTarget) -> str:
    model = target.model_repo or "the workload"
    if target.workload == "batch" and target.batch_input != "requests":
        return (
            f"A Job transcribing the audio on the {target.name}-data volume (audio/ in, "
            f"transcripts/ out) with {target.engine} and {model}"
        )
    if target.workload == "batch":
        when = f"A CronJob ({target.schedule}, UTC) starting a Job" if target.schedule else "A Job"
        return (
            f"{when} running the OpenAI batch files on the {target.name}-data volume "
            f"(requests/ in, results/ out) through vLLM's run_batch with {model}"
        )
    if target.workload == "train":
        return f"A {target.launcher} training {model}"
    return f"{target.engine} serving {model}"


def readme(target: DeploymentTarget) -> str:
    """Return the README of the bundle: what it runs and the command of each format."""
    hardware = (
        "CPU only"
        if target.cpu_only
        else f"{target.gpu_count}× {target.gpu_model} (tensor parallel {target.tensor_parallel})"
    )
    lines = [
        f"# {target.name}",
        "",
        f"{_what(target)} on {target.provider} {target.instance_type} ({target.region}), "
        f"{hardware}.",
        "",
        "| format | run |",
        "|---|---|",
    ]
    lines += [
        f"| {fmt} | `{HOW_TO_RUN[fmt].format(name=target.name, dir=fmt)}` |" for fmt in FORMATS
    ]
    if target.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in target.notes]
    return "\n".join(lines) + "\n"


def write_export(target: DeploymentTarget, fmt: ExportFormat, out: Path) -> list[Path]:
    """Write one format's files under ``out`` and return their paths."""
    written = []
    for relative, content in export_files(target, fmt).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def zip_bundle(target: DeploymentTarget) -> bytes:
    """Return every format as a zip: ``<format>/<file>`` and a README.md."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.md", readme(target))
        for fmt in FORMATS:
            for relative, content in export_files(target, fmt).items():
                archive.writestr(f"{fmt}/{relative}", content)
    return buffer.getvalue()
