import numpy as np
import pytest

import tools.hf as hf
from tools.hf import EmbeddingMismatchError, format_hf_results, search_models
from tools.hf_rank import FENCE_BEGIN, NOTE_NO_COUNTS

EMBEDDING_TASKS = {"feature-extraction", "sentence-similarity"}


class _Renamed:
    """The session embedder under another model's name."""

    def __init__(self, inner, model_name):
        self._inner = inner
        self.model_name = model_name
        self.dim = inner.dim

    def embed(self, texts):
        return self._inner.embed(texts)


class _WiderVectors(_Renamed):
    """Right name, wrong vectors: 768 dimensions where 384 are stored."""

    def embed(self, texts):
        return np.tile(self._inner.embed(texts), 2) / np.sqrt(2)


async def test_search_for_text_to_image_then_diffusion_models(adb, embedder, ingested):
    result = await search_models(adb, embedder, query="text to image")

    assert len(result.results) == 5
    assert {hit.pipeline_tag for hit in result.results} == {"text-to-image"}
    ids = " ".join(hit.model_id.lower() for hit in result.results)
    assert any(name in ids for name in ("stable-diffusion", "flux", "sdxl"))


async def test_search_with_license_filter_then_every_other_license_excluded(
    adb, embedder, ingested
):
    result = await search_models(
        adb, embedder, query="chat assistant", license_filter=["apache-2.0", "MIT"], top_k=20
    )

    assert len(result.results) == 20
    assert {hit.license for hit in result.results} <= {"apache-2.0", "mit"}


async def test_search_for_sentence_embeddings_then_embedding_models(adb, embedder, ingested):
    result = await search_models(adb, embedder, query="sentence embeddings for semantic search")

    assert len(result.results) == 5
    assert {hit.pipeline_tag for hit in result.results} <= EMBEDDING_TASKS


async def test_search_when_filter_empties_the_nearest_chunks_then_exact_scan_fills_top_k(
    adb, embedder, ingested
):
    result = await search_models(
        adb, embedder, query="transcribe meeting audio", pipeline_tag="text-to-image"
    )

    assert len(result.results) == 5
    assert {hit.pipeline_tag for hit in result.results} == {"text-to-image"}
    assert any("exactly" in note for note in result.notes)


async def test_search_with_pipeline_tag_then_only_that_task(adb, embedder, ingested):
    result = await search_models(
        adb, embedder, query="fast model", pipeline_tag="Automatic-Speech-Recognition", top_k=8
    )

    assert len(result.results) == 8
    assert {hit.pipeline_tag for hit in result.results} == {"automatic-speech-recognition"}


@pytest.mark.parametrize("top_k", [1, 3, 12])
async def test_search_returns_exactly_top_k(adb, embedder, ingested, top_k):
    result = await search_models(adb, embedder, query="chat model", top_k=top_k)

    assert len(result.results) == top_k


async def test_search_when_counts_blank_then_relevance_alone_and_note(adb, embedder, ingested):
    result = await search_models(adb, embedder, query="code generation assistant")

    assert not result.popularity_used
    assert NOTE_NO_COUNTS in result.notes
    assert all(h.popularity is None and h.score == h.relevance for h in result.results)
    relevances = [h.relevance for h in result.results]
    assert relevances == sorted(relevances, reverse=True)
    assert result.embedding_model == embedder.model_name
    assert result.chunker_version == "md-heading-v1"


async def test_search_when_counts_present_then_popularity_reranks(adb, db, embedder, ingested):
    popular = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    db.execute(
        "update hf.models set downloads = %s, likes = %s where model_id = %s",
        (1_000_000, 10_000, popular),
    )
    db.execute(
        "update hf.models set downloads = 1000, likes = 10 where model_id = %s",
        ("black-forest-labs/FLUX.1-dev",),
    )
    try:
        result = await search_models(adb, embedder, query="text to image", top_k=9)
    finally:
        db.execute(
            "update hf.models set downloads = null, likes = null where model_id = any(%s)",
            ([popular, "black-forest-labs/FLUX.1-dev"],),
        )

    assert result.popularity_used
    by_id = {hit.model_id: hit for hit in result.results}
    assert result.results[0].model_id == popular
    assert by_id[popular].popularity == 1.0
    assert 0.0 < by_id["black-forest-labs/FLUX.1-dev"].popularity < 1.0
    assert by_id["Qwen/Qwen-Image"].popularity == 0.0
    for hit in result.results:
        assert hit.score == pytest.approx(0.6 * hit.relevance + 0.4 * hit.popularity, abs=1e-3)
    assert "7 of 9 candidates have no download/like counts" in " ".join(result.notes)


