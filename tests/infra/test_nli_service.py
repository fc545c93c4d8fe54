"""The NLI service's HTTP contract, over real HTTP (uvicorn on a loopback port)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from tests.infra.layout import INFRA
from tests.support.live_server import serve_asgi

NLI_SOURCE = INFRA / "nli-service" / "nli_service.py"


def _load_service() -> ModuleType:
    # infra/nli-service is not a package (the dash), so load the file under a module name;
    # registering it first lets pydantic resolve the module's postponed annotations.
    spec = importlib.util.spec_from_file_location("stack8s_nli_service", NLI_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


nli_service = _load_service()


class KeywordScorer:
    """Deterministic: 'not' in the hypothesis contradicts, a hypothesis inside the premise
    is entailed, anything else is neutral."""

    name = "test/keyword-scorer"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        rows = []
        for premise, hypothesis in pairs:
            if "not" in hypothesis.lower().split():
                rows.append({"entailment": 0.05, "neutral": 0.15, "contradiction": 0.8})
            elif hypothesis.lower() in premise.lower():
                rows.append({"entailment": 0.9, "neutral": 0.07, "contradiction": 0.03})
            else:
                rows.append({"entailment": 0.2, "neutral": 0.7, "contradiction": 0.1})
        return rows


class ExplodingScorer:
    name = "test/exploding"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        raise RuntimeError("secret-token-in-exception-text")


def wait_until_settled(client: httpx.Client) -> httpx.Response:
    """Poll /health until the background loader has finished (bounded)."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/health")
        if response.json().get("status") != "loading" or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


@pytest.fixture(scope="module")
def ready() -> Iterator[httpx.Client]:
    app = nli_service.create_app(KeywordScorer())
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def missing_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    # The real loader with a configured path that does not exist.
    absent = tmp_path_factory.mktemp("models") / "nli-model-that-is-not-there"
    settings = nli_service.NliSettings(nli_model_path=str(absent))
    app = nli_service.create_app(settings=settings)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        wait_until_settled(client)
        yield client


PAIR = {"premise": "The API runs on two H100 GPUs.", "hypothesis": "The API does not use GPUs."}


def test_nli_when_contradiction_then_probabilities_and_label(ready: httpx.Client) -> None:
    response = ready.post("/nli", json=PAIR)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "entailment": 0.05,
        "neutral": 0.15,
        "contradiction": 0.8,
        "label": "contradiction",
    }


def test_nli_probabilities_sum_to_one(ready: httpx.Client) -> None:
    body = ready.post("/nli", json={"premise": "a b c", "hypothesis": "b"}).json()

    assert body["label"] == "entailment"
    assert sum(body[label] for label in nli_service.LABELS) == pytest.approx(1.0)


def test_nli_batch_when_pairs_then_results_in_request_order(ready: httpx.Client) -> None:
    pairs = [
        {"premise": "We deploy Llama 3 8B.", "hypothesis": "We deploy Llama 3 8B."},
        PAIR,
        {"premise": "Budget is $2k a month.", "hypothesis": "Latency matters."},
    ]

    response = ready.post("/nli/batch", json={"pairs": pairs})

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == KeywordScorer.name
    assert [r["label"] for r in body["results"]] == ["entailment", "contradiction", "neutral"]


def test_health_when_model_loaded_then_200_ready(ready: httpx.Client) -> None:
    response = ready.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "model": KeywordScorer.name,
        "labels": ["entailment", "neutral", "contradiction"],
    }


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/nli", {"premise": "only a premise"}, "hypothesis"),
        ("/nli", {"premise": "", "hypothesis": "x"}, "premise"),
        ("/nli", {"premise": 3, "hypothesis": "x"}, "premise"),
        ("/nli", {"premise": "x" * (nli_service.MAX_TEXT_CHARS + 1), "hypothesis": "x"}, "premise"),
        ("/nli/batch", {"pairs": []}, "pairs"),
        ("/nli/batch", {"pairs": [PAIR] * (nli_service.MAX_BATCH_PAIRS + 1)}, "pairs"),
        ("/nli/batch", {"pairs": [{"premise": "x"}]}, "pairs.0.hypothesis"),
        ("/nli/batch", [PAIR], "body"),
    ],
)
def test_request_when_invalid_then_422_with_error_shape(
    ready: httpx.Client, path: str, payload: Any, field: str
) -> None:
    response = ready.post(path, json=payload)

    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == "invalid_request"
    assert body["message"].startswith(field)


