"""The process's one encoder: callers waiting together share an encode, and get their own rows."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from core.embeddings import EmbeddingError, EncodeQueue
from tests.support.waiting import until


class _GatedEmbedder:
    """Encodes a text as (length, 1); its first call waits until the test opens the gate."""

    model_name = "gated"
    dim = 2

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail_on = fail_on

    def embed(self, texts):
        if not self.calls:
            self.gate.wait(5)
        self.calls.append(list(texts))
        if self.fail_on in texts:
            raise EmbeddingError("the model could not encode this batch")
        return np.asarray([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


async def test_callers_waiting_together_then_one_encode_and_each_gets_its_own_rows():
    embedder = _GatedEmbedder()
    encoder = EncodeQueue(embedder)
    first = asyncio.ensure_future(encoder.embed(["warm"]))
    await until(lambda: encoder._worker is not None and not encoder._waiting.qsize())

    waiting = [asyncio.ensure_future(encoder.embed(["a" * n, "bb"])) for n in range(3, 9)]
    await asyncio.sleep(0.05)
    embedder.gate.set()
    results = await asyncio.gather(first, *waiting)

    assert len(embedder.calls) == 2  # "warm", then the six callers that queued behind it
    assert sorted(embedder.calls[1]) == sorted(["a" * n for n in range(3, 9)] + ["bb"])
    for n, rows in zip(range(3, 9), results[1:], strict=True):
        assert rows.tolist() == [[float(n), 1.0], [2.0, 1.0]]


async def test_batch_fails_then_its_callers_get_the_error_and_the_next_caller_is_served():
    embedder = _GatedEmbedder(fail_on="poison")
    embedder.gate.set()
    encoder = EncodeQueue(embedder)

    with pytest.raises(EmbeddingError):
        await encoder.embed(["poison"])
    rows = await encoder.embed(["fine"])

    assert rows.tolist() == [[4.0, 1.0]]


async def test_no_texts_then_no_encode():
    embedder = _GatedEmbedder()
    rows = await EncodeQueue(embedder).embed([])

    assert rows.shape == (0, 2)
    assert embedder.calls == []
