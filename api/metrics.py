"""Prometheus metrics: HTTP requests and latency, chat turns, tokens the optimizer saved.

The metric names are the ones the infra dashboards query. They live in one registry per
process (several apps in one test process share it), and the route label is the route's
template, never the raw path, so ids do not explode the label set.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.run_events import RunEvent

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "stack8s_http_requests_total",
    "HTTP requests served.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "stack8s_http_request_duration_seconds",
    "Time to the response's first byte (streams count until headers are sent).",
    ["method", "route"],
    registry=REGISTRY,
)
CHAT_TURNS = Counter(
    "stack8s_chat_turns_total", "Chat turns finished.", ["response_type"], registry=REGISTRY
)
OPTIMIZER_TOKENS_SAVED = Counter(
    "stack8s_optimizer_tokens_saved_total",
    "Prompt tokens the context optimizer removed before LLM calls.",
    registry=REGISTRY,
)

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Expose the metrics in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def observe_run_event(event: RunEvent) -> None:
    """Count turns and saved tokens from a run's events."""
    if event.event == "end":
        CHAT_TURNS.labels(str(event.data.get("response_type", "error"))).inc()
    elif event.event == "optimizer":
        before, after = event.data.get("tokens_before"), event.data.get("tokens_after")
        if isinstance(before, int) and isinstance(after, int) and before > after:
            OPTIMIZER_TOKENS_SAVED.inc(before - after)


def _route_label(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path not in ("", "/"):
        return path
    # The static mount answers everything else; unmatched API paths must not add labels.
    return "/" if scope.get("path") == "/" else "static_or_unmatched"


class MetricsMiddleware:
    """Count and time every HTTP request (pure ASGI, so streams are not buffered)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Observe one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                HTTP_LATENCY.labels(scope["method"], _route_label(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_REQUESTS.labels(scope["method"], _route_label(scope), str(status)).inc()