def test_request_when_body_is_not_json_then_422(ready: httpx.Client) -> None:
    response = ready.post("/nli", content=b"premise=x", headers={"content-type": "text/plain"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_unknown_route_then_404_in_error_shape(ready: httpx.Client) -> None:
    response = ready.get("/nope")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_then_405_in_error_shape(ready: httpx.Client) -> None:
    response = ready.get("/nli")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_health_when_model_path_missing_then_503_with_reason(missing_model: httpx.Client) -> None:
    response = missing_model.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "NLI_MODEL_PATH" in body["reason"]
    assert "does not exist" in body["reason"]


@pytest.mark.parametrize(("path", "payload"), [("/nli", PAIR), ("/nli/batch", {"pairs": [PAIR]})])
def test_scoring_when_model_missing_then_503_not_500(
    missing_model: httpx.Client, path: str, payload: Any
) -> None:
    response = missing_model.post(path, json=payload)

    assert response.status_code == 503
    assert response.json()["code"] == "model_unavailable"
    assert "does not exist" in response.json()["message"]


def test_scoring_when_model_still_loading_then_503_loading() -> None:
    release = threading.Event()

    def slow_loader(_: Any) -> KeywordScorer:
        release.wait(timeout=10)
        return KeywordScorer()

    app = nli_service.create_app(loader=slow_loader)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        health = client.get("/health")
        scored = client.post("/nli", json=PAIR)
        release.set()
        settled = wait_until_settled(client)

    assert (health.status_code, health.json()["status"]) == (503, "loading")
    assert (scored.status_code, scored.json()["code"]) == (503, "model_unavailable")
    assert (settled.status_code, settled.json()["status"]) == (200, "ready")


def test_health_when_loader_crashes_then_503_with_reason_not_exception_text() -> None:
    def broken_loader(_: Any) -> KeywordScorer:
        raise RuntimeError("secret-token-in-exception-text")

    app = nli_service.create_app(loader=broken_loader)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        response = wait_until_settled(client)

    assert response.status_code == 503
    assert "RuntimeError" in response.json()["reason"]
    assert "secret-token" not in response.text


def test_scoring_when_scorer_fails_then_500_without_exception_text() -> None:
    app = nli_service.create_app(ExplodingScorer())
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        response = client.post("/nli", json=PAIR)

    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "message": "something went wrong"}


def test_label_columns_when_cross_encoder_config_then_maps_each_label() -> None:
    # cross-encoder/nli-deberta-v3-base's config.id2label.
    columns = nli_service.label_columns({0: "contradiction", 1: "entailment", 2: "neutral"})

    assert columns == {"entailment": 1, "neutral": 2, "contradiction": 0}


def test_label_columns_when_not_nli_labels_then_load_error() -> None:
    with pytest.raises(nli_service.ModelLoadError, match="not the three NLI labels"):
        nli_service.label_columns({0: "LABEL_0", 1: "LABEL_1"})


def test_cross_encoder_scorer_when_softmax_rows_then_named_probabilities() -> None:
    calls: list[dict[str, Any]] = []

    def predict(pairs: list[list[str]], **kwargs: Any) -> np.ndarray:
        calls.append({"pairs": pairs, **kwargs})
        return np.array([[0.7, 0.2, 0.1]] * len(pairs))

    model = SimpleNamespace(
        config=SimpleNamespace(id2label={"0": "CONTRADICTION", "1": "ENTAILMENT", "2": "NEUTRAL"}),
        predict=predict,
    )
    scorer = nli_service.CrossEncoderScorer(model, name="fake", batch_size=8)

    rows = scorer.score([("p", "h")])

    assert rows == [
        {
            "entailment": pytest.approx(0.2),
            "neutral": pytest.approx(0.1),
            "contradiction": pytest.approx(0.7),
        }
    ]
    assert calls[0]["apply_softmax"] is True
    assert calls[0]["batch_size"] == 8
    assert calls[0]["pairs"] == [["p", "h"]]


def test_load_cross_encoder_when_directory_has_no_model_then_load_error(tmp_path: Path) -> None:
    # The real sentence-transformers path, pointed at an empty directory, offline.
    settings = nli_service.NliSettings(nli_model_path=str(tmp_path))

    with pytest.raises(nli_service.ModelLoadError, match="could not load the NLI model"):
        nli_service.load_cross_encoder(settings)


def test_settings_when_env_set_then_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLI_MODEL", "org/other-nli")
    monkeypatch.setenv("NLI_MODEL_PATH", "/models/nli")

    settings = nli_service.NliSettings()

    assert (settings.nli_model, settings.nli_model_path) == ("org/other-nli", "/models/nli")
