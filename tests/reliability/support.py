"""Helpers of the fault tests: SSE parsing, API processes on loopback, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from core.settings import PROJECT_ROOT
from tests.support.live_server import free_port


def wait_until(check: Callable[[], Any], timeout_s: float, interval_s: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy; return it, or fail after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def started_nodes(events: list[tuple[int, str, Any]]) -> list[str]:
    """Return the graph nodes a run started, in order."""
    return [
        data["node"]
        for _, name, data in events
        if name == "status" and data.get("state") == "started" and data.get("node")
    ]


@contextmanager
def api_process(database_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``stack8s serve`` in a subprocess on a free loopback port; stop it afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_ENABLED": "false",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "warning",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or httpx.get(f"{url}/health").is_success, 60)
        assert proc.poll() is None, "the API process exited at start-up"
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
