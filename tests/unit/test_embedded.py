"""The embedded Postgres's users, from its handle file: live ones, and stale pids of the dead."""

import json
import os
import subprocess
import sys

from core.embedded import HANDLE_FILE, embedded_status, prune_stale_users


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_handle_file_with_a_dead_pid_then_status_shows_it_stale_and_no_server(tmp_path):
    dead = _dead_pid()
    (tmp_path / "PG_VERSION").write_text("18\n")
    (tmp_path / HANDLE_FILE).write_text(json.dumps([os.getpid(), dead]))
    (tmp_path / "postmaster.pid").write_text(f"{dead}\n{tmp_path}\n")

    status = embedded_status(tmp_path)

    assert status.initialized and not status.running
    assert status.users == [os.getpid()] and status.stale == [dead]


def test_prune_then_only_live_users_stay_in_the_handle_file(tmp_path):
    dead = _dead_pid()
    (tmp_path / HANDLE_FILE).write_text(json.dumps([dead, os.getpid()]))

    removed = prune_stale_users(tmp_path)

    assert removed == [dead]
    assert json.loads((tmp_path / HANDLE_FILE).read_text()) == [os.getpid()]


def test_no_data_directory_then_not_initialized_and_no_users(tmp_path):
    status = embedded_status(tmp_path / "pgdata")

    assert not status.initialized and not status.running and status.users == []
