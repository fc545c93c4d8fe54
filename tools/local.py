"""The user's own Kubernetes cluster: its nodes and their allocatable CPU, memory and GPUs.

Credentials come from ``$KUBECONFIG`` (its first file), an in-cluster service account, or
``~/.kube/config``, in that order, as kubectl and client-go find them. The kubeconfig is read
with PyYAML: the current context names a cluster (server, CA or insecure-skip-tls-verify) and
a user (bearer token or client certificate). Exec and auth-provider plugins are not run.
Nothing here raises: every failure is a "not connected" status with the reason.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_TIMEOUT_S = 3.0
GPU_RESOURCE = "nvidia.com/gpu"
GIB = 2**30

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)


class ClusterConfigError(ValueError):
    """Raised when a kubeconfig or service account cannot be turned into a connection."""


def parse_quantity(text: str | int | float) -> Decimal:
    """Parse a Kubernetes resource quantity ("16Gi", "7910m", "1", "1e3") into a number.

    Raises:
        ValueError: If ``text`` is not a quantity.

    """
    raw = str(text).strip()
    match = _QUANTITY.match(raw)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {raw!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:
        raise ValueError(f"not a Kubernetes quantity: {raw!r}") from exc
    if match["exponent"]:
        return number * Decimal(10) ** int(match["exponent"][1:])
    return number * _SUFFIXES[match["suffix"] or ""]


class Credentials(BaseModel):
    """How to reach one API server: where it is, whom to trust, who we are."""

    source: Literal["kubeconfig", "in-cluster"]
    server: str
    context: str | None = None
    ca_pem: str | None = None
    insecure: bool = False
    token: str | None = Field(default=None, repr=False)
    client_cert_pem: str | None = Field(default=None, repr=False)
    client_key_pem: str | None = Field(default=None, repr=False)


class NodeInfo(BaseModel):
    """One node's allocatable resources (what pods can use) and readiness."""

    name: str
    ready: bool
    cpu_cores: float
    memory_gib: float
    gpus: int
    gpu_product: str | None = None
    instance_type: str | None = None


class ClusterStatus(BaseModel):
    """The cluster as seen now, or why it could not be seen."""

    connected: bool
    reason: str | None = None
    source: Literal["kubeconfig", "in-cluster"] | None = None
    server: str | None = None
    context: str | None = None
    nodes: list[NodeInfo] = Field(default_factory=list)
    total_cpu_cores: float = 0.0
    total_memory_gib: float = 0.0
    total_gpus: int = 0


def _data_or_file(entry: Mapping[str, Any], key: str, base: Path) -> str | None:
    # kubeconfig gives PEM either inline (``<key>-data``, base64) or as a path relative to it.
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ClusterConfigError(f"{key}-data is not base64 PEM") from exc
    path = entry.get(key)
    if path:
        try:
            return (base / Path(path).expanduser()).read_text()
        except OSError as exc:
            raise ClusterConfigError(f"cannot read {key} file {path}") from exc
    return None


