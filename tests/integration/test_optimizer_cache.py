"""The optimizer with the real MiniLM embedder and the Postgres embedding cache."""

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage

from core.embeddings import aembed_with_cache
from tools.optimizer import LocalNli, NliUnavailableError, OptimizerConfig, optimize_messages

ALWAYS = OptimizerConfig(min_context_tokens=0, min_saving_tokens=0, min_saving_fraction=0.0)


class CountingEmbedder:
    def __init__(self, inner, name):
        self.inner = inner
        self.model_name = name
        self.dim = inner.dim
        self.encoded = 0

    def embed(self, texts):
        self.encoded += len(texts)
        return self.inner.embed(texts)


async def test_aembed_with_cache_when_texts_repeat_then_encoded_once_and_vectors_identical(
    adb, embedder
):
    counting = CountingEmbedder(embedder, "counting-async-" + embedder.model_name)
    await adb.execute("delete from cache.embeddings where model = %s", (counting.model_name,))
    texts = ["serve llama on two GPUs", "budget is $6k", "serve llama on two GPUs"]

    first = await aembed_with_cache(counting, texts, adb, ttl_days=30)
    second = await aembed_with_cache(counting, texts, adb, ttl_days=30)

    assert counting.encoded == 2
    assert first.shape == (3, embedder.dim)
    np.testing.assert_allclose(first, second, atol=1e-6)


def field_reader(text):
    return (
        {"budget_monthly_usd": 8000.0}
        if "$8k" in text
        else ({"budget_monthly_usd": 5000.0} if "$5k" in text else {})
    )


def chat():
    explain = (
        "Rolling updates replace pods a few at a time, and the readiness probe gates traffic. "
        "Loading large weights dominates the start time of a new pod. "
    )
    return [
        HumanMessage("We want to serve a model for our support team with a budget of $5k."),
        AIMessage(explain * 3),
        HumanMessage("How does the readiness probe decide when a pod gets traffic?"),
        AIMessage("The readiness probe gates traffic: " + explain * 2),
        HumanMessage("Actually the budget is $8k now."),
        AIMessage("Updated the budget. " + explain),
        HumanMessage("Write the plan."),
    ]


async def test_optimize_with_real_embedder_and_cache_then_second_call_embeds_nothing(adb, embedder):
    counting = CountingEmbedder(embedder, "counting-optimizer-" + embedder.model_name)
    await adb.execute("delete from cache.embeddings where model = %s", (counting.model_name,))

    first = await optimize_messages(
        chat(),
        embedder=counting,
        budget_tokens=120,
        field_reader=field_reader,
        cache_conn=adb,
        config=ALWAYS,
    )
    encoded_first = counting.encoded
    second = await optimize_messages(
        chat(),
        embedder=counting,
        budget_tokens=120,
        field_reader=field_reader,
        cache_conn=adb,
        config=ALWAYS,
    )

    assert encoded_first > 0 and counting.encoded == encoded_first
    assert [m.content for m in first.messages] == [m.content for m in second.messages]
    text = " ".join(m.text for m in second.messages if isinstance(m, HumanMessage))
    assert "$8k" in text and "$5k" not in text
    assert second.report.tokens_after <= 120


async def test_local_nli_when_model_is_not_on_disk_then_unavailable_without_download():
    nli = LocalNli("/nonexistent/nli-model", timeout_ms=30_000)

    try:
        await nli.score([("a", "b")])
        raised = None
    except NliUnavailableError as exc:
        raised = str(exc)

    assert raised == "local NLI model '/nonexistent/nli-model' is not available"
