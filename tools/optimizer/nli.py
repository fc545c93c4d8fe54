"""Natural-language inference for the contradiction edges of step 3.

Providers (``NLI_PROVIDER``):
- ``disabled`` (default): no NLI; contradictions come from the field detector alone.
- ``http``: the Stack8s NLI service (``infra/nli-service``), ``POST {NLI_HTTP_URL}/nli/batch``
  with ``{pairs: [{premise, hypothesis}]}``, answered ``{model, results: [{entailment,
  neutral, contradiction, label}]}``, at most 128 pairs and 10,000 characters a text.
- ``local``: a sentence-transformers cross-encoder (``NLI_MODEL``) read from the local
  Hugging Face cache only; nothing is downloaded at run time.

NLI is an optional signal, so every failure (timeout, refused connection, 5xx, malformed
answer, missing model) raises :class:`NliUnavailableError` with a short reason that is safe
to show; the optimizer then reports NLI as skipped and carries on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from core.settings import Settings

logger = logging.getLogger(__name__)

# The NLI service's own limits (infra/nli-service/nli_service.py).
MAX_BATCH_PAIRS = 128
MAX_TEXT_CHARS = 10_000


@dataclass(frozen=True)
class NliScores:
    """How likely the hypothesis follows from, is unrelated to, or contradicts the premise."""

    entailment: float
    neutral: float
    contradiction: float


class NliUnavailableError(RuntimeError):
    """NLI could not answer; the message says why in words safe to show a user."""


class NliProvider(Protocol):
    """Anything that scores (premise, hypothesis) pairs."""

    name: str

    async def score(self, pairs: Sequence[tuple[str, str]]) -> list[NliScores]:
        """Return one score per pair, in order, or raise :class:`NliUnavailableError`."""
        ...


class HttpNli:
    """Client of the NLI service, with one deadline for the whole batch."""

    name = "http"

    def __init__(
        self,
        url: str,
        timeout_ms: int,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Point the client at a service.

        Args:
            url: Base URL of the service, e.g. ``http://nli:8082``.
            timeout_ms: Deadline for scoring all pairs of one call, connection included.
            transport: An httpx transport, for tests.

        """
        self._url = url.rstrip("/") + "/nli/batch"
        self._timeout_s = timeout_ms / 1000
        self._timeout_ms = timeout_ms
        self._transport = transport

    async def score(self, pairs: Sequence[tuple[str, str]]) -> list[NliScores]:
        """Score ``pairs`` in batches of at most 128."""
        if not pairs:
            return []
        results: list[NliScores] = []
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client,
            ):
                for start in range(0, len(pairs), MAX_BATCH_PAIRS):
                    chunk = pairs[start : start + MAX_BATCH_PAIRS]
                    results.extend(await self._post(client, chunk))
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise NliUnavailableError(f"NLI service timed out after {self._timeout_ms} ms") from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise NliUnavailableError(f"NLI service answered HTTP {status}") from exc
        except httpx.HTTPError as exc:
            raise NliUnavailableError(f"NLI service unreachable ({type(exc).__name__})") from exc
        return results

    async def _post(
        self, client: httpx.AsyncClient, pairs: Sequence[tuple[str, str]]
    ) -> list[NliScores]:
        body = {
            "pairs": [
                {"premise": p[:MAX_TEXT_CHARS], "hypothesis": h[:MAX_TEXT_CHARS]} for p, h in pairs
            ]
        }
        response = await client.post(self._url, json=body)
        response.raise_for_status()
        try:
            rows = response.json()["results"]
            scores = [
                NliScores(
                    float(row["entailment"]), float(row["neutral"]), float(row["contradiction"])
                )
                for row in rows
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise NliUnavailableError("NLI service answered malformed JSON") from exc
        if len(scores) != len(pairs):
            raise NliUnavailableError("NLI service answered a different number of results")
        return scores


class LocalNli:
    """A cross-encoder in this process, loaded once from the local model cache."""

    name = "local"

    def __init__(self, model: str, timeout_ms: int) -> None:
        """Name the model; it is loaded on first use.

        Args:
            model: Hub id or directory of an NLI cross-encoder.
            timeout_ms: Deadline for one call; a first call also pays for loading.

        """
        self._model_name = model
        self._timeout_s = timeout_ms / 1000
        self._model: Any = None
        self._columns: dict[str, int] = {}
        self._error: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    from sentence_transformers import CrossEncoder

                    # A missing model is a configuration error, never a reason to download.
                    model = CrossEncoder(self._model_name, device="cpu", local_files_only=True)
                    labels = {str(v).lower(): int(k) for k, v in model.config.id2label.items()}
                    self._columns = {
                        name: labels[name] for name in ("entailment", "neutral", "contradiction")
                    }
                    self._model = model
                except Exception as exc:  # any failure means "no local NLI"; remember it
                    logger.warning("local NLI model unavailable: %s", type(exc).__name__)
                    self._error = f"local NLI model {self._model_name!r} is not available"
            if self._error is not None:
                raise NliUnavailableError(self._error)
            return self._model

    def _score_sync(self, pairs: Sequence[tuple[str, str]]) -> list[NliScores]:
        model = self._load()
        rows = model.predict([list(p) for p in pairs], apply_softmax=True, show_progress_bar=False)
        c = self._columns
        return [
            NliScores(
                float(r[c["entailment"]]), float(r[c["neutral"]]), float(r[c["contradiction"]])
            )
            for r in rows
        ]

    async def score(self, pairs: Sequence[tuple[str, str]]) -> list[NliScores]:
        """Score ``pairs`` in a worker thread, within the deadline."""
        if not pairs:
            return []
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._score_sync, pairs), timeout=self._timeout_s
            )
        except TimeoutError as exc:
            raise NliUnavailableError(
                f"local NLI timed out after {int(self._timeout_s * 1000)} ms"
            ) from exc


_local: dict[str, LocalNli] = {}
_local_lock = threading.Lock()


def build_nli(settings: Settings) -> NliProvider | None:
    """Return the configured NLI provider, or None when NLI is disabled."""
    if settings.nli_provider == "http":
        return HttpNli(settings.nli_http_url, settings.nli_timeout_ms)
    if settings.nli_provider == "local":
        with _local_lock:
            # One model per process: loading a cross-encoder takes seconds and hundreds of MB.
            if settings.nli_model not in _local:
                _local[settings.nli_model] = LocalNli(settings.nli_model, settings.nli_timeout_ms)
            return _local[settings.nli_model]
    return None
