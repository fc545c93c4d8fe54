import subprocess
import sys
import textwrap

import pytest

from core.db import connect
from core.settings import PROJECT_ROOT


@pytest.fixture
def embedded_dir(pg_url):
    if "host=" not in pg_url:
        pytest.skip("TEST_DATABASE_URL points at an external Postgres")
    return pg_url.split("host=")[1].split("&")[0]


def test_second_process_joins_the_embedded_server_and_leaving_does_not_stop_it(
    pg_url, embedded_dir
):
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from core.db import connect, start_embedded_postgres
        url = start_embedded_postgres(Path({embedded_dir!r}))
        with connect(url) as conn:
            print(conn.execute("select pg_backend_pid() as pid").fetchone()["pid"])
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()
    # The other process has exited; the server it shared is still serving this one.
    with connect(pg_url) as conn:
        assert conn.execute("select 1 as ok").fetchone() == {"ok": 1}
