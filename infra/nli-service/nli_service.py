"""Natural-language inference over HTTP: entailment, neutral and contradiction probabilities.

The Stack8s context optimizer asks this service whether one message contradicts another.
It is a separate process so that the API image stays small and the model (a DeBERTa MNLI
cross-encoder by default) scales on its own.

Endpoints:
    ``POST /nli``        ``{premise, hypothesis}`` -> the three probabilities and the top label.
    ``POST /nli/batch``  ``{pairs: [{premise, hypothesis}, ...]}`` -> ``{model, results}``.
    ``GET /health``      200 once the model is loaded; 503 with the reason while it is loading
                         or when it could not be loaded.

Configuration (environment):
    ``NLI_MODEL``        hub id, used when no local path is given
                         (default ``cross-encoder/nli-deberta-v3-base``).
    ``NLI_MODEL_PATH``   a directory holding the model; when set, only that directory is read.
    ``NLI_DEVICE``       ``cpu`` (default) or ``cuda``.
    ``NLI_BATCH_SIZE``   pairs per forward pass (default 16).

Run it with ``uvicorn --factory nli_service:create_app``. Tests and other callers pass their
own scorer to :func:`create_app` instead of a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("nli_service")

Label = Literal["entailment", "neutral", "contradiction"]
LABELS: tuple[Label, Label, Label] = ("entailment", "neutral", "contradiction")

# Bounds that keep one request from pinning the CPU for minutes; the optimizer sends short
# message units, so real traffic is far below them.
MAX_TEXT_CHARS = 10_000
MAX_BATCH_PAIRS = 128


class NliSettings(BaseSettings):
    """Where the model comes from and how it runs; each field is the upper-case env var."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    nli_model: str = "cross-encoder/nli-deberta-v3-base"
    nli_model_path: str | None = None
    nli_device: str = "cpu"
    nli_batch_size: int = Field(default=16, ge=1, le=256)


class Scorer(Protocol):
    """Anything that turns (premise, hypothesis) pairs into label probabilities."""

    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        """Return one ``{label: probability}`` mapping per pair, in order."""
        ...


class ModelLoadError(Exception):
    """The model could not be loaded; the message is safe to show to callers."""


def label_columns(id2label: Mapping[Any, str]) -> dict[str, int]:
    """Map each NLI label to its output column, from a model config's ``id2label``.

    Args:
        id2label: The model's column -> label names (any case; keys may be strings).

    Returns:
        ``{"entailment": i, "neutral": j, "contradiction": k}``.

    Raises:
        ModelLoadError: The model does not have exactly the three NLI labels.

    """
    columns = {str(name).strip().lower(): int(index) for index, name in id2label.items()}
    missing = [label for label in LABELS if label not in columns]
    if missing or len(columns) != len(LABELS):
        raise ModelLoadError(
            f"the model's labels {sorted(columns)} are not the three NLI labels {list(LABELS)}"
        )
    return {label: columns[label] for label in LABELS}


