"""``stack8s db status|stop``: the embedded Postgres, seen and stopped without starting it."""

from __future__ import annotations

import argparse
from typing import Any

from core.db import embedded_data_dir
from core.embedded import EmbeddedStatus, embedded_status, stop_if_unused
from core.settings import Settings

# pg_ctl's and the LSB's exit status for "not running".
NOT_RUNNING = 3


def _print_status(status: EmbeddedStatus) -> None:
    print(f"data directory: {status.data_dir}")
    if not status.initialized:
        print("state: not created yet (the first `stack8s serve` creates it)")
        return
    print(f"state: {'running, pid ' + str(status.pid) if status.running else 'stopped'}")
    users = ", ".join(map(str, status.users)) or "none"
    print(f"used by (pids): {users}")
    if status.stale:
        print(f"stale pids (processes that died holding it): {', '.join(map(str, status.stale))}")


def _external(settings: Settings) -> bool:
    if settings.embedded_database:
        return False
    print("DATABASE_URL is set: Stack8s uses that database, not an embedded one")
    return True


def cmd_db_status(settings: Settings, _: argparse.Namespace) -> int:
    """Print whether the embedded Postgres runs, and who uses it."""
    if _external(settings):
        return 0
    status = embedded_status(embedded_data_dir(settings))
    _print_status(status)
    return 0 if status.running else NOT_RUNNING


def cmd_db_stop(settings: Settings, _: argparse.Namespace) -> int:
    """Stop the embedded Postgres unless a live Stack8s process still uses it."""
    if _external(settings):
        return 0
    data_dir = embedded_data_dir(settings)
    if not embedded_status(data_dir).running:
        print("the embedded Postgres is not running")
        return 0
    status = stop_if_unused(data_dir)
    if status.running:
        pids = ", ".join(map(str, status.users))
        print(
            f"the embedded Postgres is still used by pids {pids}: stop those first (Ctrl+C in "
            "their terminal, or `kill PID`); it then stops with the last of them"
        )
        return 1
    print("the embedded Postgres is stopped")
    return 0


def add_db_parser(sub: Any) -> None:
    """Add ``db status`` and ``db stop`` to the command line."""
    db = sub.add_parser(
        "db",
        help="status of the embedded Postgres, or stop it",
        description="See or stop the embedded Postgres under STACK8S_HOME/pgdata (used when "
        "DATABASE_URL is unset). Neither action starts it. It stops by itself with the last "
        "Stack8s process that uses it, also when others were killed.",
    )
    actions = db.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="running or stopped, its pid, the processes using it (exit 3 when stopped)",
        description="Print whether the embedded Postgres runs, its pid, the pids of the "
        "Stack8s processes using it and any stale pids left by processes that were killed. "
        "Exit status 0 when it runs, 3 when it does not.",
    )
    status.set_defaults(handler=cmd_db_status)
    stop = actions.add_parser(
        "stop",
        help="stop it unless a running Stack8s process uses it (exit 1 then)",
        description="Forget the pids of killed processes, then stop the embedded Postgres if "
        "no live Stack8s process uses it. When one does, nothing is stopped: its pids are "
        "printed and the exit status is 1.",
    )
    stop.set_defaults(handler=cmd_db_stop)
