"""A seeded generator of long planning chats, each labelled with its final WorkloadSpec fields.

Every chat has 40+ user/assistant turns: the user states requirements one at a time,
restates them ("just to recap"), corrects some of them later ("actually, make it $8k"),
wanders off into questions that have nothing to do with the spec, and the assistant calls
tools whose JSON results are long. The label is the dotted-field reading the generator
means (the final value of each field); `bench/optimizer.py` checks that the requirements
extractor reads exactly that from the full chat before it measures anything else.

User text avoids the extractor's trigger words except where a fact is meant (for example
"images" reads as a vision domain, "deploy" as an inference task), so that the label is
the truth of the chat, not an accident of keyword matching.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.corpus import texts
from bench.corpus.requirements import ARCHETYPES, Fact, fact_for

Message = dict[str, Any]


@dataclass
class Chat:
    """One conversation and the fields its final WorkloadSpec must have."""

    chat_id: str
    messages: list[Message]
    label: dict[str, Any]
    source: str = "generated"
    notes: list[str] = field(default_factory=list)

    @property
    def turns(self) -> int:
        """Count user and assistant messages (tool results and system excluded)."""
        return sum(1 for m in self.messages if m["role"] in ("user", "assistant"))


class _Builder:
    """Accumulates messages and the intended field values of one chat."""

    def __init__(self, rng: random.Random, model_ids: Callable[[str], list[str]]) -> None:
        self.rng = rng
        self.messages: list[Message] = []
        self.label: dict[str, Any] = {}
        self.values: dict[str, Any] = {}
        self.calls = 0
        self._model_ids = model_ids

    def user(self, text: str, fields: dict[str, Any] | None = None) -> None:
        self.messages.append({"role": "user", "content": text})
        self.label.update(fields or {})

    def assistant(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})

    def tool(self, name: str, args: dict[str, Any], result: Any, comment: str) -> None:
        self.calls += 1
        call_id = f"call_{self.calls:03d}"
        self.messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": call_id, "name": name, "args": args}],
            }
        )
        self.messages.append(
            {
                "role": "tool",
                "content": json.dumps(result, indent=1),
                "tool_call_id": call_id,
                "name": name,
            }
        )
        self.assistant(comment)

    def state(self, key: str, value: Any, template: str) -> None:
        self.values[key] = value
        fact = fact_for(key, self.values)
        self.user(template.format(**fact.render(value)), fact.fields(value))


def generate_chat(index: int, seed: int, model_ids: Callable[[str], list[str]]) -> Chat:
    """Generate chat ``index`` of the corpus for ``seed``."""
    rng = random.Random(seed * 10_007 + index)
    kind = list(ARCHETYPES)[index % len(ARCHETYPES)]
    spec = ARCHETYPES[kind]
    b = _Builder(rng, model_ids)
    model = rng.choice(spec["models"])
    method = rng.choice(("LoRA", "QLoRA"))
    if rng.random() < 0.5:
        b.messages.append({"role": "system", "content": texts.SYSTEM_PROMPT})
    opening_fields = dict(spec["fields"])
    opening_fields["model_needs.named_models"] = model_ids(model)
    if kind == "finetune":
        opening_fields["model_needs.fine_tuning_method"] = method.lower()
    b.user(spec["opening"].format(model=model, method=method), opening_fields)
    b.assistant(texts.CLARIFY)
    pending = list(spec["facts"])
    stated: list[str] = []
    quotas = {
        "tool": rng.randint(4, 6),
        "digression": rng.randint(4, 6),
        "restate": rng.randint(2, 3),
        "correct": rng.randint(2, 4),
    }
    digressions = rng.sample(texts.DIGRESSIONS, k=len(texts.DIGRESSIONS))
    target = rng.randint(42, 56)
    while pending or any(quotas.values()) or _turns(b) < target:
        options = ["fact"] * (3 if pending else 0)
        correctable = [
            k
            for k in stated
            if fact_for(k, b.values).correct and len(fact_for(k, b.values).values) > 1
        ]
        ready = {"correct": bool(correctable), "restate": bool(stated)}
        options += [k for k, left in quotas.items() for _ in range(left) if ready.get(k, True)]
        if kind != "imagegen" and rng.random() < 0.15:
            options.append("model_switch")
        options += ["smalltalk"] if _turns(b) < target else []
        if not options:
            break
        beat = rng.choice(options)
        if beat == "fact":
            key = pending.pop(0)
            fact = fact_for(key, b.values)
            b.state(key, rng.choice(fact.values), rng.choice(fact.state))
            stated.append(key)
            b.assistant(texts.acknowledge(rng, b.label))
        elif beat == "correct":
            quotas["correct"] -= 1
            key = rng.choice(correctable)
            fact = fact_for(key, b.values)
            new = rng.choice([v for v in fact.values if v != b.values[key]])
            b.state(key, new, rng.choice(fact.correct))
            b.assistant(texts.acknowledge(rng, b.label, corrected=True))
        elif beat == "restate":
            quotas["restate"] -= 1
            keys = rng.sample(stated, k=min(len(stated), 2))
            parts = []
            for key in keys:
                fact = fact_for(key, b.values)
                parts.append(rng.choice(fact.restate).format(**fact.render(b.values[key])))
            fields: dict[str, Any] = {}
            for key in keys:
                fields.update(fact_for(key, b.values).fields(b.values[key]))
            b.user("Just to recap on our side: " + " and ".join(parts) + ".", fields)
            b.assistant(texts.acknowledge(rng, b.label))
        elif beat == "digression":
            quotas["digression"] -= 1
            question, answer = digressions.pop() if digressions else rng.choice(texts.DIGRESSIONS)
            b.user(question)
            b.assistant(answer)
        elif beat == "tool":
            quotas["tool"] -= 1
            name, args, result, comment = texts.tool_exchange(rng, b.label)
            b.tool(name, args, result, comment)
        elif beat == "model_switch":
            new_model = rng.choice(spec["models"])
            b.user(
                f"Let's go with {new_model} instead of the earlier choice.",
                {"model_needs.named_models": model_ids(new_model)},
            )
            b.assistant(texts.acknowledge(rng, b.label))
        else:
            user, reply = rng.choice(texts.SMALLTALK)
            b.user(user)
            b.assistant(reply)
    b.user(rng.choice(texts.CLOSINGS))
    return Chat(f"gen-{seed}-{index:02d}-{kind}", b.messages, b.label)


def _correctable(fact: Fact) -> bool:
    return bool(fact.correct) and len(fact.values) > 1


def _turns(b: _Builder) -> int:
    return sum(1 for m in b.messages if m["role"] in ("user", "assistant"))


def generate_corpus(count: int, seed: int, model_ids: Callable[[str], list[str]]) -> list[Chat]:
    """Generate ``count`` chats; ``model_ids(name)`` maps a model name to catalog ids."""
    return [generate_chat(i, seed, model_ids) for i in range(count)]
