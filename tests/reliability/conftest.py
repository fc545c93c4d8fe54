"""Fixtures of the fault tests: a dedicated Postgres per module, filled from the session's."""

import pytest

from tests.reliability.dedicated import dedicated_postgres


@pytest.fixture(scope="module")
def faultdb(pg_url, ingested):
    with dedicated_postgres(pg_url) as db:
        yield db
