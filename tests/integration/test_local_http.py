"""Local cluster status against a local API server answering with a real-shaped NodeList."""

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools.local import cluster_status

TOKEN = "t0ken-for-tests"

# A trimmed NodeList as `kubectl get nodes -o json` returns it.
NODE_LIST = {
    "kind": "NodeList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "12345"},
    "items": [
        {
            "metadata": {
                "name": "gpu-node-1",
                "labels": {
                    "kubernetes.io/hostname": "gpu-node-1",
                    "node.kubernetes.io/instance-type": "g5.2xlarge",
                    "nvidia.com/gpu.product": "NVIDIA-A10G",
                },
            },
            "spec": {"providerID": "aws:///us-east-1a/i-0abc"},
            "status": {
                "capacity": {"cpu": "8", "memory": "32212254720", "nvidia.com/gpu": "1"},
                "allocatable": {"cpu": "7910m", "memory": "31094780Ki", "nvidia.com/gpu": "1",
                                "pods": "58"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ],
            },
        },
        {
            "metadata": {"name": "cpu-node-1", "labels": {}},
            "status": {
                "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    ],
}


class _ApiServer(BaseHTTPRequestHandler):
    delay_s = 0.0
    body: object = NODE_LIST

    def do_GET(self):  # noqa: N802 - the http.server API
        time.sleep(self.delay_s)
        if self.path != "/api/v1/nodes":
            self.send_error(404)
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" and not self._client_cert():
            self.send_response(401)
            self.end_headers()
            return
        payload = json.dumps(self.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _client_cert(self):
        getpeercert = getattr(self.connection, "getpeercert", None)
        return bool(getpeercert and getpeercert())

    def log_message(self, *args):
        pass


def _serve(handler, context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def http_server():
    server = _serve(_ApiServer)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _kubeconfig(tmp_path, cluster, user):
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "test",
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return {"KUBECONFIG": str(path)}


async def test_status_when_api_answers_node_list_then_connected_with_allocatable_totals(
    tmp_path, http_server
):
    env = _kubeconfig(tmp_path, {"server": http_server}, {"token": TOKEN})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is True
    assert (status.source, status.context, status.server) == ("kubeconfig", "test", http_server)
    assert [n.name for n in status.nodes] == ["gpu-node-1", "cpu-node-1"]
    assert status.nodes[0].gpus == 1 and status.nodes[0].gpu_product == "NVIDIA-A10G"
    assert status.total_cpu_cores == pytest.approx(7.91 + 3.92)
    assert status.total_memory_gib == pytest.approx(31094780 / 2**20 + 15, abs=1e-2)
    assert status.total_gpus == 1


async def test_status_when_token_rejected_then_not_connected_says_401(tmp_path, http_server):
    env = _kubeconfig(tmp_path, {"server": http_server}, {"token": "wrong"})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is False
    assert status.reason == "API server answered HTTP 401 (credentials rejected)"
    assert "wrong" not in status.model_dump_json()


async def test_status_when_server_too_slow_then_not_connected_in_time(tmp_path):
    slow = type("Slow", (_ApiServer,), {"delay_s": 1.0})
    server = _serve(slow)
    env = _kubeconfig(
        tmp_path, {"server": f"http://127.0.0.1:{server.server_address[1]}"}, {"token": TOKEN}
    )

    status = await cluster_status(env, home=tmp_path, timeout_s=0.2)
    server.shutdown()

    assert status.connected is False
    assert status.reason == "API server did not answer in time"


async def test_status_when_answer_is_not_a_node_list_then_not_connected(tmp_path):
    odd = type("Odd", (_ApiServer,), {"body": {"kind": "Status", "items": "nope"}})
    server = _serve(odd)
    env = _kubeconfig(
        tmp_path, {"server": f"http://127.0.0.1:{server.server_address[1]}"}, {"token": TOKEN}
    )

    status = await cluster_status(env, home=tmp_path)
    server.shutdown()

    assert status.connected is False
    assert "NodeList" in status.reason


async def test_status_when_nothing_listens_then_not_connected_cannot_reach(tmp_path):
    server = _serve(_ApiServer)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    env = _kubeconfig(tmp_path, {"server": f"http://127.0.0.1:{port}"}, {"token": TOKEN})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is False
    assert status.reason.startswith("cannot reach the API server")


def _cert(subject, issuer_key, key, issuer=None, *, ca=False):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert=None, key=None):
    if cert is not None:
        return cert.public_bytes(serialization.Encoding.PEM)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, ca_key, ca=True)
    out = {"ca": _pem(ca)}
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, ca_key, key, issuer=ca.subject)
        out[name] = _pem(cert)
        out[f"{name}_key"] = _pem(key=key)
        (folder / f"{name}.crt").write_bytes(out[name])
        (folder / f"{name}.key").write_bytes(out[f"{name}_key"])
    (folder / "ca.crt").write_bytes(out["ca"])
    out["dir"] = folder
    return out


@pytest.fixture
def https_server(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["dir"] / "server.crt", pki["dir"] / "server.key")
    context.load_verify_locations(pki["dir"] / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL  # a client cert authenticates, else the token
    server = _serve(_ApiServer, context)
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _b64(data):
    return base64.b64encode(data).decode()


async def test_https_when_ca_data_trusted_then_connected(tmp_path, pki, https_server):
    cluster = {"server": https_server, "certificate-authority-data": _b64(pki["ca"])}
    env = _kubeconfig(tmp_path, cluster, {"token": TOKEN})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is True and len(status.nodes) == 2


async def test_https_when_client_certificate_data_then_authenticated_without_token(
    tmp_path, pki, https_server
):
    cluster = {"server": https_server, "certificate-authority-data": _b64(pki["ca"])}
    user = {
        "client-certificate-data": _b64(pki["client"]),
        "client-key-data": _b64(pki["client_key"]),
    }
    env = _kubeconfig(tmp_path, cluster, user)

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is True


async def test_https_when_ca_unknown_then_not_connected(tmp_path, https_server):
    env = _kubeconfig(tmp_path, {"server": https_server}, {"token": TOKEN})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is False
    assert status.reason.startswith("cannot reach the API server")


async def test_https_when_insecure_skip_tls_verify_then_connected_without_ca(
    tmp_path, https_server
):
    cluster = {"server": https_server, "insecure-skip-tls-verify": True}
    env = _kubeconfig(tmp_path, cluster, {"token": TOKEN})

    status = await cluster_status(env, home=tmp_path)

    assert status.connected is True
