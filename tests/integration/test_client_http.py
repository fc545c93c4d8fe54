"""The Python client against a real server: chats, tools, errors, and streams that rejoin.

A transport wrapper cuts the first event stream after its first chunk, as a dropped
connection would; the client must rejoin with Last-Event-ID and deliver every event once.
"""

import httpx
import pytest

from api.app import create_app
from client import AsyncStack8sClient, Stack8sClient, Stack8sError
from core.settings import Settings
from tests.support.live_server import serve_asgi

pytestmark = pytest.mark.integration

REQUEST = "Deploy Llama 3.1 8B for 20 users on AWS"


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


class _CutStream(httpx.SyncByteStream):
    def __init__(self, inner):
        self.inner = inner

    def __iter__(self):
        for chunk in self.inner:
            yield chunk
            raise httpx.ReadError("connection cut by the test")

    def close(self):
        self.inner.close()


class _AsyncCutStream(httpx.AsyncByteStream):
    def __init__(self, inner):
        self.inner = inner

    async def __aiter__(self):
        async for chunk in self.inner:
            yield chunk
            raise httpx.ReadError("connection cut by the test")

    async def aclose(self):
        await self.inner.aclose()


def _is_message_stream(request):
    return request.url.path == "/api/v1/chat/message" and "event-stream" in request.headers.get(
        "accept", ""
    )


class CuttingTransport(httpx.HTTPTransport):
    """Cut the first streamed message after its first chunk; record every request."""

    def __init__(self):
        super().__init__()
        self.cut = 0
        self.requests = []

    def handle_request(self, request):
        self.requests.append(
            (request.method, request.url.path, request.headers.get("last-event-id"))
        )
        response = super().handle_request(request)
        if _is_message_stream(request) and not self.cut:
            self.cut += 1
            return httpx.Response(
                response.status_code, headers=response.headers, stream=_CutStream(response.stream)
            )
        return response


class AsyncCuttingTransport(httpx.AsyncHTTPTransport):
    """The async twin of CuttingTransport."""

    def __init__(self):
        super().__init__()
        self.cut = 0
        self.requests = []

    async def handle_async_request(self, request):
        self.requests.append(
            (request.method, request.url.path, request.headers.get("last-event-id"))
        )
        response = await super().handle_async_request(request)
        if _is_message_stream(request) and not self.cut:
            self.cut += 1
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_AsyncCutStream(response.stream),
            )
        return response


def _assert_whole_run(events):
    ids = [e.id for e in events]
    assert ids == list(range(1, len(events) + 1)), ids
    assert events[0].event == "metadata" and events[-1].event == "end"
    assert sum(e.event in ("plan", "clarification", "error") for e in events) == 1


def test_client_send_list_get_rename_delete_then_each_does_what_it_says(server):
    with Stack8sClient(server) as api:
        turn = api.send_message(REQUEST)
        chats, _ = api.list_chats(limit=100)
        api.rename_chat(turn.conversation_id, "Llama for the team")
        detail = api.get_chat(turn.conversation_id)
        api.delete_chat(turn.conversation_id)
        with pytest.raises(Stack8sError) as gone:
            api.get_chat(turn.conversation_id)

    assert turn.response_type == "deployment_plan" and turn.deployment_plan
    assert turn.conversation_id in {c.conversation_id for c in chats}
    assert detail["title"] == "Llama for the team" and len(detail["messages"]) == 2
    assert gone.value.status == 404 and gone.value.code == "not_found"
    assert gone.value.request_id


def test_client_tools_then_the_original_compute_filters_work(server):
    with Stack8sClient(server) as api:
        found = api.compute_search(gpu_needed=True, provider="aws", region="us-east-1", top_k=3)
        charts = api.k8s_search("mlflow")
        ready = api.ready()

    assert found["results"] and all(r["provider"] == "aws" for r in found["results"])
    assert charts["results"]
    assert ready["status"] == "ready"


def test_client_stream_cut_after_first_chunk_then_rejoined_with_every_event_once(server):
    transport = CuttingTransport()
    with Stack8sClient(server, transport=transport) as api:
        events = list(api.stream_message(REQUEST))

    _assert_whole_run(events)
    assert transport.cut == 1
    rejoins = [r for r in transport.requests if r[0] == "GET" and r[1].endswith("/stream")]
    assert rejoins and int(rejoins[0][2]) >= 1


async def test_async_client_stream_cut_then_rejoined_with_every_event_once(server):
    transport = AsyncCuttingTransport()
    async with AsyncStack8sClient(server, transport=transport) as api:
        events = [event async for event in api.stream_message(REQUEST)]
        chat_id = events[0].data["thread_id"]
        again = [e async for e in api.rejoin(chat_id, events[0].data["run_id"], last_event_id=2)]

    _assert_whole_run(events)
    assert transport.cut == 1
    assert [e.id for e in again] == [e.id for e in events if e.id > 2]


async def test_async_client_message_to_unknown_chat_then_404_error(server):
    async with AsyncStack8sClient(server) as api:
        with pytest.raises(Stack8sError) as refused:
            await api.send_message("hello", "00000000-0000-0000-0000-000000000000")

    assert refused.value.status == 404 and refused.value.code == "not_found"