def _named(items: Any, name: str, kind: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(kind)
            if isinstance(value, dict):
                return value
    raise ClusterConfigError(f"kubeconfig has no {kind} named {name!r}")


def credentials_from_kubeconfig(path: Path) -> Credentials:
    """Read the current context of a kubeconfig file.

    Raises:
        ClusterConfigError: If the file is missing, not YAML, or lacks what the context needs.

    """
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ClusterConfigError(f"cannot read kubeconfig {path}") from exc
    except yaml.YAMLError as exc:
        raise ClusterConfigError(f"kubeconfig {path} is not valid YAML") from exc
    if not isinstance(config, dict) or not config.get("current-context"):
        raise ClusterConfigError(f"kubeconfig {path} has no current-context")
    name = str(config["current-context"])
    context = _named(config.get("contexts"), name, "context")
    cluster = _named(config.get("clusters"), str(context.get("cluster")), "cluster")
    user = _named(config.get("users"), str(context.get("user")), "user") if context.get(
        "user"
    ) else {}
    if not cluster.get("server"):
        raise ClusterConfigError(f"cluster of context {name!r} has no server")
    if "exec" in user or "auth-provider" in user:
        raise ClusterConfigError(
            f"user of context {name!r} uses an exec/auth-provider plugin, which is not run here; "
            "use a token or client certificate"
        )
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (base / Path(user["tokenFile"]).expanduser()).read_text().strip()
    return Credentials(
        source="kubeconfig",
        server=str(cluster["server"]).rstrip("/"),
        context=name,
        ca_pem=_data_or_file(cluster, "certificate-authority", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=token,
        client_cert_pem=_data_or_file(user, "client-certificate", base),
        client_key_pem=_data_or_file(user, "client-key", base),
    )


def credentials_in_cluster(env: Mapping[str, str], account_dir: Path) -> Credentials:
    """Build credentials from the pod's service account and the service environment.

    Raises:
        ClusterConfigError: If the token cannot be read.

    """
    host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host  # an IPv6 service address
    try:
        token = (account_dir / "token").read_text().strip()
    except OSError as exc:
        raise ClusterConfigError("cannot read the service account token") from exc
    ca_path = account_dir / "ca.crt"
    return Credentials(
        source="in-cluster",
        server=f"https://{host}:{port}",
        ca_pem=ca_path.read_text() if ca_path.is_file() else None,
        token=token,
    )


def find_credentials(
    env: Mapping[str, str], *, home: Path | None = None, account_dir: Path = SERVICE_ACCOUNT_DIR
) -> Credentials | None:
    """Find credentials as kubectl would: $KUBECONFIG, in-cluster, then ~/.kube/config.

    Returns:
        None when nothing is configured.

    Raises:
        ClusterConfigError: If a configuration is present but unusable.

    """
    if env.get("KUBECONFIG"):
        paths = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
        existing = [p for p in paths if p.is_file()]
        if not existing:
            raise ClusterConfigError("KUBECONFIG names no existing file")
        return credentials_from_kubeconfig(existing[0])
    if env.get("KUBERNETES_SERVICE_HOST") and (account_dir / "token").is_file():
        return credentials_in_cluster(env, account_dir)
    default = (home or Path.home()) / ".kube" / "config"
    return credentials_from_kubeconfig(default) if default.is_file() else None


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    """Build the TLS context: trust the cluster CA (or nothing, if insecure), present a cert.

    Raises:
        ClusterConfigError: If the CA or the client certificate/key cannot be loaded.

    """
    context = ssl.create_default_context()
    try:
        if creds.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif creds.ca_pem:
            context.load_verify_locations(cadata=creds.ca_pem)
        if creds.client_cert_pem and creds.client_key_pem:
            # The ssl module loads a key pair only from files: write them to a private
            # directory for the moment of loading, then delete them.
            with tempfile.TemporaryDirectory(prefix="stack8s-kube-") as tmp:
                cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
                cert.write_text(creds.client_cert_pem)
                key.touch(mode=0o600)
                key.write_text(creds.client_key_pem)
                context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise ClusterConfigError(f"cannot load TLS material: {type(exc).__name__}") from exc
    return context


def parse_node(item: Mapping[str, Any]) -> NodeInfo:
    """Turn one item of a NodeList into allocatable CPU cores, memory GiB and GPUs."""
    metadata, status = item.get("metadata") or {}, item.get("status") or {}
    labels = metadata.get("labels") or {}
    allocatable = status.get("allocatable") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return NodeInfo(
        name=str(metadata.get("name", "?")),
        ready=ready,
        cpu_cores=float(parse_quantity(allocatable.get("cpu", "0"))),
        memory_gib=round(float(parse_quantity(allocatable.get("memory", "0")) / GIB), 3),
        gpus=int(parse_quantity(allocatable.get(GPU_RESOURCE, "0"))),
        gpu_product=labels.get("nvidia.com/gpu.product"),
        instance_type=labels.get("node.kubernetes.io/instance-type"),
    )


async def list_nodes(creds: Credentials, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[NodeInfo]:
    """Call ``GET /api/v1/nodes`` and parse the NodeList.

    Raises:
        ClusterConfigError: If the TLS material is unusable.
        httpx.HTTPError: If the server cannot be reached or answers with an error.
        ValueError: If the answer is not a NodeList.

    """
    verify: ssl.SSLContext | bool = (
        ssl_context(creds) if creds.server.startswith("https://") else True
    )
    headers = {"Accept": "application/json"}
    if creds.token:
        headers["Authorization"] = f"Bearer {creds.token}"
    async with httpx.AsyncClient(verify=verify, timeout=timeout_s, trust_env=False) as client:
        response = await client.get(f"{creds.server}/api/v1/nodes", headers=headers)
        response.raise_for_status()
        body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError("the API server did not answer with a NodeList")
    return [parse_node(item) for item in body["items"]]


def _failure(exc: Exception) -> str:
    # Reasons name the failure, never a token or key; httpx messages carry only the URL.
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        hint = {401: "credentials rejected", 403: "not allowed to list nodes"}.get(code, "")
        return f"API server answered HTTP {code}" + (f" ({hint})" if hint else "")
    if isinstance(exc, httpx.TimeoutException):
        return "API server did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"cannot reach the API server: {type(exc).__name__}"
    return str(exc)


async def cluster_status(
    env: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    account_dir: Path = SERVICE_ACCOUNT_DIR,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ClusterStatus:
    """Report the cluster's nodes and allocatable resources, or why it is not connected."""
    env = os.environ if env is None else env
    try:
        creds = find_credentials(env, home=home, account_dir=account_dir)
    except (ClusterConfigError, OSError) as exc:
        return ClusterStatus(connected=False, reason=f"kubernetes config unusable: {exc}")
    if creds is None:
        return ClusterStatus(
            connected=False,
            reason="no KUBECONFIG, in-cluster service account or ~/.kube/config found",
        )
    where = ClusterStatus(
        connected=False, source=creds.source, server=creds.server, context=creds.context
    )
    try:
        nodes = await list_nodes(creds, timeout_s=timeout_s)
    except (httpx.HTTPError, ClusterConfigError, ValueError) as exc:
        logger.info("cluster not connected: %s", type(exc).__name__)
        return where.model_copy(update={"reason": _failure(exc)})
    return where.model_copy(
        update={
            "connected": True,
            "nodes": nodes,
            "total_cpu_cores": round(sum(n.cpu_cores for n in nodes), 3),
            "total_memory_gib": round(sum(n.memory_gib for n in nodes), 3),
            "total_gpus": sum(n.gpus for n in nodes),
        }
    )
