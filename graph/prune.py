"""Checkpoint pruning: keep each thread's newest checkpoints, drop the old history.

LangGraph's Postgres saver keeps every checkpoint of every thread (one per super-step, about
ten per chat turn), each with its pending writes (``checkpoint_writes``) and the channel
values it points at (``checkpoint_blobs``, shared between checkpoints by version). A chat
only ever loads its newest checkpoint, so the history behind it can go.

``prune_checkpoints`` deletes, per thread and namespace, the checkpoints that are both
beyond the newest ``keep_last`` and older than ``older_than_days``; their pending writes;
and the blobs that no remaining checkpoint of the thread points at. The newest checkpoint
of a thread is never deleted (``keep_last`` is at least 1), and threads with a run in
progress are skipped, so a run never loses a checkpoint it is about to build on. It also
deletes the stream events (``chat.run_events``) of runs that finished before the cutoff;
the runs themselves and the chats stay.

The saver's tables are the saver's (see ARCHITECTURE.md): this module only deletes rows,
with the same keys the saver uses, and never writes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

BATCH_THREADS = 200
"""Threads pruned per transaction: short transactions, so the saver is never held up long."""

# Threads with more checkpoints than kept in a namespace and an old one among the surplus.
_CANDIDATES = """
select thread_id from checkpoints
group by thread_id, checkpoint_ns
having count(*) > %(keep)s
   and min((checkpoint ->> 'ts')::timestamptz) < now() - make_interval(secs => %(days)s * 86400.0)
"""

_DOOMED = """
create temp table prune_doomed on commit drop as
select c.thread_id, c.checkpoint_ns, c.checkpoint_id
from (
    select thread_id, checkpoint_ns, checkpoint_id,
           (checkpoint ->> 'ts')::timestamptz as ts,
           row_number() over (
               partition by thread_id, checkpoint_ns order by checkpoint_id desc
           ) as newest_first
    from checkpoints
    where thread_id = any(%(threads)s)
) c
where c.newest_first > %(keep)s
  and c.ts < now() - make_interval(secs => %(days)s * 86400.0)
  and not exists (
      select 1 from chat.runs r where r.thread_id::text = c.thread_id and r.status = 'running'
  )
"""

_DELETE_CHECKPOINTS = """
delete from checkpoints c using prune_doomed d
where c.thread_id = d.thread_id and c.checkpoint_ns = d.checkpoint_ns
  and c.checkpoint_id = d.checkpoint_id
"""

_DELETE_WRITES = """
delete from checkpoint_writes w using prune_doomed d
where w.thread_id = d.thread_id and w.checkpoint_ns = d.checkpoint_ns
  and w.checkpoint_id = d.checkpoint_id
"""

# A blob goes when no remaining checkpoint of its thread points at it, and only if it is
# older than the newest version of its channel that one does: a run that stored a newer
# blob a moment ago but not yet its checkpoint keeps it. Versions are zero-padded numbers,
# so they compare byte-wise ("C"), whatever the database's collation.
_DELETE_BLOBS = """
delete from checkpoint_blobs b
using (select distinct thread_id, checkpoint_ns from prune_doomed) t
where b.thread_id = t.thread_id and b.checkpoint_ns = t.checkpoint_ns
  and not exists (
      select 1 from checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
      where c.thread_id = b.thread_id and c.checkpoint_ns = b.checkpoint_ns
        and v.key = b.channel and v.value = b.version
  )
  and b.version collate "C" < (
      select max(v.value collate "C")
      from checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
      where c.thread_id = b.thread_id and c.checkpoint_ns = b.checkpoint_ns
        and v.key = b.channel
  )
"""

_DELETE_RUN_EVENTS = """
delete from chat.run_events e using chat.runs r
where e.run_id = r.id and r.status <> 'running'
  and r.finished_at < now() - make_interval(secs => %(days)s * 86400.0)
"""


@dataclass
class PruneReport:
    """What one pruning pass removed (or would remove, in a dry run)."""

    threads: int = 0
    checkpoints: int = 0
    writes: int = 0
    blobs: int = 0
    run_events: int = 0

    def add(self, other: PruneReport) -> None:
        """Add another pass's counts to these."""
        self.threads += other.threads
        self.checkpoints += other.checkpoints
        self.writes += other.writes
        self.blobs += other.blobs
        self.run_events += other.run_events


class _Rollback(Exception):
    """Raised to end a dry run's transaction after counting."""


def _prune_batch(
    conn: psycopg.Connection[Any], threads: list[str], keep_last: int, days: float
) -> PruneReport:
    params = {"threads": threads, "keep": keep_last, "days": days}
    conn.execute(_DOOMED, params)
    doomed = conn.execute("select count(distinct thread_id) as n from prune_doomed").fetchone()
    report = PruneReport(threads=int(doomed["n"]) if doomed else 0)
    report.writes = conn.execute(_DELETE_WRITES).rowcount
    report.checkpoints = conn.execute(_DELETE_CHECKPOINTS).rowcount
    report.blobs = conn.execute(_DELETE_BLOBS).rowcount
    return report


def prune_checkpoints(
    conn: psycopg.Connection[Any],
    *,
    keep_last: int,
    older_than_days: float,
    dry_run: bool = False,
) -> PruneReport:
    """Delete old checkpoints (and their writes and unused blobs) and old run events.

    Args:
        conn: An autocommit connection as the database owner (not under RLS).
        keep_last: Checkpoints kept per thread and namespace, newest first (at least 1).
        older_than_days: Only checkpoints (and finished runs' events) older than this go.
        dry_run: Count what would go, delete nothing.

    Returns:
        The counts of what was (or would be) deleted.

    Raises:
        ValueError: ``keep_last`` below 1 or ``older_than_days`` negative.

    """
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1: a thread's newest checkpoint stays")
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    rows = conn.execute(_CANDIDATES, {"keep": keep_last, "days": older_than_days}).fetchall()
    threads = sorted({str(r["thread_id"]) for r in rows})
    total = PruneReport()
    for start in range(0, len(threads), BATCH_THREADS):
        batch = threads[start : start + BATCH_THREADS]
        try:
            with conn.transaction():
                report = _prune_batch(conn, batch, keep_last, older_than_days)
                if dry_run:
                    raise _Rollback
        except _Rollback:
            pass
        total.add(report)
    try:
        with conn.transaction():
            total.run_events = conn.execute(_DELETE_RUN_EVENTS, {"days": older_than_days}).rowcount
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    logger.info(
        "pruned %s checkpoints, %s writes, %s blobs in %s threads; %s run events%s",
        total.checkpoints,
        total.writes,
        total.blobs,
        total.threads,
        total.run_events,
        " (dry run)" if dry_run else "",
    )
    return total
