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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any

import psycopg
from langchain_core.messages import HumanMessage
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.db import as_user
from graph.context import Context
from graph.event_writer import RunEventWriter
from graph.foreground import ForegroundGate
from graph.lease import RunLeases, let_go, owner_gone
from graph.notify import NOTIFY_SQL, RunEventListener, RunEventNotifier, notice_payload
from graph.run_events import (
    FAILED_MESSAGE,
    STREAM_MODES,
    RunEvent,
    TurnOutcome,
    map_chunk,
    outcome_from_state,
    terminal_event,
)

logger = logging.getLogger(__name__)


class ThreadNotFoundError(LookupError):
    """The thread does not exist, or belongs to someone else (RLS hides it)."""


class ActiveRunError(RuntimeError):
    """Another run of the same thread is still in progress."""


class NothingToResumeError(RuntimeError):
    """The thread's last turn finished: there is no checkpoint with work left to do."""


INTERRUPTED_MESSAGE = (
    "The server running this turn stopped before it finished. Resume the turn, or send "
    "the message again."
)
DB_LOST_MESSAGE = (
    "The database became unavailable during this turn. Nothing that was saved is lost: "
    "resume the turn, or send the message again."
)


def _redacted_trace(exc: BaseException, context: Context) -> str:
    text = "".join(traceback.format_exception(exc))
    for secret in (context.llm_api_key, context.vaulted_api_key):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class RunHub:
    """In-process fan-out of live events to the listeners of each run."""

    def __init__(self) -> None:
        """Start with no live runs."""
        self._listeners: dict[str, set[asyncio.Queue[RunEvent]]] = {}

    def open(self, run_id: str) -> None:
        """Register a run that this process executes."""
        self._listeners.setdefault(run_id, set())

    def close(self, run_id: str) -> None:
        """Forget a finished run; its listeners already received ``end``."""
        self._listeners.pop(run_id, None)

    def subscribe(self, run_id: str) -> asyncio.Queue[RunEvent] | None:
        """Return a queue of the run's future events, or None when it is not live here."""
        listeners = self._listeners.get(run_id)
        if listeners is None:
            return None
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        listeners.add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[RunEvent]) -> None:
        """Stop delivering to ``queue``."""
        self._listeners.get(run_id, set()).discard(queue)

    def publish(self, run_id: str, event: RunEvent) -> None:
        """Deliver ``event`` to every listener of the run."""
        for queue in self._listeners.get(run_id, ()):
            queue.put_nowait(event)


@dataclass
class StartedRun:
    """A run that was accepted: its id, the task that executes it, and its live events.

    ``events`` (when asked for at start) was subscribed before the run began, so it holds
    every event from ``metadata`` on: following it needs no read of the table.
    """

    run_id: str
    task: asyncio.Task[TurnOutcome]
    events: asyncio.Queue[RunEvent] | None = None


