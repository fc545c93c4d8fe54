"""Run lifecycle: one graph run per chat message, persisted as events and fanned out live.

A run is a row in ``chat.runs`` (a partial unique index allows one ``running`` run per
thread, so a thread has one writer and its checkpoint history never forks) and an
asyncio task independent of any client connection. Each streamed chunk becomes an event
``(seq, event, data)``: inserted into ``chat.run_events`` first, then pushed to the
in-process listeners, so a client that reconnects reads ``seq > last`` from the table and
then continues live without a gap or a duplicate. Each stored event is also announced with
``NOTIFY`` once committed (``graph.notify``), which wakes a follower on another replica to
read the table; polling is left as the fallback for when that replica's listening connection
is down. Event names: metadata, status, optimizer, tool, token, clarification, plan, error, end.

The ``RunManager`` is also what the API asks about chats (``graph.chats``): every statement
lives in ``graph.chat_store``, and the compiled graph stays behind this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from langchain_core.messages import HumanMessage
from psycopg_pool import AsyncConnectionPool

from core.resources import Resources
from graph import chat_store
from graph.chat_store import ActiveRunError, ThreadNotFoundError, sweep_stale_runs
from graph.chats import ChatAccess
from graph.context import Context
from graph.event_writer import RunEventWriter
from graph.follow import follow_run
from graph.foreground import ForegroundGate
from graph.lease import RunLeases
from graph.notify import RunEventListener, RunEventNotifier
from graph.run_events import (
    COMPUTING_STREAM_MODES,
    DB_LOST_MESSAGE,
    FAILED_MESSAGE,
    INTERRUPTED_MESSAGE,
    STREAM_MODES,
    RunEvent,
    TurnOutcome,
    lost_run_events,
    map_chunk,
    outcome_from_state,
    terminal_event,
)
from graph.run_hub import RunHub, StartedRun

__all__ = [
    "ActiveRunError",
    "NothingToResumeError",
    "RunManager",
    "StartedRun",
    "ThreadNotFoundError",
    "sweep_stale_runs",
]

logger = logging.getLogger(__name__)

EVENT_GATHER_S = 0.01
"""How long a run's events wait for the ones that follow before they are stored together
(``graph.event_writer``): ten milliseconds more to see an event live, about half as many
transactions a turn."""
COMPUTING_EVENT_GATHER_S = 0.05
"""The same for a computing turn (the offline provider), whose steps follow each other within
milliseconds: most of its events go in one or two transactions, each seen at most 50 ms
later."""


class NothingToResumeError(RuntimeError):
    """The thread's last turn finished: there is no checkpoint with work left to do."""


