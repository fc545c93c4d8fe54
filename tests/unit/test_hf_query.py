import asyncio

import numpy as np
import pytest

from tools.hf import MAX_QUERY_CHARS, MAX_TOP_K, named_task, query_vector, search_models


class _NeverCalled:
    model_name = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384

    def embed(self, texts):
        raise AssertionError("arguments must be checked before anything is embedded")


class _NoConnection:
    def __getattr__(self, name):
        raise AssertionError("arguments must be checked before the database is used")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query is empty"),
        ({"query": "   \n\t"}, "query is empty"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, f"the limit is {MAX_QUERY_CHARS}"),
        ({"query": "chat", "top_k": 0}, "top_k"),
        ({"query": "chat", "top_k": MAX_TOP_K + 1}, "top_k"),
        ({"query": "chat", "fits_vram_gb": 0}, "fits_vram_gb"),
        ({"query": "chat", "fits_vram_gb": float("nan")}, "fits_vram_gb"),
    ],
)
async def test_search_when_arguments_out_of_bounds_then_value_error_before_any_work(
    kwargs, message
):
    with pytest.raises(ValueError, match=message):
        await search_models(_NoConnection(), _NeverCalled(), **kwargs)


@pytest.mark.parametrize(
    ("query", "task"),
    [
        ("text to image", "text-to-image"),
        ("Text-to-Image generation for ads", "text-to-image"),
        ("image to text captioning", "image-to-text"),
        ("an image-text-to-text model for charts", "image-text-to-text"),
        ("speech to text for call centres", "automatic-speech-recognition"),
        ("text to speech voices", "text-to-speech"),
        ("text to image or image to text", None),
        ("sentence embeddings for semantic search", None),
        ("pretext to imagery", None),
    ],
)
def test_named_task_reads_directional_tasks_literally(query, task):
    assert named_task(query) == task


class _CountingEmbedder:
    model_name = "counting"
    dim = 2

    def __init__(self):
        self.texts = []

    def embed(self, texts):
        self.texts += list(texts)
        return np.asarray([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


async def test_same_query_many_times_at_once_then_encoded_once():
    embedder = _CountingEmbedder()

    vectors = await asyncio.gather(*(query_vector(embedder, "text to image") for _ in range(20)))
    other = await query_vector(embedder, "code model")

    assert embedder.texts == ["text to image", "code model"]
    assert all(v.tolist() == [13.0, 1.0] for v in vectors)
    assert other.tolist() == [10.0, 1.0]
