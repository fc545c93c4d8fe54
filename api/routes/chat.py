"""Chat endpoints: start, message (JSON or streamed), history, list, rename, delete, rejoin.

One writer per chat: a message sent while the chat's previous run is still in progress is
refused with 409 (not queued), so the conversation the user sees is the one the
checkpoints hold, turn by turn. The run itself is independent of the HTTP connection: a
client that disconnects loses no work and rejoins with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from langchain_core.messages import AIMessage, HumanMessage
from sse_starlette import EventSourceResponse

from api.deps import LimitedUser, RunContext, Runtime
from api.errors import error_response
from api.foreground import step_aside
from api.openapi import errors
from api.runtime import ChatRuntime
from api.schemas import (
    MAX_MESSAGE_BYTES,
    ChatDetail,
    ChatList,
    ChatPublic,
    ChatRename,
    ChatStarted,
    ChatTurnPublic,
    MessageCreate,
    MessagePublic,
)
from api.sse import event_stream, parse_last_event_id, wants_stream
from graph.runs import (
    ActiveRunError,
    NothingToResumeError,
    RunManager,
    StartedRun,
    ThreadNotFoundError,
)

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["chat"])

_GREETING = "Conversation started. Tell me about the AI workload you want to deploy."
_NOT_FOUND = "no such chat"
_NOTHING_TO_RESUME = "the last turn of this chat is complete; there is nothing to resume"
_BUSY = "this chat is still answering the previous message; wait for it or rejoin its stream"
_SSE_DESCRIPTION = (
    "Server-sent events, each with `event`, `id` (the run's sequence number: send it back as "
    "Last-Event-ID to rejoin) and JSON `data`. In order: `metadata` {run_id, thread_id}; "
    "then any of `status` {node, state}, `optimizer` (the optimizer's report), `tool` "
    "{name, ...}, `token` {node, text}; then one of `clarification` {text, questions, "
    "spec}, `plan` {text, plan, spec} or `error` {code, message, run_id}; last `end` "
    "{status, response_type}. A comment line keeps the connection open every 15 s."
)
_EVENT_NAMES = [
    "metadata", "status", "optimizer", "tool", "token", "clarification", "plan", "error", "end"
]  # fmt: skip
# One event of the stream, as OpenAPI tools (and Schemathesis) read an event stream.
_SSE_EVENT = {
    "type": "object",
    "description": _SSE_DESCRIPTION,
    "required": ["event", "data", "id"],
    "properties": {
        "event": {"type": "string", "enum": _EVENT_NAMES, "description": "The event's name."},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Sequence number."},
        "retry": {"type": "integer", "description": "Reconnect delay, ms (on metadata)."},
        "data": {
            "type": "string",
            "description": "The event's JSON object.",
            "contentMediaType": "application/json",
            "contentSchema": {"type": "object"},
        },
    },
}
_SSE_CONTENT = {
    "text/event-stream": {
        "schema": _SSE_EVENT,
        "example": 'event: metadata\nid: 1\ndata: {"run_id":"..."}\n\n',
    }
}
# Every chat route needs a signed-in caller (401 with auth on) within their rate (429).
_CALLER = (401, 429, 503)
_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": _SSE_CONTENT,
        "description": "JSON; or, with `Accept: text/event-stream`, the run's events. "
        + _SSE_DESCRIPTION,
    },
    **errors(*_CALLER, 404, 409, 413),
}
_MESSAGE_RESPONSES = {**_STREAM_RESPONSES, **errors(400)}


def _public(row: dict[str, Any]) -> ChatPublic:
    return ChatPublic(
        conversation_id=str(row["id"]),
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def parse_id(value: str) -> str | None:
    """Return ``value`` as a canonical UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def _thread_id(value: str) -> str:
    thread_id = parse_id(value)
    if thread_id is None:
        raise HTTPException(404, _NOT_FOUND)
    return thread_id


