"""The NLI client against stub servers over real HTTP (uvicorn on loopback ports)."""

import asyncio
import hashlib
import importlib.util
import re
import socket
import sys

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from langchain_core.messages import AIMessage, HumanMessage

from core.settings import PROJECT_ROOT, Settings
from tests.support.live_server import serve_asgi
from tools.optimizer import (
    HttpNli,
    NliUnavailableError,
    OptimizerConfig,
    build_nli,
    optimize_messages,
)

CONFIG = OptimizerConfig(min_context_tokens=0, min_saving_tokens=0, min_saving_fraction=0.0)


class BagOfWordsEmbedder:
    model_name = "test-bag-of-words"
    dim = 64

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[row, int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def stub_app(delay_s=0.0, status=200, batches=None):
    """An NLI service double: 'not' in the hypothesis means contradiction."""
    app = FastAPI()

    @app.post("/nli/batch")
    async def nli_batch(request: Request):
        body = await request.json()
        if batches is not None:
            batches.append(len(body["pairs"]))
        await asyncio.sleep(delay_s)
        if status != 200:
            return JSONResponse({"code": "model_unavailable", "message": "loading"}, status)
        results = []
        for pair in body["pairs"]:
            contra = 0.9 if " not " in f" {pair['hypothesis'].lower()} " else 0.05
            results.append(
                {
                    "entailment": 0.05,
                    "neutral": 0.95 - contra,
                    "contradiction": contra,
                    "label": "contradiction" if contra > 0.5 else "neutral",
                }
            )
        return {"model": "stub", "results": results}

    return app


async def test_http_nli_when_service_answers_then_scores_come_back_in_order():
    with serve_asgi(stub_app()) as url:
        scores = await HttpNli(url, timeout_ms=2000).score(
            [("The budget is fixed.", "The budget is not fixed."), ("A", "B")]
        )

    assert [round(s.contradiction, 2) for s in scores] == [0.9, 0.05]


async def test_http_nli_when_more_than_128_pairs_then_sent_in_batches_of_128():
    batches = []
    with serve_asgi(stub_app(batches=batches)) as url:
        scores = await HttpNli(url, timeout_ms=5000).score([("a", "b")] * 200)

    assert batches == [128, 72]
    assert len(scores) == 200


async def test_http_nli_when_service_is_slower_than_the_timeout_then_unavailable_with_reason():
    with serve_asgi(stub_app(delay_s=0.4)) as url:
        client = HttpNli(url, timeout_ms=100)
        with pytest.raises(NliUnavailableError, match="timed out after 100 ms"):
            await client.score([("a", "b")])


async def test_http_nli_when_service_answers_503_then_unavailable_with_status():
    with serve_asgi(stub_app(status=503)) as url:
        with pytest.raises(NliUnavailableError, match="HTTP 503"):
            await HttpNli(url, timeout_ms=2000).score([("a", "b")])


async def test_http_nli_when_nothing_listens_then_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(NliUnavailableError, match="unreachable"):
        await HttpNli(f"http://127.0.0.1:{port}", timeout_ms=2000).score([("a", "b")])


def chat_with_contradiction():
    filler = "The deployment uses rolling updates and a readiness probe on every pod. " * 3
    return [
        HumanMessage("We want to serve a model for the support team."),
        AIMessage("The cluster will run in a private network. " + filler),
        HumanMessage("Thanks. " + filler),
        AIMessage("The cluster will not run in a private network. " + filler),
        HumanMessage("Next."),
    ]


async def test_optimize_when_nli_finds_a_contradiction_then_the_earlier_unit_is_superseded():
    with serve_asgi(stub_app()) as url:
        result = await optimize_messages(
            chat_with_contradiction(),
            embedder=BagOfWordsEmbedder(),
            budget_tokens=10_000,
            field_reader=lambda text: {},
            nli=HttpNli(url, timeout_ms=2000),
            config=CONFIG,
        )

    assert result.report.nli.status == "ok" and result.report.nli.pairs_scored > 0
    superseded = [d for d in result.report.dropped if d.reason == "superseded"]
    assert [d.preview for d in superseded] == ["The cluster will run in a private network."]
    assert any(c.source == "nli" for c in result.report.contradictions)


async def test_optimize_when_nli_times_out_then_reported_as_skipped_and_still_compresses():
    with serve_asgi(stub_app(delay_s=0.4)) as url:
        result = await optimize_messages(
            chat_with_contradiction(),
            embedder=BagOfWordsEmbedder(),
            budget_tokens=80,
            field_reader=lambda text: {},
            nli=HttpNli(url, timeout_ms=100),
            config=CONFIG,
        )

    assert result.report.nli.status == "skipped"
    assert "timed out" in (result.report.nli.detail or "")
    assert result.report.applied and result.report.tokens_after <= 80


def test_build_nli_when_provider_setting_varies_then_matching_client_or_none():
    disabled = build_nli(Settings(_env_file=None))
    http = build_nli(Settings(_env_file=None, nli_provider="http", nli_timeout_ms=250))

    assert disabled is None
    assert isinstance(http, HttpNli) and http.name == "http"


def _load_nli_service():
    path = PROJECT_ROOT / "infra" / "nli-service" / "nli_service.py"
    spec = importlib.util.spec_from_file_location("stack8s_nli_service_for_client", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the module's annotations through it
    spec.loader.exec_module(module)
    return module


class NotScorer:
    name = "test/not-scorer"

    def score(self, pairs):
        return [
            {"entailment": 0.1, "neutral": 0.1, "contradiction": 0.8}
            if "not" in h.split()
            else {"entailment": 0.1, "neutral": 0.8, "contradiction": 0.1}
            for _, h in pairs
        ]


async def test_http_nli_when_talking_to_the_real_service_app_then_contract_holds():
    service = _load_nli_service()

    with serve_asgi(service.create_app(NotScorer())) as url:
        scores = await HttpNli(url, timeout_ms=2000).score([("x", "it is not x"), ("x", "y")])

    assert [s.contradiction for s in scores] == [0.8, 0.1]
