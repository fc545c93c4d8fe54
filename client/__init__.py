"""A small typed Python client for the Stack8s API, sync and async.

```python
from client import LLMOptions, Stack8sClient

with Stack8sClient("http://127.0.0.1:8000") as api:
    turn = api.send_message("Serve Llama 3.1 8B to 20 users on AWS")
    for event in api.stream_message("make that 50 users", turn.conversation_id):
        print(event.event, event.data)
```

It needs only httpx and imports nothing else of Stack8s, so it can be copied into any
script. A streamed message that loses its connection is rejoined with ``Last-Event-ID``.
"""

from client.aio import AsyncStack8sClient
from client.models import (
    ChatSummary,
    ChatTurn,
    Event,
    LLMOptions,
    Stack8sError,
    StreamLostError,
)
from client.sync import Stack8sClient

__all__ = [
    "AsyncStack8sClient",
    "ChatSummary",
    "ChatTurn",
    "Event",
    "LLMOptions",
    "Stack8sClient",
    "Stack8sError",
    "StreamLostError",
]