async def _runs(runtime: ChatRuntime) -> RunManager:
    if runtime.pool is None:  # 503 while the service is starting, not a RuntimeError
        raise HTTPException(503, "the chat service is starting")
    return await runtime.runs()


def _accepting_turns(runtime: ChatRuntime) -> None:
    if runtime.draining:
        raise HTTPException(503, "this server is shutting down; send the message again")


@router.post("/chat/start", response_model=ChatStarted, responses=errors(*_CALLER, 413))
async def start_chat(user: LimitedUser, runtime: Runtime) -> ChatStarted:
    """Start a new, empty chat."""
    row = await (await _runs(runtime)).create_chat(user.id)
    return ChatStarted(conversation_id=str(row["id"]), message=_GREETING)


@router.post("/chat/message", response_model=ChatTurnPublic, responses=_MESSAGE_RESPONSES)
async def post_message(
    body: MessageCreate,
    request: Request,
    user: LimitedUser,
    runtime: Runtime,
    context: RunContext,
) -> ChatTurnPublic | EventSourceResponse | JSONResponse:
    """Answer one message: a plan or clarifying questions (streamed with Accept: text/event-stream).

    Streamed events, each with an increasing ``id``: metadata, status, optimizer, tool,
    token, then clarification or plan (or error), then end.
    """
    if len(body.message.encode()) > MAX_MESSAGE_BYTES:
        raise HTTPException(413, f"the message is over {MAX_MESSAGE_BYTES // 1024} KB")
    _accepting_turns(runtime)
    new_thread = body.conversation_id is None
    thread_id = str(uuid.uuid4()) if new_thread else _thread_id(str(body.conversation_id))
    runs = await _runs(runtime)
    stream = wants_stream(request.headers.get("accept"))
    try:
        started = await runs.start(
            user.id, thread_id, body.message, context, subscribe=stream, new_thread=new_thread
        )
    except ThreadNotFoundError as exc:
        raise HTTPException(404, _NOT_FOUND) from exc
    except ActiveRunError as exc:
        raise HTTPException(409, _BUSY) from exc
    return await _answer(request, runs, user.id, thread_id, started)


async def _answer(
    request: Request, runs: RunManager, user_id: str, thread_id: str, started: StartedRun
) -> ChatTurnPublic | EventSourceResponse | JSONResponse:
    if started.events is not None:
        events = runs.follow(user_id, started.run_id, events=started.events)
        return event_stream(events, started.run_id)
    step_aside(request)  # the turn waits while this request is in the foreground
    # Shielded: a client that gives up does not cancel the run.
    outcome = await asyncio.shield(started.task)
    if outcome.error_code in ("db_unavailable", "run_interrupted"):
        # Not a 200 with an error answer: the turn did not fail, the database went away or
        # the server is shutting down.
        return error_response(
            request, 503, outcome.error_code, outcome.response, resumable=outcome.resumable
        )
    return ChatTurnPublic(
        conversation_id=thread_id,
        run_id=started.run_id,
        response=outcome.response,
        response_type=outcome.response_type,
        spec=outcome.spec,
        deployment_plan=outcome.plan,
    )


@router.post(
    "/chat/{conversation_id}/resume",
    response_model=ChatTurnPublic,
    responses=_STREAM_RESPONSES,
)
async def resume_chat(
    conversation_id: str,
    request: Request,
    user: LimitedUser,
    runtime: Runtime,
    context: RunContext,
) -> ChatTurnPublic | EventSourceResponse | JSONResponse:
    """Finish a turn that was interrupted (a crash, a database outage) from its last checkpoint.

    Nodes whose results were saved are not run again. Answers like a message, streamed
    with Accept: text/event-stream.
    """
    thread_id = _thread_id(conversation_id)
    _accepting_turns(runtime)
    runs = await _runs(runtime)
    stream = wants_stream(request.headers.get("accept"))
    try:
        started = await runs.start(user.id, thread_id, None, context, subscribe=stream)
    except ThreadNotFoundError as exc:
        raise HTTPException(404, _NOT_FOUND) from exc
    except ActiveRunError as exc:
        raise HTTPException(409, _BUSY) from exc
    except NothingToResumeError as exc:
        raise HTTPException(409, _NOTHING_TO_RESUME) from exc
    return await _answer(request, runs, user.id, thread_id, started)


