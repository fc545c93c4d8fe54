"""The plan as a zip over real HTTP: the same files the chat shows, for the chat's owner only."""

import io
import uuid
import zipfile

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(120.0)


@pytest.fixture(scope="module")
def api(authed_api):
    return authed_api


def _user(auth_stub):
    return {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}


def _chat(api, headers, text):
    chat_id = httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=TIMEOUT).json()[
        "conversation_id"
    ]
    body = {"conversation_id": chat_id, "message": text}
    turn = httpx.post(f"{api}/api/v1/chat/message", json=body, headers=headers, timeout=TIMEOUT)
    assert turn.status_code == 200, turn.text
    return chat_id, turn.json()


def test_plan_zip_then_every_format_and_the_files_the_chat_shows(api, auth_stub):
    alice = _user(auth_stub)
    chat_id, turn = _chat(api, alice, "Serve Llama 3.1 70B in fp8 for 20 users on AWS or GCP")

    response = httpx.get(f"{api}/api/v1/chat/{chat_id}/plan.zip", headers=alice, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "README.md",
        "helm/Chart.yaml",
        "helm/values.yaml",
        "helm/values.schema.json",
        "helm/templates/workload.yaml",
        "kustomize/kustomization.yaml",
        "kustomize/workload.yaml",
        "compose/compose.yaml",
        "skypilot/skypilot.yaml",
    } <= names
    shown = {a["filename"]: a["content"] for a in turn["deployment_plan"]["artifacts"]}
    assert archive.read("kustomize/workload.yaml").decode() == shown["workload.yaml"]
    assert archive.read("skypilot/skypilot.yaml").decode() == shown["skypilot.yaml"]


def test_plan_zip_of_another_users_chat_then_404(api, auth_stub):
    chat_id, _ = _chat(api, _user(auth_stub), "Serve Llama 3.1 8B for 5 users on AWS")

    response = httpx.get(
        f"{api}/api/v1/chat/{chat_id}/plan.zip", headers=_user(auth_stub), timeout=TIMEOUT
    )

    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "request_id"}


def test_plan_zip_of_a_chat_that_only_asked_questions_then_404(api, auth_stub):
    bob = _user(auth_stub)
    chat_id, turn = _chat(api, bob, "I want to deploy AI")

    response = httpx.get(f"{api}/api/v1/chat/{chat_id}/plan.zip", headers=bob, timeout=TIMEOUT)

    assert turn["response_type"] == "clarification"
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_cpu_only_plan_over_http_then_no_gpu_request_in_any_file(api, auth_stub):
    _, turn = _chat(api, _user(auth_stub), "Serve Llama 3.1 8B for 10 users, CPU only, no GPUs")

    plan = turn["deployment_plan"]
    workload = next(a for a in plan["artifacts"] if a["filename"] == "workload.yaml")
    docs = list(yaml.safe_load_all(workload["content"]))
    (pod,) = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]

    assert plan["deployment"]["cpu_only"] is True
    assert all("nvidia.com/gpu" not in a["content"] for a in plan["artifacts"])
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["requests"]
    assert not [s for s in plan["deployment_steps"] if "GPU" in s]
