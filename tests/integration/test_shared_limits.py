"""The per-user rate budget kept in Postgres: one budget for every process that shares it."""

import asyncio
import uuid

from api.limits import SharedRateLimiter
from core.db import create_pool
from core.settings import Settings


async def test_requests_at_once_through_two_limiters_then_one_budget_between_them(pg_url):
    pools = [create_pool(pg_url, Settings(_env_file=None)) for _ in range(2)]
    limiters = [SharedRateLimiter(5), SharedRateLimiter(5)]
    for pool, limiter in zip(pools, limiters, strict=True):
        await pool.open()
        limiter.pool = pool
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        answers = await asyncio.gather(*(limiters[i % 2].acquire(user) for i in range(12)))
        someone_else = await limiters[0].acquire(other)
    finally:
        for pool in pools:
            await pool.close()

    waits = [a for a in answers if a is not None]
    assert answers.count(None) == 5  # 5 a minute: the next token is 12 s away
    assert len(waits) == 7 and all(0 < w <= 12 for w in waits)
    assert someone_else is None