class RunManager:
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
    ) -> None:
        """Bind the manager to the app's pool and compiled graph.

        Runs that ``cpu_bound`` says compute rather than wait (the offline provider: its
        turn is Python work from end to end) execute at most ``max_cpu_bound`` at a time;
        the others wait their turn after their ``metadata`` event. Sharing one event loop
        among hundreds of them would finish every turn late and delay the first event of
        new streams; runs that wait on an LLM are not limited. Those runs also wait at each
        of their events while ``foreground`` says a request is starting (``graph.foreground``).
        """
        self.pool = pool
        self.graph = graph
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
        try:
            async with as_user(self.pool, user_id, pipelined=True) as conn:
                if new_thread:
                    await self._insert_run(
                        conn, user_id, thread_id, first, new_thread=True, new_thread_title=title
                    )
                else:
                    await self._claim_thread(conn, user_id, thread_id, title, first, message)
        except psycopg.errors.UniqueViolation as exc:
            raise ActiveRunError(thread_id) from exc
        # Only now, committed: the run's own connections must find the thread and the run.
        return self._launch(user_id, thread_id, message, context, first, subscribe)

    async def _claim_thread(
        self,
        conn: psycopg.AsyncConnection[Any],
        user_id: str,
        thread_id: str,
        title: str | None,
        first: RunEvent,
        message: str | None,
    ) -> None:
        """Touch the caller's thread and insert the run with its first event."""
        found = await (
            await conn.execute(
                "update chat.threads set updated_at = now(), title = coalesce(title, %s)"
                " where id = %s and deleted_at is null returning id",
                (title, thread_id),
            )
        ).fetchone()
        if found is None:
            raise ThreadNotFoundError(thread_id)
        # Only once the thread is known to be the caller's: no oracle for others'.
        if message is None and not await self._resumable(thread_id):
            raise NothingToResumeError(thread_id)
        await self._insert_run(conn, user_id, thread_id, first)

    async def _insert_run(
        self,
        conn: psycopg.AsyncConnection[Any],
        user_id: str,
        thread_id: str,
        first: RunEvent,
        *,
        new_thread_title: str | None = None,
        new_thread: bool = False,
    ) -> None:
        """Insert the run and its first event (and the thread, when ``new_thread``).

        One statement, so the stream can start as soon as it commits; a new thread is a CTE
        the run selects from, and the foreign keys are checked at the statement's end.
        """
        thread = (
            "thread as (insert into chat.threads (id, user_id, title)"
            " values (%(thread)s, %(user)s, %(title)s) returning id), "
            if new_thread
            else ""
        )
        await conn.execute(
            f"with {thread}run as (insert into chat.runs (id, thread_id, user_id)"
            f" select %(run)s, %(thread)s, %(user)s {'from thread' if new_thread else ''}"
            " returning id)"
            " insert into chat.run_events (run_id, seq, user_id, event, data)"
            " select id, %(seq)s, %(user)s, %(event)s, %(data)s from run",
            {
                "thread": thread_id,
                "user": user_id,
                "title": new_thread_title,
                "run": first.data["run_id"],
                "seq": first.seq,
                "event": first.event,
                "data": Jsonb(first.data),
            },
        )

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

    async def _resumable(self, thread_id: str) -> bool:
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        return bool(snapshot.next)

    async def _insert(
        self,
        conn: psycopg.AsyncConnection[Any],
        user_id: str,
        run_id: str,
        *events: RunEvent,
    ) -> None:
        """Insert ``events`` in one statement (a batch costs one statement, not one each)."""
        if not events:
            return
        rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
        params: list[Any] = []
        for event in events:
            params += [run_id, event.seq, user_id, event.event, Jsonb(event.data)]
        await conn.execute(
            f"insert into chat.run_events (run_id, seq, user_id, event, data) values {rows}",
            params,
        )

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
            async with as_user(self.pool, user_id, pipelined=True) as conn:
                await self._insert(conn, user_id, run_id, *batch)

        writer = RunEventWriter(store, lambda item: self._deliver(run_id, item), stored_seq=seq)

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
            async with as_user(self.pool, user_id, pipelined=True) as conn:
                await self._insert(conn, user_id, run_id, *pending, final, end)
                await conn.execute(
                    "update chat.runs set status = %s, error = %s, finished_at = now(),"
                    " heartbeat_at = now() where id = %s",
                    (status, error, run_id),
                )
            seq = end.seq
            writer.committed([*pending, final, end])
            nonlocal ended
            ended = True

        # A resumed turn starts from a checkpoint; a new one has one once the graph starts.
        checkpointed = message is None
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
                async for mode, chunk in self.graph.astream(
                    {"messages": [HumanMessage(message)]} if message is not None else None,
                    config,
                    context=context,
                    stream_mode=STREAM_MODES,
                    # Each step's checkpoint is saved before the next step starts: a turn
                    # that loses its process or its database resumes from where it stopped,
                    # and ``resumable`` is only said once the turn's input is saved. (With
                    # LangGraph's default, "async", saves lag behind a turn whose events no
                    # longer wait on the table, and a lost turn could leave none.)
                    durability="sync",
                ):
                    checkpointed = True  # the graph saved the turn's input before its first step
                    for name, data in map_chunk(mode, chunk):
                        await emit(name, data)
            snapshot = await self.graph.aget_state(config)
            outcome = outcome_from_state(dict(snapshot.values))
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

    def _record_later(self, user_id: str, run_id: str) -> None:
        task = asyncio.create_task(self._record_when_back(user_id, run_id))
        self._recorders.add(task)
        task.add_done_callback(self._recorders.discard)

    async def _record_when_back(self, user_id: str, run_id: str) -> None:
        delay = 0.5
        while True:
            try:
                async with as_user(self.pool, user_id) as conn:
                    await close_interrupted_run(
                        conn, run_id, user_id, "db_unavailable", DB_LOST_MESSAGE
                    )
                await self.leases.release(run_id)
                return
            except Exception as exc:  # still down: try again, less and less often
                logger.debug("run %s: failure not recorded yet (%s)", run_id, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _events_after(self, user_id: str, run_id: str, after: int) -> list[RunEvent]:
        async with as_user(self.pool, user_id) as conn:
            rows = await (
                await conn.execute(
                    "select seq, event, data from chat.run_events"
                    " where run_id = %s and seq > %s order by seq",
                    (run_id, after),
                )
            ).fetchall()
        return [RunEvent(r["seq"], r["event"], r["data"]) for r in rows]

    async def _still_running(self, user_id: str, run_id: str) -> bool:
        async with as_user(self.pool, user_id) as conn:
            row = await (
                await conn.execute("select status from chat.runs where id = %s", (run_id,))
            ).fetchone()
        return row is not None and row["status"] == "running"

    async def follow(
        self,
        user_id: str,
        run_id: str,
        after: int = 0,
        *,
        events: asyncio.Queue[RunEvent] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Yield the run's events with ``seq > after``: stored ones, then live, up to ``end``.

        ``events`` is the queue of a run just started with ``subscribe``: it already holds
        every event, so the table is not read.
        """
        # Subscribe before reading the table, so that nothing committed in between is lost;
        # the seq check drops what both paths deliver.
        queue = events if events is not None else self.hub.subscribe(run_id)
        # Watch before reading the table too, for the same reason.
        wake = self.listener.watch(run_id) if queue is None else None
        last = after
        try:
            stored = [] if events is not None else await self._events_after(user_id, run_id, last)
            for item in stored:
                last = item.seq
                yield item
                if item.event == "end":
                    return
            while True:
                if queue is not None:
                    item = await queue.get()
                    if item.seq <= last:
                        continue
                    last = item.seq
                    yield item
                    if item.event == "end":
                        return
                    continue
                # The run executes in another process: its notices wake us (or, while the
                # listener is down, a short poll); a longer re-check catches a run that ends
                # without an event, such as one deleted with its chat.
                assert wake is not None
                patience = self._recheck_s if self.listener.connected else self._poll_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), patience)
                woken = wake.is_set()
                wake.clear()
                # Status first: once it says finished, the end event is already stored.
                running = True if woken else await self._still_running(user_id, run_id)
                for item in await self._events_after(user_id, run_id, last):
                    last = item.seq
                    yield item
                    if item.event == "end":
                        return
                if not running:
                    return
        finally:
            if queue is not None:
                self.hub.unsubscribe(run_id, queue)
            if wake is not None:
                self.listener.unwatch(run_id, wake)

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


def lost_run_events(run_id: str, after: int, code: str, message: str) -> list[RunEvent]:
    """Return the ``error`` and ``end`` events that close a lost run after event ``after``.

    The same events go out live (to the listeners of the executing process) and into the
    table (``close_interrupted_run``), so a client that rejoins sees the ids it saw live.
    """
    return [
        RunEvent(after + 1, "error", {"code": code, "message": message, "run_id": run_id}),
        RunEvent(after + 2, "end", {"status": "failed", "response_type": "error"}),
    ]


async def close_interrupted_run(
    conn: psycopg.AsyncConnection[Any],
    run_id: str,
    user_id: str,
    code: str,
    message: str,
    *,
    stale_after_s: float | None = None,
) -> bool:
    """Mark a run that is still ``running`` as failed and append its ``error`` and ``end``.

    The claim is one atomic update, so two closers never close the same run twice; with
    ``stale_after_s`` it claims the run only if its heartbeat is at least that old.

    Returns:
        Whether this call closed the run.

    """
    stale = " and heartbeat_at < now() - make_interval(secs => %s)"
    if stale_after_s is None:
        stale = ""
    params: tuple[Any, ...] = (code, run_id, stale_after_s) if stale else (code, run_id)
    claimed = await (
        await conn.execute(
            "update chat.runs set status = 'failed', error = %s, finished_at = now()"
            " where id = %s and status = 'running'" + stale + " returning id",
            params,
        )
    ).fetchone()
    if claimed is None:
        return False
    top = await (
        await conn.execute(
            "select coalesce(max(seq), 0) as n from chat.run_events where run_id = %s", (run_id,)
        )
    ).fetchone()
    seq = int(top["n"]) if top else 0
    lost = lost_run_events(run_id, seq, code, message)
    for item in lost:
        await conn.execute(
            "insert into chat.run_events (run_id, seq, user_id, event, data)"
            " values (%s, %s, %s, %s, %s)",
            (run_id, item.seq, user_id, item.event, Jsonb(item.data)),
        )
    await conn.execute(NOTIFY_SQL, (notice_payload(run_id, seq + len(lost)),))
    return True


@contextlib.asynccontextmanager
async def _acting_as(conn: psycopg.AsyncConnection[Any], user_id: str) -> AsyncIterator[None]:
    """Run a transaction on ``conn`` as ``user_id`` under row-level security (as ``as_user``)."""
    async with conn.transaction():
        await conn.execute(
            "select set_config('request.jwt.claims', %s, true),"
            " set_config('role', 'authenticated', true)",
            (json.dumps({"sub": user_id, "role": "authenticated"}),),
        )
        yield


async def sweep_stale_runs(
    pool: AsyncConnectionPool[Any],
    stale_after_s: float = 5.0,
    hung_after_s: float = 60.0,
    *,
    exclude: Collection[str] = (),
    restart_grace_s: float = 10.0,
) -> int:
    """Close the runs whose process is gone, with ``error`` and ``end`` events.

    A run's process is gone when nobody holds the run's lease lock and its heartbeat is at
    least ``stale_after_s`` old (``graph.lease``: the owner beats every 2 s), or when its
    heartbeat is ``hung_after_s`` old whoever holds the lock. A free lock means nothing in the
    ``restart_grace_s`` after Postgres starts (every lock went with the old server; owners take
    them again as they reconnect), and the runs in ``exclude`` (this process's own) are left
    to their owner. Runs as the app's login role so it sees every user's runs; each claim is an
    atomic update, and the lease lock is held while closing, so replicas sweeping together
    never close the same run twice.

    Returns:
        How many runs were closed.

    """
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "select id, user_id, heartbeat_at < now() - make_interval(secs => %s) as hung,"
                " pg_postmaster_start_time() < now() - make_interval(secs => %s) as settled"
                " from chat.runs where status = 'running'"
                " and heartbeat_at < now() - make_interval(secs => %s)",
                (hung_after_s, restart_grace_s, stale_after_s),
            )
        ).fetchall()
    closed = 0
    for row in rows:
        run_id, user_id = str(row["id"]), str(row["user_id"])
        if run_id in exclude:
            continue
        async with pool.connection() as conn:
            free = await owner_gone(conn, run_id)
            try:
                if not (free and row["settled"]) and not row["hung"]:
                    continue  # its process lives (or may, just after a restart)
                async with _acting_as(conn, user_id):
                    # Staleness is checked again in the claim: the run may have beaten since.
                    if await close_interrupted_run(
                        conn,
                        run_id,
                        user_id,
                        "run_interrupted",
                        INTERRUPTED_MESSAGE,
                        stale_after_s=stale_after_s if free and row["settled"] else hung_after_s,
                    ):
                        closed += 1
            finally:
                if free:
                    await let_go(conn, run_id)
    if closed:
        logger.warning("closed %d interrupted run(s)", closed)
    return closed
