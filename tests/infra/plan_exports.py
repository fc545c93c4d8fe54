"""Validate what ``stack8s export`` writes, each format with its own tooling.

kustomize and Helm render with the real kubectl and helm and the output is checked against
the Kubernetes schemas (strict); compose files against the compose spec; SkyPilot tasks
against SkyPilot's own task and resources schemas (tests/infra/skypilot_schema.py); the
chart's values against its values.schema.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from agents.artifacts.bundle import write_export
from agents.artifacts.target import DeploymentTarget
from tests.infra.crd_checks import CRD_KINDS, crd_errors
from tests.infra.k8s_tools import K8sTools
from tests.infra.k8s_validation import validate_k8s_yaml
from tests.infra.skypilot_schema import task_errors


def check_compose_files(paths: list[Path]) -> list[str]:
    """Return the compose-spec errors of these files (one check-jsonschema call for all)."""
    if not paths:
        return []
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


def skypilot_errors(text: str) -> list[str]:
    """Return the errors SkyPilot's own schema (the installed package) finds in a task file."""
    return task_errors(yaml.safe_load(text))


def _k8s_errors(text: str) -> list[str]:
    """Return core-schema errors, and the custom resources' (PyTorchJob, RayJob) own checks."""
    return validate_k8s_yaml(text, skip_kinds=CRD_KINDS) + crd_errors(text)


def lint_charts(charts: list[Path], tools: K8sTools) -> list[str]:
    """Return what ``helm lint --strict`` finds in these charts (one helm call when all pass).

    A failing batch is linted again chart by chart, so that each error names its chart.
    """
    if not charts:
        return []
    if tools.run("helm", "lint", "--strict", *charts, check=False).returncode == 0:
        return []
    errors: list[str] = []
    for chart in charts:
        lint = tools.run("helm", "lint", "--strict", chart, check=False)
        if lint.returncode != 0:
            errors.append(f"helm lint {chart}: {lint.stdout}{lint.stderr}")
    return errors


def validate_exports(
    target: DeploymentTarget, out: Path, tools: K8sTools, *, lint: bool = True
) -> list[str]:
    """Export every format under ``out`` and return every validation error found.

    Compose files are only written here; check them in one batch with check_compose_files.
    With ``lint=False`` the Helm chart (``out / "helm"``) is rendered and checked but not
    linted: lint many charts in one batch with lint_charts.
    """
    errors: list[str] = []
    kustomize = out / "kustomize"
    write_export(target, "kustomize", kustomize)
    errors += [f"kustomize: {e}" for e in _k8s_errors(tools.kustomize(kustomize))]
    chart = out / "helm"
    write_export(target, "helm", chart)
    linted = lint_charts([chart], tools) if lint else []
    if linted:
        errors += linted
    else:
        errors += [f"helm: {e}" for e in _k8s_errors(tools.helm_template(chart))]
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    checker = jsonschema.Draft7Validator(schema)
    errors += [f"helm values: {e.message}" for e in checker.iter_errors(values)]
    write_export(target, "compose", out / "compose")
    write_export(target, "skypilot", out / "skypilot")
    sky = (out / "skypilot" / "skypilot.yaml").read_text()
    errors += [f"skypilot: {e}" for e in skypilot_errors(sky)]
    return errors