def _redacted_trace(exc: BaseException, context: Context) -> str:
    text = "".join(traceback.format_exception(exc))
    for secret in (context.llm_api_key, context.vaulted_api_key):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class RunManager(ChatAccess):
    """Start runs, execute them in the background, and let clients follow their events."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        graph: Any,
        *,
        on_event: Callable[[RunEvent], None] | None = None,
        heartbeat_s: float = 2.0,
        poll_s: float = 0.25,
        recheck_s: float = 2.0,
        cpu_bound: Callable[[Context], bool] | None = None,
        max_cpu_bound: int = 4,
        foreground: ForegroundGate | None = None,
        resources: Resources | None = None,
    ) -> None:
        """Bind the manager to the app's pool and compiled graph.

        ``resources`` (the pool, embedder, settings and catalog facts the graph's nodes use)
        go to every run in its runtime ``Context``, unless the caller's context has its own.

        Runs that ``cpu_bound`` says compute rather than wait (the offline provider: its
        turn is Python work from end to end) execute at most ``max_cpu_bound`` at a time;
        the others wait their turn after their ``metadata`` event. Sharing one event loop
        among hundreds of them would finish every turn late and delay the first event of
        new streams; runs that wait on an LLM are not limited. Those runs also wait at each
        of their events while ``foreground`` says a request is starting (``graph.foreground``).
        """
        super().__init__(pool, graph)
        self._resources = resources
        self.hub = RunHub()
        self._on_event = on_event
        self._cpu_bound = cpu_bound or (lambda _: False)
        self._cpu_slots = asyncio.Semaphore(max_cpu_bound)
        self._foreground = foreground or ForegroundGate()
        self.leases = RunLeases(pool, beat_s=heartbeat_s)
        self._poll_s = poll_s
        self._recheck_s = recheck_s
        kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
        self.listener = RunEventListener(str(pool.conninfo), dict(kwargs))
        self.notifier = RunEventNotifier(str(pool.conninfo), dict(kwargs))
        self._tasks: dict[str, asyncio.Task[TurnOutcome]] = {}
        self._interrupting = False
        self._recorders: set[asyncio.Task[None]] = set()

    async def start(
        self,
        user_id: str,
        thread_id: str,
        message: str | None,
        context: Context,
        *,
        subscribe: bool = False,
        new_thread: bool = False,
    ) -> StartedRun:
        """Claim the thread's single writer slot and run the graph on ``message``.

        With ``new_thread`` the thread ``thread_id`` is created in the same transaction as
        the run (a new chat's first message costs one transaction, not two).

        With ``message=None`` the run resumes the thread's interrupted turn from its last
        checkpoint: nodes whose results were saved are not run again. The run's first event
        (``metadata``) is stored with the run itself; with ``subscribe`` the returned run
        carries a queue of all its events, for a stream that starts at once.

        Raises:
            ThreadNotFoundError: The caller has no such thread.
            ActiveRunError: A run of this thread is still in progress.
            NothingToResumeError: ``message`` is None and the last turn is complete.

        """
        title = message.strip().splitlines()[0][:80] if message and message.strip() else None
        run_id = str(uuid.uuid4())
        first = RunEvent(
            1,
            "metadata",
            {
                "run_id": run_id,
                "thread_id": thread_id,
                "request_id": context.request_id,
                "resumed": message is None,
            },
        )

        async def resumable() -> None:
            if not await self._resumable(thread_id):
                raise NothingToResumeError(thread_id)

        await chat_store.claim_run(
            self._pool,
            user_id,
            thread_id,
            first,
            title=title,
            new_thread=new_thread,
            check=resumable if message is None else None,
        )
        if context.resources is None and self._resources is not None:
            context = replace(context, resources=self._resources)
        # Only now, committed: the run's own connections must find the thread and the run.
        return self._launch(user_id, thread_id, message, context, first, subscribe)

    def _launch(
        self,
        user_id: str,
        thread_id: str,
        message: str | None,
        context: Context,
        first: RunEvent,
        subscribe: bool,
    ) -> StartedRun:
        """Publish the stored first event and start the run's task."""
        run_id = str(first.data["run_id"])
        self.hub.open(run_id)
        events = self.hub.subscribe(run_id) if subscribe else None
        self._deliver(run_id, first)
        task = asyncio.create_task(
            self._execute(user_id, thread_id, run_id, message, context), name=f"run-{run_id}"
        )
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))
        return StartedRun(run_id, task, events)

    def _deliver(self, run_id: str, event: RunEvent) -> None:
        # Only committed events come here: followers elsewhere may read it from the table.
        self.notifier.announce(run_id, event.seq)
        self.hub.publish(run_id, event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # metrics must never break a run
                logger.exception("run event observer failed")

    async def _execute(
        self, user_id: str, thread_id: str, run_id: str, message: str | None, context: Context
    ) -> TurnOutcome:
        seq = 1  # the metadata event was stored with the run
        ended = False

        # Only turns that compute hold the event loop; one waiting on an LLM gives it back.
        cpu_bound = self._cpu_bound(context)

        async def store(batch: list[RunEvent]) -> None:
            await chat_store.insert_events(self._pool, user_id, run_id, batch)

        writer = RunEventWriter(
            store,
            lambda item: self._deliver(run_id, item),
            stored_seq=seq,
            gather_s=COMPUTING_EVENT_GATHER_S if cpu_bound else EVENT_GATHER_S,
        )

        async def emit(event: str, data: dict[str, Any]) -> None:
            nonlocal seq
            if cpu_bound:
                await self._foreground.wait_quiet()
            # ``seq`` counts events as they are emitted; the writer stores them in batches
            # while the graph goes on, and delivers each once committed (graph.event_writer).
            seq += 1
            writer.add(RunEvent(seq, event, data))

        async def finish(status: str, outcome: TurnOutcome, error: str | None) -> None:
            nonlocal seq
            pending = await writer.settle()
            final_name, final_data = terminal_event(run_id, outcome)
            final = RunEvent(seq + 1, final_name, final_data)
            end = RunEvent(
                seq + 2, "end", {"status": status, "response_type": outcome.response_type}
            )
            # The end event and the status change commit together (with the events still
            # pending): whoever sees the run finished also finds its end event in the table.
            await chat_store.finish_run(
                self._pool, user_id, run_id, [*pending, final, end], status, error
            )
            seq = end.seq
            writer.committed([*pending, final, end])
            nonlocal ended
            ended = True

        # A resumed turn starts from a checkpoint; a new one has one once the graph starts.
        checkpointed = message is None
        final: dict[str, Any] | None = None  # the state the turn ends with
        # The lease tells the sweepers of every replica that this run is alive (graph.lease).
        await self.leases.hold(run_id)
        config: dict[str, Any] = {
            "configurable": {"thread_id": thread_id},
            "metadata": {"run_id": run_id},
        }
        try:
            slot = self._cpu_slots if cpu_bound else contextlib.nullcontext()
            if slot is self._cpu_slots and self._cpu_slots.locked():
                await emit("status", {"state": "queued"})
            async with slot:
                if cpu_bound:
                    await self._foreground.wait_quiet()
                if cpu_bound and message is not None:
                    await self._save_input(message, config, context)
                    checkpointed = True
                async for mode, chunk in self._graph.astream(
                    {"messages": [HumanMessage(message)]} if not checkpointed else None,
                    config,
                    context=context,
                    stream_mode=COMPUTING_STREAM_MODES if cpu_bound else STREAM_MODES,
                    # A turn that waits on an LLM saves each step before the next starts: a
                    # turn that loses its process or its database resumes from where it
                    # stopped, and ``resumable`` is only said once the turn's input is saved.
                    # (With LangGraph's default, "async", saves lag behind a turn whose
                    # events no longer wait on the table, and a lost turn could leave none.)
                    # A computing turn saved its input above and is saved once more as it
                    # ends, or stops: its steps are milliseconds of deterministic Python,
                    # and a checkpoint after each of them cost as much CPU as the turn
                    # itself (bench/load_sse.py, two replicas: 145 ms of CPU a turn and
                    # 11.7 turns/s with them, 91-100 ms and 18.5-20.9 turns/s without).
                    # Lost midway, it runs again from its saved input on /resume.
                    durability="exit" if cpu_bound else "sync",
                ):
                    checkpointed = True  # the graph saved the turn's input before its first step
                    if mode == "values":
                        final = chunk
                    for name, data in map_chunk(mode, chunk):
                        await emit(name, data)
            if final is None:  # a resumed turn with no step left to run streams no values
                final = (await self._graph.aget_state(config)).values
            outcome = outcome_from_state(dict(final))
            await finish("done", outcome, None)
            return outcome
        except asyncio.CancelledError:
            if self._interrupting:
                # The process is draining (SIGTERM): record the turn as interrupted, where
                # /resume continues it, and answer its waiters instead of dying with them.
                interrupted = TurnOutcome(
                    "error",
                    INTERRUPTED_MESSAGE,
                    error_code="run_interrupted",
                    resumable=checkpointed,
                )
                with contextlib.suppress(Exception):
                    await asyncio.shield(finish("failed", interrupted, "interrupted"))
                return interrupted
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    finish("failed", TurnOutcome("error", FAILED_MESSAGE), "cancelled")
                )
            raise
        except Exception as exc:
            # Provider errors can quote the key (OpenAI's 401 does): log the type; the
            # traceback only at DEBUG, and with this run's keys cut out of it.
            logger.warning("run %s failed: %s", run_id, type(exc).__name__)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("run %s failure detail:\n%s", run_id, _redacted_trace(exc, context))
            outcome = TurnOutcome("error", FAILED_MESSAGE)
            try:
                await finish("failed", outcome, type(exc).__name__)
            except Exception:
                logger.warning("run %s: could not record its failure", run_id)
                # Its failure could not be stored either: the database is gone.
                return TurnOutcome(
                    "error",
                    DB_LOST_MESSAGE,
                    error_code="db_unavailable",
                    resumable=checkpointed,
                )
            return outcome
        finally:
            if ended:
                await asyncio.shield(self.leases.release(run_id))
            else:
                # The end could not be stored (database gone): still release the listeners
                # now, and record the failure as soon as the database is back, so that the
                # chat does not stay busy until a sweeper notices the stale heartbeat. The
                # lease stays held until then: the sweepers leave the recording to us. The
                # live events carry the ids and data ``close_interrupted_run`` stores.
                lost = lost_run_events(run_id, writer.stored_seq, "db_unavailable", DB_LOST_MESSAGE)
                for item in lost:
                    self.hub.publish(run_id, item)
                self._record_later(user_id, run_id)
            self.hub.close(run_id)

    async def _save_input(self, message: str, config: dict[str, Any], context: Context) -> None:
        """Checkpoint the turn's message alone and stop before its first step.

        The turn then continues from that checkpoint: whatever happens to it, ``/resume``
        finds the message saved with the steps still to run.
        """
        await self._graph.ainvoke(
            {"messages": [HumanMessage(message)]},
            config,
            context=context,
            interrupt_before="*",
            durability="sync",
        )

    def _record_later(self, user_id: str, run_id: str) -> None:
        task = asyncio.create_task(self._record_when_back(user_id, run_id))
        self._recorders.add(task)
        task.add_done_callback(self._recorders.discard)

    async def _record_when_back(self, user_id: str, run_id: str) -> None:
        delay = 0.5
        while True:
            try:
                await chat_store.record_lost_run(
                    self._pool, user_id, run_id, "db_unavailable", DB_LOST_MESSAGE
                )
                await self.leases.release(run_id)
                return
            except Exception as exc:  # still down: try again, less and less often
                logger.debug("run %s: failure not recorded yet (%s)", run_id, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def follow(
        self,
        user_id: str,
        run_id: str,
        after: int = 0,
        *,
        events: asyncio.Queue[RunEvent] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Yield the run's events with ``seq > after``: stored ones, then live, up to ``end``.

        ``events`` is the queue of a run just started with ``subscribe``: it already holds
        every event, so the table is not read (``graph.follow``).
        """
        return follow_run(
            self._pool,
            self.hub,
            self.listener,
            user_id,
            run_id,
            after,
            events=events,
            poll_s=self._poll_s,
            recheck_s=self._recheck_s,
        )

    async def drain(self, grace_s: float, timeout_s: float = 10.0) -> int:
        """Let the runs executing here finish within ``grace_s``, then interrupt the others.

        An interrupted run stores ``error`` (``run_interrupted``) and ``end`` like any
        other, so its streams end, and its last checkpoint lets ``/resume`` continue it.

        Returns:
            How many runs were interrupted.

        """
        running = list(self._tasks.values())
        if running:
            logger.warning("draining: %d run(s) have %.0f s to finish", len(running), grace_s)
            await asyncio.wait(running, timeout=grace_s)
        left = [task for task in self._tasks.values() if not task.done()]
        self._interrupting = True
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=timeout_s)
            logger.warning("draining: interrupted %d run(s)", len(left))
        return len(left)

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel the runs still executing here; each records itself as failed."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        # Failures still waiting for the database are left to the sweeper of the next start.
        for recorder in list(self._recorders):
            recorder.cancel()
        await self.listener.aclose()
        await self.notifier.aclose()
        await self.leases.aclose()
