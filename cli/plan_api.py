"""``stack8s plan --via-api``: the same turn, asked of a running server through the client.

Progress events go to stderr as they stream; the answer to stdout, as ``stack8s plan``
prints it (Markdown, or JSON with ``--json``). A dropped connection is rejoined by the
client. The token saved by ``stack8s login`` is sent when there is one.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from cli.login import load_access_token
from cli.plan import PlanRequest
from client import LLMOptions, Stack8sClient, Stack8sError


def _options(request: PlanRequest) -> LLMOptions:
    key = os.environ.get(request.api_key_env) if request.api_key_env else None
    provider: Any = request.provider
    return LLMOptions(
        provider=provider, model=request.model, base_url=request.base_url, api_key=key or None
    )


def _progress(event: str, data: Any) -> str | None:
    if event == "status" and isinstance(data, dict):
        return f"[{data.get('node')}] {data.get('state')}"
    if event == "tool" and isinstance(data, dict):
        if data.get("phase") == "call":
            return f"    tool call: {data.get('name')}"
        summary = str(data.get("summary") or "")[:120]
        return f"    tool result: {data.get('name')} {data.get('status')}: {summary}"
    return None


def plan_via_api(
    api_url: str, request: PlanRequest, conversation_id: str | None, *, out: TextIO, err: TextIO
) -> int:
    """Stream one turn from the server at ``api_url``; print progress and the answer."""
    answer: tuple[str, Any] | None = None
    thread = conversation_id
    try:
        with Stack8sClient(api_url, token=load_access_token()) as api:
            for item in api.stream_message(request.text, conversation_id, llm=_options(request)):
                if item.event == "metadata":
                    thread = str(item.data.get("thread_id") or thread)
                elif item.event in ("plan", "clarification", "error"):
                    answer = (item.event, item.data)
                elif (line := _progress(item.event, item.data)) is not None:
                    print(line, file=err, flush=True)
    except Stack8sError as exc:
        print(f"stack8s: error: {exc.message} (HTTP {exc.status})", file=err)
        return 2
    if answer is None or answer[0] == "error":
        message = answer[1].get("message") if answer else "the run ended without an answer"
        print(f"stack8s: error: {message}", file=err)
        return 2
    kind, data = answer
    if request.as_json:
        body = data["plan"] if kind == "plan" else {"decision": "clarify", **data}
        print(json.dumps(body, indent=2), file=out)
    else:
        print(data.get("text", ""), file=out)
    print(f"thread: {thread} (continue with --thread {thread} --via-api)", file=err, flush=True)
    return 0