async def test_search_with_vram_budget_then_models_that_do_not_fit_are_left_out(
    adb, embedder, ingested
):
    query = "Llama 3.1 instruct chat model"
    unfiltered = await search_models(adb, embedder, query=query, top_k=20)

    result = await search_models(adb, embedder, query=query, top_k=20, fits_vram_gb=24)

    assert "meta-llama/Llama-3.1-70B-Instruct" in {h.model_id for h in unfiltered.results}
    ids = {hit.model_id for hit in result.results}
    assert "meta-llama/Llama-3.1-8B-Instruct" in ids
    assert not ids & {"meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-405B-Instruct"}
    assert all("GB ≤ 24 GB" in hit.why for hit in result.results)
    assert any("VRAM filter 24 GB" in note for note in result.notes)


async def test_search_with_a_size_class_then_only_models_of_that_size(adb, embedder, ingested):
    query = "Llama-3.1-8B-Instruct chat assistant"

    result = await search_models(adb, embedder, query=query, top_k=10,
                                 min_params_billion=4, max_params_billion=16)

    assert result.results
    assert all(4 <= (hit.params_billion or 0) <= 16 for hit in result.results)
    assert any("size filter: 4 to 16 billion parameters" in note for note in result.notes)


async def test_search_with_a_size_bound_of_zero_then_refused(adb, embedder, ingested):
    with pytest.raises(ValueError, match="positive billions"):
        await search_models(adb, embedder, query="chat", max_params_billion=0)


async def test_search_when_embedder_model_differs_then_mismatch_error_names_both(
    adb, embedder, ingested
):
    other = _Renamed(embedder, "BAAI/bge-small-en-v1.5")

    with pytest.raises(EmbeddingMismatchError) as error:
        await search_models(adb, other, query="text to image")

    assert "BAAI/bge-small-en-v1.5" in str(error.value)
    assert embedder.model_name in str(error.value)


async def test_search_when_chunker_differs_then_mismatch_error_names_both(
    adb, embedder, ingested, monkeypatch
):
    monkeypatch.setattr(hf, "CHUNKER_VERSION", "md-heading-v0")

    with pytest.raises(EmbeddingMismatchError, match="md-heading-v0") as error:
        await search_models(adb, embedder, query="text to image")

    assert "md-heading-v1" in str(error.value)


async def test_search_when_vector_width_differs_then_mismatch_error(adb, embedder, ingested):
    wider = _WiderVectors(embedder, embedder.model_name)

    with pytest.raises(EmbeddingMismatchError, match="384 dimensions"):
        await search_models(adb, wider, query="text to image")


async def test_search_when_no_cards_stored_then_empty_result_that_says_to_ingest(
    adb, embedder, ingested
):
    async with adb.transaction(force_rollback=True):
        await adb.execute("delete from hf.card_chunks")
        result = await search_models(adb, embedder, query="text to image")

    assert result.results == []
    assert result.notes == ["no model cards stored: run `stack8s ingest`"]


async def test_search_then_ef_search_raised_for_the_search_alone(adb, embedder, ingested):
    result = await search_models(adb, embedder, query="code completion model", top_k=5)
    cursor = await adb.execute("select current_setting('hnsw.ef_search') as ef_search")

    assert len(result.results) == 5
    assert (await cursor.fetchone())["ef_search"] == "40"  # pgvector's default again


async def test_format_of_a_real_search_fences_every_excerpt(adb, embedder, ingested):
    result = await search_models(adb, embedder, query="object detection in images", top_k=3)

    text = format_hf_results(result)

    lines = text.splitlines()
    fence = lines.index(FENCE_BEGIN)
    assert [line[:4] for line in lines[fence + 1 : fence + 4]] == ["[1] ", "[2] ", "[3] "]
    assert lines[0].startswith("HF model search: 3 models")
