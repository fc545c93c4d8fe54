"""Foreground gate and its middleware: who is foreground, and when it stops being."""

import asyncio

import pytest
from starlette.requests import Request

from api.foreground import ForegroundFirstMiddleware, step_aside
from graph.foreground import ForegroundGate


def _scope(path="/api/v1/chat/message", method="POST"):
    return {"type": "http", "method": method, "path": path, "headers": []}


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def test_gate_when_requests_enter_then_background_waits_until_the_last_leaves():
    async def scenario():
        gate = ForegroundGate()
        gate.enter()
        gate.enter()
        waiter = asyncio.create_task(gate.wait_quiet())
        await asyncio.sleep(0.01)
        after_one = waiter.done()
        gate.leave()
        await asyncio.sleep(0.01)
        after_first_leave = waiter.done()
        gate.leave()
        await asyncio.wait_for(waiter, 1)
        return after_one, after_first_leave, gate.busy

    assert asyncio.run(scenario()) == (False, False, False)


def test_middleware_when_stream_starts_then_foreground_ends_at_the_first_body_chunk():
    gate = ForegroundGate()
    busy_at = []

    async def app(scope, receive, send):
        busy_at.append(("handler", gate.busy))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        busy_at.append(("headers sent", gate.busy))
        await send(
            {"type": "http.response.body", "body": b"event: metadata\n\n", "more_body": True}
        )
        busy_at.append(("first event sent", gate.busy))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send(message):
        pass

    asyncio.run(ForegroundFirstMiddleware(app, gate)(_scope(), _receive, send))

    assert busy_at == [("handler", True), ("headers sent", True), ("first event sent", False)]


def test_middleware_when_handler_steps_aside_then_gate_is_free_while_it_waits():
    gate = ForegroundGate()
    seen = []

    async def app(scope, receive, send):
        step_aside(Request(scope))
        step_aside(Request(scope))  # a second call must not release someone else's hold
        seen.append(gate.busy)

    gate.enter()  # another request, still starting
    asyncio.run(ForegroundFirstMiddleware(app, gate)(_scope(), _receive, lambda m: None))

    assert seen == [True] and gate.busy


def test_middleware_when_handler_raises_then_foreground_is_released():
    gate = ForegroundGate()

    async def app(scope, receive, send):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(ForegroundFirstMiddleware(app, gate)(_scope(), _receive, lambda m: None))

    assert not gate.busy


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/v1/chats", "GET"), ("/api/v1/chat/start", "POST"), ("/api/v1/chat/x", "PATCH")],
)
def test_middleware_when_request_starts_no_turn_then_gate_untouched(path, method):
    gate = ForegroundGate()
    seen = []

    async def app(scope, receive, send):
        seen.append(gate.busy)

    asyncio.run(ForegroundFirstMiddleware(app, gate)(_scope(path, method), _receive, None))

    assert seen == [False]


def test_middleware_resume_path_then_foreground():
    gate = ForegroundGate()
    seen = []

    async def app(scope, receive, send):
        seen.append(gate.busy)

    asyncio.run(
        ForegroundFirstMiddleware(app, gate)(_scope("/api/v1/chat/abc/resume"), _receive, None)
    )

    assert seen == [True] and not gate.busy
