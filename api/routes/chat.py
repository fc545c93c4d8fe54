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
from langchain_core.messages import AIMessage, HumanMessage
from sse_starlette import EventSourceResponse

from api import chat_store
from api.deps import LimitedUser, RunContext, Runtime
from api.foreground import step_aside
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
_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when asked."},
    404: {"description": "No such chat."},
    409: {"description": "A run of this chat is in progress."},
    413: {"description": "The message is over 16 KB."},
    429: {"description": "Rate limited; see Retry-After."},
}


def _public(row: dict[str, Any]) -> ChatPublic:
    return ChatPublic(
        conversation_id=str(row["id"]),
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _thread_id(value: str) -> str:
    thread_id = chat_store.parse_id(value)
    if thread_id is None:
        raise HTTPException(404, _NOT_FOUND)
    return thread_id


def _pool(runtime: ChatRuntime) -> Any:
    if runtime.pool is None:
        raise HTTPException(503, "the chat service is starting")
    return runtime.pool


async def _runs(runtime: ChatRuntime) -> RunManager:
    _pool(runtime)  # 503 while the service is starting, not the run manager's RuntimeError
    return await runtime.runs()


@router.post("/chat/start", response_model=ChatStarted)
async def start_chat(user: LimitedUser, runtime: Runtime) -> ChatStarted:
    """Start a new, empty chat."""
    row = await chat_store.create_thread(_pool(runtime), user.id)
    return ChatStarted(conversation_id=str(row["id"]), message=_GREETING)


@router.post("/chat/message", response_model=ChatTurnPublic, responses=_STREAM_RESPONSES)
async def post_message(
    body: MessageCreate,
    request: Request,
    user: LimitedUser,
    runtime: Runtime,
    context: RunContext,
) -> ChatTurnPublic | EventSourceResponse:
    """Answer one message: a plan or clarifying questions (streamed with Accept: text/event-stream).

    Streamed events, each with an increasing ``id``: metadata, status, optimizer, tool,
    token, then clarification or plan (or error), then end.
    """
    if len(body.message.encode()) > MAX_MESSAGE_BYTES:
        raise HTTPException(413, f"the message is over {MAX_MESSAGE_BYTES // 1024} KB")
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
) -> ChatTurnPublic | EventSourceResponse:
    if started.events is not None:
        return event_stream(runs.follow(user_id, started.run_id, events=started.events))
    step_aside(request)  # the turn waits while this request is in the foreground
    # Shielded: a client that gives up does not cancel the run.
    outcome = await asyncio.shield(started.task)
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
    responses={**_STREAM_RESPONSES, 409: {"description": "Busy, or nothing to resume."}},
)
async def resume_chat(
    conversation_id: str,
    request: Request,
    user: LimitedUser,
    runtime: Runtime,
    context: RunContext,
) -> ChatTurnPublic | EventSourceResponse:
    """Finish a turn that was interrupted (a crash, a database outage) from its last checkpoint.

    Nodes whose results were saved are not run again. Answers like a message, streamed
    with Accept: text/event-stream.
    """
    thread_id = _thread_id(conversation_id)
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


@router.get("/chats", response_model=ChatList)
async def list_chats(
    user: LimitedUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ChatList:
    """List the caller's chats, most recently active first."""
    rows = await chat_store.list_threads(_pool(runtime), user.id, limit + 1, offset)
    return ChatList(
        items=[_public(r) for r in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get("/chat/{conversation_id}", response_model=ChatDetail)
async def get_chat(conversation_id: str, user: LimitedUser, runtime: Runtime) -> ChatDetail:
    """Return a chat's messages, its latest spec and plan, and any run in progress."""
    thread_id = _thread_id(conversation_id)
    row = await chat_store.get_thread(_pool(runtime), user.id, thread_id)
    if row is None:
        raise HTTPException(404, _NOT_FOUND)
    runs = await _runs(runtime)
    snapshot = await runs.graph.aget_state({"configurable": {"thread_id": thread_id}})
    values: dict[str, Any] = dict(snapshot.values or {})
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


@router.patch("/chat/{conversation_id}", response_model=ChatPublic)
async def rename_chat(
    conversation_id: str, body: ChatRename, user: LimitedUser, runtime: Runtime
) -> ChatPublic:
    """Rename a chat."""
    row = await chat_store.rename_thread(
        _pool(runtime), user.id, _thread_id(conversation_id), body.title.strip()
    )
    if row is None:
        raise HTTPException(404, _NOT_FOUND)
    return _public(row)


@router.delete("/chat/{conversation_id}", status_code=204, response_class=Response)
async def delete_chat(conversation_id: str, user: LimitedUser, runtime: Runtime) -> Response:
    """Delete a chat, its runs and events, and its LangGraph checkpoints."""
    thread_id = _thread_id(conversation_id)
    result = await chat_store.delete_thread(_pool(runtime), user.id, thread_id)
    if result == "missing":
        raise HTTPException(404, _NOT_FOUND)
    if result == "busy":
        raise HTTPException(409, "this chat is answering a message; delete it afterwards")
    runs = await _runs(runtime)
    await runs.graph.checkpointer.adelete_thread(thread_id)
    return Response(status_code=204)


@router.get(
    "/chat/{conversation_id}/runs/{run_id}/stream",
    response_class=EventSourceResponse,
    responses={404: {"description": "No such run in this chat."}},
)
async def rejoin_run(
    conversation_id: str,
    run_id: str,
    user: LimitedUser,
    runtime: Runtime,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Rejoin a run: replay the events after ``Last-Event-ID``, then continue live."""
    thread_id = _thread_id(conversation_id)
    run = chat_store.parse_id(run_id)
    if run is None or not await chat_store.run_belongs(_pool(runtime), user.id, thread_id, run):
        raise HTTPException(404, "no such run")
    runs = await _runs(runtime)
    return event_stream(runs.follow(user.id, run, parse_last_event_id(last_event_id)))
