"""The hand-written chats of the corpus, in a small text format (see :func:`parse_chat`)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.corpus.generator import Chat, Message

HANDWRITTEN_DIR = Path(__file__).resolve().parent / "handwritten"


def parse_chat(text: str, source: str) -> Chat:
    """Parse the ``.chat`` format of the hand-written chats.

    ``# id:`` and ``# label:`` (JSON) header lines, then messages, each opened by a line
    ``@user``, ``@assistant``, ``@system``, ``@assistant call NAME {json args}`` (a tool call)
    or ``@tool NAME`` (the result of the latest call).
    """
    header: dict[str, str] = {}
    messages: list[Message] = []
    calls = 0
    for line in text.splitlines():
        if line.startswith("# ") and not messages and ":" in line:
            key, value = line[2:].split(":", 1)
            header[key.strip()] = value.strip()
        elif line.startswith("@"):
            head = line[1:].split(" ", 2)
            if head[0] == "assistant" and len(head) == 3 and head[1] == "call":
                name, _, args = head[2].partition(" ")
                calls += 1
                messages.append(
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "id": f"call_{calls:03d}",
                                "name": name,
                                "args": json.loads(args or "{}"),
                            }
                        ],
                    }
                )
            elif head[0] == "tool":
                messages.append(
                    {
                        "role": "tool",
                        "content": "",
                        "name": head[1],
                        "tool_call_id": f"call_{calls:03d}",
                    }
                )
            else:
                messages.append({"role": head[0], "content": ""})
        elif messages:
            previous = messages[-1]["content"]
            messages[-1]["content"] = previous + ("\n" if previous else "") + line
    for message in messages:
        message["content"] = message["content"].strip()
    return Chat(header["id"], messages, json.loads(header["label"]), source=source)


def load_handwritten() -> list[Chat]:
    """Return the hand-written chats, in file order."""
    return [
        parse_chat(path.read_text(encoding="utf-8"), "handwritten")
        for path in sorted(HANDWRITTEN_DIR.glob("*.chat"))
    ]
