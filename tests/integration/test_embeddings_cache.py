import numpy as np

from core.embeddings import embed_with_cache


class CountingEmbedder:
    """Wraps the real embedder and counts the texts it had to encode."""

    def __init__(self, inner):
        self.inner = inner
        self.model_name = "counting-" + inner.model_name
        self.dim = inner.dim
        self.encoded = 0

    def embed(self, texts):
        self.encoded += len(texts)
        return self.inner.embed(texts)


def test_embed_with_cache_when_texts_repeat_then_encoded_once_and_vectors_identical(db, embedder):
    counting = CountingEmbedder(embedder)
    texts = ["serve llama on two GPUs", "budget is $6k", "serve llama on two GPUs"]
    db.execute("delete from cache.embeddings where model = %s", (counting.model_name,))

    first = embed_with_cache(counting, texts, db, ttl_days=30)
    second = embed_with_cache(counting, texts, db, ttl_days=30)

    assert counting.encoded == 2
    assert first.shape == (3, 384)
    np.testing.assert_allclose(first, second, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_embed_with_cache_when_entry_is_older_than_ttl_then_encoded_again(db, embedder):
    counting = CountingEmbedder(embedder)
    embed_with_cache(counting, ["old text"], db, ttl_days=30)
    db.execute(
        "update cache.embeddings set created_at = now() - interval '40 days' where model = %s",
        (counting.model_name,),
    )

    embed_with_cache(counting, ["old text"], db, ttl_days=30)

    assert counting.encoded == 2
