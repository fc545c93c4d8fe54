"""Local cluster: quantities, NodeList parsing, kubeconfig reading and where config is found."""

import base64
from decimal import Decimal

import pytest
import yaml

from tools.formatting import format_cluster
from tools.local import (
    ClusterConfigError,
    ClusterStatus,
    NodeInfo,
    cluster_status,
    credentials_from_kubeconfig,
    find_credentials,
    parse_node,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16Gi", Decimal(16 * 2**30)),
        ("7910m", Decimal("7.91")),
        ("1", Decimal(1)),
        ("64453520Ki", Decimal(64453520 * 1024)),
        ("128G", Decimal(128 * 10**9)),
        ("1e3", Decimal(1000)),
        ("2E", Decimal(2 * 10**18)),
        ("0.5", Decimal("0.5")),
        ("250u", Decimal("0.00025")),
        (8, Decimal(8)),
    ],
)
def test_parse_quantity_when_kubernetes_notation_then_exact_value(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "16GiB", "1.2.3", "ten", "16 Gi"])
def test_parse_quantity_when_not_a_quantity_then_value_error(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def _node(name="gpu-1", ready="True", **allocatable):
    return {
        "metadata": {
            "name": name,
            "labels": {
                "nvidia.com/gpu.product": "NVIDIA-A10G",
                "node.kubernetes.io/instance-type": "g5.2xlarge",
            },
        },
        "status": {
            "allocatable": allocatable,
            "capacity": {"cpu": "8", "memory": "32Gi"},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def test_parse_node_when_gpu_node_then_allocatable_cpu_memory_and_gpus():
    item = _node(cpu="7910m", memory="31Gi", **{"nvidia.com/gpu": "1"})

    node = parse_node(item)

    assert node == NodeInfo(
        name="gpu-1",
        ready=True,
        cpu_cores=7.91,
        memory_gib=31.0,
        gpus=1,
        gpu_product="NVIDIA-A10G",
        instance_type="g5.2xlarge",
    )


def test_parse_node_when_no_gpu_resource_and_not_ready_then_zero_gpus_and_not_ready():
    node = parse_node(_node(ready="False", cpu="2", memory="4026544Ki"))

    assert (node.gpus, node.ready) == (0, False)
    assert node.memory_gib == pytest.approx(4026544 / 2**20, abs=1e-3)


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _kubeconfig(tmp_path, user=None, cluster=None, current="dev"):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "contexts": [
            {"name": "dev", "context": {"cluster": "c1", "user": "u1"}},
            {"name": "prod", "context": {"cluster": "c2", "user": "u2"}},
        ],
        "clusters": [
            {"name": "c1", "cluster": cluster or {"server": "https://10.0.0.1:6443/"}},
            {"name": "c2", "cluster": {"server": "https://prod:6443"}},
        ],
        "users": [
            {"name": "u1", "user": user if user is not None else {"token": "t0ken"}},
            {"name": "u2", "user": {"token": "prod-token"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


def test_kubeconfig_when_token_user_then_current_context_server_and_token(tmp_path):
    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path))

    assert (creds.source, creds.context, creds.server) == ("kubeconfig", "dev", "https://10.0.0.1:6443")
    assert creds.token == "t0ken"
    assert "t0ken" not in repr(creds)


def test_kubeconfig_when_other_current_context_then_its_cluster_and_user(tmp_path):
    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path, current="prod"))

    assert (creds.server, creds.token) == ("https://prod:6443", "prod-token")


def test_kubeconfig_when_ca_data_and_client_cert_data_then_pem_decoded(tmp_path):
    cluster = {"server": "https://k:6443", "certificate-authority-data": _b64("CA PEM")}
    user = {"client-certificate-data": _b64("CERT PEM"), "client-key-data": _b64("KEY PEM")}

    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path, user=user, cluster=cluster))

    assert (creds.ca_pem, creds.client_cert_pem, creds.client_key_pem) == (
        "CA PEM", "CERT PEM", "KEY PEM"
    )
    assert creds.token is None