class CrossEncoderScorer:
    """A sentence-transformers ``CrossEncoder`` (or anything with the same ``predict``)."""

    def __init__(self, model: Any, name: str, batch_size: int = 16) -> None:
        """Wrap a loaded model.

        Args:
            model: Has ``predict(pairs, apply_softmax=True, ...)`` and ``config.id2label``.
            name: What ``/health`` and batch responses report as the model.
            batch_size: Pairs per forward pass.

        Raises:
            ModelLoadError: The model's labels are not the NLI labels.

        """
        self.name = name
        self._model = model
        self._batch_size = batch_size
        self._columns = label_columns(model.config.id2label)

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        """Return the softmax probabilities of each pair."""
        rows = self._model.predict(
            [list(pair) for pair in pairs],
            apply_softmax=True,
            batch_size=self._batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [{label: float(row[col]) for label, col in self._columns.items()} for row in rows]


def load_cross_encoder(settings: NliSettings) -> Scorer:
    """Load the configured cross-encoder from ``NLI_MODEL_PATH`` or the hub id ``NLI_MODEL``.

    Args:
        settings: The service configuration.

    Returns:
        A ready scorer.

    Raises:
        ModelLoadError: The path is missing, the library is absent, or loading failed.

    """
    local = Path(settings.nli_model_path) if settings.nli_model_path else None
    if local is not None and not local.is_dir():
        raise ModelLoadError(f"NLI_MODEL_PATH {local} does not exist or is not a directory")
    source = str(local) if local is not None else settings.nli_model
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise ModelLoadError("sentence-transformers is not installed in this image") from exc
    try:
        # A local path must never fall back to a hub download behind the operator's back.
        model = CrossEncoder(source, device=settings.nli_device, local_files_only=local is not None)
    except Exception as exc:  # any failure means "no model"; the log keeps the details
        logger.exception("could not load the NLI model %s", source)
        raise ModelLoadError(
            f"could not load the NLI model {source!r} ({type(exc).__name__}); see the service log"
        ) from exc
    return CrossEncoderScorer(model, name=source, batch_size=settings.nli_batch_size)


@dataclass
class ModelState:
    """The one model of this process, or why there is none yet."""

    configured: str
    scorer: Scorer | None = None
    error: str | None = None

    @property
    def status(self) -> Literal["ready", "loading", "unavailable"]:
        """Say whether requests can be served."""
        if self.scorer is not None:
            return "ready"
        return "unavailable" if self.error else "loading"

    def require(self) -> Scorer:
        """Return the scorer, or raise the reason it cannot serve."""
        if self.scorer is None:
            raise ModelUnavailableError(self.error or "the NLI model is still loading")
        return self.scorer


class ModelUnavailableError(Exception):
    """A request arrived while there is no model; answered with 503."""


class NliPair(BaseModel):
    """One premise and one hypothesis."""

    premise: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    hypothesis: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class NliBatch(BaseModel):
    """Pairs scored in one call."""

    pairs: list[NliPair] = Field(min_length=1, max_length=MAX_BATCH_PAIRS)


class NliScores(BaseModel):
    """The three probabilities (summing to 1) and the most likely label."""

    entailment: float
    neutral: float
    contradiction: float
    label: Label


class NliBatchResult(BaseModel):
    """Scores in the order of the request's pairs."""

    model: str
    results: list[NliScores]


def _to_scores(probabilities: Mapping[str, float]) -> NliScores:
    label = max(LABELS, key=lambda name: probabilities[name])
    return NliScores(
        entailment=probabilities["entailment"],
        neutral=probabilities["neutral"],
        contradiction=probabilities["contradiction"],
        label=label,
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    # The same {code, message} shape as the Stack8s API, so one client handles both.
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return _error(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), message)

    @app.exception_handler(ModelUnavailableError)
    async def _unavailable(_: Request, exc: ModelUnavailableError) -> JSONResponse:
        return _error(503, "model_unavailable", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never echo exception text: it can carry inputs or paths.
        logger.exception("unhandled error")
        return _error(500, "internal_error", "something went wrong")


def create_app(
    scorer: Scorer | None = None,
    *,
    settings: NliSettings | None = None,
    loader: Callable[[NliSettings], Scorer] = load_cross_encoder,
) -> FastAPI:
    """Build the service.

    Args:
        scorer: A ready scorer; when given, no model is loaded.
        settings: Configuration; read from the environment when omitted.
        loader: Builds the scorer from settings in a background thread, so that ``/health``
            answers (503, "loading") while a large model loads.

    Returns:
        The FastAPI application.

    """
    settings = settings or NliSettings()
    state = ModelState(
        configured=settings.nli_model_path or settings.nli_model,
        scorer=scorer,
    )

    def load() -> None:
        try:
            state.scorer = loader(settings)
            logger.info("NLI model ready: %s", state.scorer.name)
        except ModelLoadError as exc:
            state.error = str(exc)
            logger.error("NLI model unavailable: %s", exc)
        except Exception as exc:  # a loader bug must still leave a reason, not a hung "loading"
            logger.exception("NLI model loader failed")
            state.error = f"the NLI model loader failed ({type(exc).__name__}); see the service log"

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.scorer is None:
            threading.Thread(target=load, name="nli-model-loader", daemon=True).start()
        yield

    app = FastAPI(title="Stack8s NLI", version="0.1.0", lifespan=lifespan)
    app.state.model = state
    _install_error_handlers(app)

    @app.get("/health", response_model=None)
    def health() -> dict[str, Any] | JSONResponse:
        """Report whether the model is loaded (200) or why not (503)."""
        if state.scorer is not None:
            return {"status": "ready", "model": state.scorer.name, "labels": list(LABELS)}
        body = {
            "status": state.status,
            "model": state.configured,
            "reason": state.error or "the NLI model is still loading",
        }
        return JSONResponse(body, status_code=503)

    # Plain `def` handlers: inference is CPU-bound, so FastAPI runs them in its thread pool.
    @app.post("/nli")
    def nli(pair: NliPair) -> NliScores:
        """Score one premise/hypothesis pair."""
        (probabilities,) = state.require().score([(pair.premise, pair.hypothesis)])
        return _to_scores(probabilities)

    @app.post("/nli/batch")
    def nli_batch(batch: NliBatch) -> NliBatchResult:
        """Score many pairs in one forward pass, keeping their order."""
        active = state.require()
        rows = active.score([(pair.premise, pair.hypothesis) for pair in batch.pairs])
        return NliBatchResult(model=active.name, results=[_to_scores(row) for row in rows])

    return app
