"""The benchmark corpus is what bench/optimizer.py claims it is."""

import csv

import pytest

from agents.offline_extractor import ModelIndex, merge_readings, read_message
from bench.corpus import texts
from bench.corpus.generator import generate_corpus
from bench.corpus.handwritten import load_handwritten
from core.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def vocabulary():
    with (PROJECT_ROOT / "data" / "hf_models.csv").open() as f:
        models = ModelIndex.from_ids(row["model_id"] for row in csv.DictReader(f))
    with (PROJECT_ROOT / "data" / "instances.csv").open() as f:
        regions = frozenset(row["region"].lower() for row in csv.DictReader(f))
    return models, regions


@pytest.fixture(scope="module")
def corpus(vocabulary):
    return generate_corpus(30, 8, vocabulary[0].find) + load_handwritten()


def test_corpus_then_thirty_generated_and_some_handwritten_chats_of_forty_turns(corpus):
    sources = [c.source for c in corpus]

    assert sources.count("generated") == 30 and sources.count("handwritten") >= 3
    assert min(c.turns for c in corpus) >= 40


def test_corpus_then_every_chat_has_tool_results_restatements_and_corrections(corpus, vocabulary):
    models, regions = vocabulary

    for chat in corpus:
        said: dict[str, list] = {}
        for m in chat.messages:
            if m["role"] == "user":
                for name, value in read_message(m["content"], models, regions).values.items():
                    said.setdefault(name, []).append(value)
        corrected = [n for n, values in said.items() if any(v != values[-1] for v in values)]
        restated = [n for n, values in said.items() if any(values.count(v) >= 2 for v in values)]
        assert any(m["role"] == "tool" for m in chat.messages), chat.chat_id
        assert corrected and restated, chat.chat_id


def test_corpus_when_read_by_the_extractor_then_every_label_matches(corpus, vocabulary):
    models, regions = vocabulary

    for chat in corpus:
        users = [m["content"] for m in chat.messages if m["role"] == "user"]
        read = merge_readings(read_message(text, models, regions) for text in users)
        assert read == chat.label, chat.chat_id


def test_generator_when_same_seed_then_same_corpus(vocabulary):
    first = generate_corpus(3, 8, vocabulary[0].find)
    second = generate_corpus(3, 8, vocabulary[0].find)

    assert [c.messages for c in first] == [c.messages for c in second]


def test_corpus_filler_lines_then_state_no_workload_field(vocabulary):
    models, regions = vocabulary
    lines = [q for q, _ in texts.DIGRESSIONS] + [u for u, _ in texts.SMALLTALK]

    for line in [*lines, *texts.CLOSINGS]:
        assert read_message(line, models, regions).values == {}, line