def test_kubeconfig_when_ca_file_relative_then_read_next_to_the_config(tmp_path):
    (tmp_path / "ca.crt").write_text("FILE CA")
    cluster = {"server": "https://k:6443", "certificate-authority": "ca.crt"}

    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path, cluster=cluster))

    assert creds.ca_pem == "FILE CA"


def test_kubeconfig_when_token_file_relative_then_read_next_to_the_config(tmp_path):
    (tmp_path / "token").write_text("file-token\n")

    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path, user={"tokenFile": "token"}))

    assert creds.token == "file-token"


def test_kubeconfig_when_insecure_skip_tls_verify_then_insecure(tmp_path):
    cluster = {"server": "https://k:6443", "insecure-skip-tls-verify": True}

    creds = credentials_from_kubeconfig(_kubeconfig(tmp_path, cluster=cluster))

    assert creds.insecure is True


def test_kubeconfig_when_exec_plugin_then_config_error_says_so(tmp_path):
    user = {"exec": {"command": "aws", "args": ["eks", "get-token"]}}

    with pytest.raises(ClusterConfigError, match="exec/auth-provider"):
        credentials_from_kubeconfig(_kubeconfig(tmp_path, user=user))


@pytest.mark.parametrize("text", ["", "a: [", "just text", "current-context: missing"])
def test_kubeconfig_when_malformed_then_config_error(tmp_path, text):
    path = tmp_path / "config"
    path.write_text(text)

    with pytest.raises(ClusterConfigError):
        credentials_from_kubeconfig(path)


def test_find_credentials_when_kubeconfig_env_then_it_wins_over_in_cluster(tmp_path):
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("sa-token")
    env = {"KUBECONFIG": str(_kubeconfig(tmp_path)), "KUBERNETES_SERVICE_HOST": "10.96.0.1"}

    creds = find_credentials(env, home=tmp_path, account_dir=account)

    assert creds.source == "kubeconfig"


def test_find_credentials_when_service_account_then_in_cluster_server_and_token(tmp_path):
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("SA CA")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    creds = find_credentials(env, home=tmp_path, account_dir=tmp_path)

    assert (creds.source, creds.server) == ("in-cluster", "https://10.96.0.1:443")
    assert (creds.token, creds.ca_pem) == ("sa-token", "SA CA")


def test_find_credentials_when_nothing_configured_then_none(tmp_path):
    assert find_credentials({}, home=tmp_path, account_dir=tmp_path / "none") is None


def test_find_credentials_when_home_kube_config_then_used(tmp_path):
    (tmp_path / ".kube").mkdir()
    _kubeconfig(tmp_path / ".kube")

    creds = find_credentials({}, home=tmp_path, account_dir=tmp_path / "none")

    assert creds.context == "dev"


async def test_cluster_status_when_nothing_configured_then_not_connected_with_reason(tmp_path):
    status = await cluster_status({}, home=tmp_path, account_dir=tmp_path / "none")

    assert status.connected is False
    assert "no KUBECONFIG" in status.reason


async def test_cluster_status_when_kubeconfig_env_names_missing_file_then_not_connected(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "absent")}

    status = await cluster_status(env, home=tmp_path, account_dir=tmp_path)

    assert status.connected is False
    assert "KUBECONFIG names no existing file" in status.reason


def test_format_cluster_when_connected_then_totals_and_one_line_per_node():
    status = ClusterStatus(
        connected=True,
        source="kubeconfig",
        server="https://k:6443",
        context="dev",
        nodes=[NodeInfo(name="n1<x>", ready=True, cpu_cores=4, memory_gib=15.5, gpus=2,
                        gpu_product="NVIDIA-L4")],
        total_cpu_cores=4,
        total_memory_gib=15.5,
        total_gpus=2,
    )

    text = format_cluster(status)

    assert "1 nodes, allocatable 4 CPU cores, 15.5 GiB, 2 nvidia.com/gpu" in text
    assert "- n1‹x›: ready, 4 CPU, 15.5 GiB, 2× NVIDIA-L4" in text