@router.get("/chats", response_model=ChatList, responses=errors(*_CALLER))
async def list_chats(
    user: LimitedUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ChatList:
    """List the caller's chats, most recently active first."""
    rows = await (await _runs(runtime)).list_chats(user.id, limit + 1, offset)
    return ChatList(
        items=[_public(r) for r in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get("/chat/{conversation_id}", response_model=ChatDetail, responses=errors(*_CALLER, 404))
async def get_chat(conversation_id: str, user: LimitedUser, runtime: Runtime) -> ChatDetail:
    """Return a chat's messages, its latest spec and plan, and any run in progress."""
    thread_id = _thread_id(conversation_id)
    chat = await (await _runs(runtime)).get_chat(user.id, thread_id)
    if chat is None:
        raise HTTPException(404, _NOT_FOUND)
    row, values = chat.thread, chat.values
    messages = [
        MessagePublic(
            role="user" if isinstance(m, HumanMessage) else "assistant", content=str(m.content)
        )
        for m in values.get("messages", [])
        if isinstance(m, HumanMessage | AIMessage)
    ]
    public = _public(row)
    return ChatDetail(
        **public.model_dump(),
        messages=messages,
        spec=values.get("spec"),
        deployment_plan=values.get("plan"),
        active_run_id=str(row["active_run_id"]) if row["active_run_id"] else None,
    )


@router.patch(
    "/chat/{conversation_id}",
    response_model=ChatPublic,
    responses=errors(*_CALLER, 400, 404, 413),
)
async def rename_chat(
    conversation_id: str, body: ChatRename, user: LimitedUser, runtime: Runtime
) -> ChatPublic:
    """Rename a chat."""
    thread_id = _thread_id(conversation_id)
    row = await (await _runs(runtime)).rename_chat(user.id, thread_id, body.title.strip())
    if row is None:
        raise HTTPException(404, _NOT_FOUND)
    return _public(row)


@router.delete(
    "/chat/{conversation_id}",
    status_code=204,
    response_class=Response,
    responses=errors(*_CALLER, 404, 409),
)
async def delete_chat(conversation_id: str, user: LimitedUser, runtime: Runtime) -> Response:
    """Delete a chat, its runs and events, and its LangGraph checkpoints."""
    thread_id = _thread_id(conversation_id)
    result = await (await _runs(runtime)).delete_chat(user.id, thread_id)
    if result == "missing":
        raise HTTPException(404, _NOT_FOUND)
    if result == "busy":
        raise HTTPException(409, "this chat is answering a message; delete it afterwards")
    return Response(status_code=204)


@router.get(
    "/chat/{conversation_id}/runs/{run_id}/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": _SSE_CONTENT, "description": _SSE_DESCRIPTION},
        **errors(*_CALLER, 404),
    },
)
async def rejoin_run(
    conversation_id: str,
    run_id: str,
    user: LimitedUser,
    runtime: Runtime,
    last_event_id: Annotated[
        str | None,
        Header(
            description="The last event id seen; events after it are replayed first.",
            json_schema_extra={"pattern": "^[0-9]*$"},
        ),
    ] = None,
) -> EventSourceResponse:
    """Rejoin a run: replay the events after ``Last-Event-ID``, then continue live."""
    thread_id = _thread_id(conversation_id)
    run = parse_id(run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    runs = await _runs(runtime)
    if not await runs.run_belongs(user.id, thread_id, run):
        raise HTTPException(404, "no such run")
    return event_stream(runs.follow(user.id, run, parse_last_event_id(last_event_id)), run)
