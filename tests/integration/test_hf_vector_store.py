import asyncio

import pytest

from tools.hf import EmbeddingMismatchError, card_vector_engine, card_vector_store


class _Renamed:
    def __init__(self, inner, model_name):
        self._inner = inner
        self.model_name = model_name
        self.dim = inner.dim

    def embed(self, texts):
        return self._inner.embed(texts)


@pytest.fixture
def engine(pg_url):
    engine = card_vector_engine(pg_url)
    yield engine
    asyncio.run(engine.close())


def test_card_store_similarity_search_for_text_to_image_then_a_stable_diffusion_card(
    engine, embedder, ingested
):
    store = card_vector_store(engine, embedder)

    docs = store.similarity_search("text to image generation", k=5)

    ids = [doc.metadata["model_id"].lower() for doc in docs]
    assert any("stable-diffusion" in model_id for model_id in ids), ids
    assert all(doc.metadata["embedding_model_name"] == embedder.model_name for doc in docs)
    assert all(doc.page_content.startswith(doc.metadata["model_id"]) for doc in docs)


def test_card_store_filters_on_metadata_columns(engine, embedder, ingested):
    store = card_vector_store(engine, embedder)

    docs = store.similarity_search("embeddings", k=3, filter={"model_id": {"$like": "BAAI/%"}})

    assert docs and all(doc.metadata["model_id"].startswith("BAAI/") for doc in docs)


def test_card_store_when_embedder_differs_then_mismatch_error(engine, embedder, ingested):
    with pytest.raises(EmbeddingMismatchError, match="other/model"):
        card_vector_store(engine, _Renamed(embedder, "other/model"))
