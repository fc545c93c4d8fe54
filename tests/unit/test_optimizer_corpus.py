"""The benchmark corpus is what bench/optimizer.py claims it is."""

import pytest

from agents.offline_extractor import merge_readings, read_message
from agents.reading.vocabulary import Vocabulary
from bench.corpus import texts
from bench.corpus.generator import generate_corpus
from bench.corpus.handwritten import load_handwritten
from core.settings import PROJECT_ROOT
from tools.catalog import catalog_facts_from_files


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.from_facts(catalog_facts_from_files(PROJECT_ROOT / "data"))


@pytest.fixture(scope="module")
def corpus(vocabulary):
    return generate_corpus(30, 8, vocabulary.models.find) + load_handwritten()


def test_corpus_then_thirty_generated_and_some_handwritten_chats_of_forty_turns(corpus):
    sources = [c.source for c in corpus]

    assert sources.count("generated") == 30 and sources.count("handwritten") >= 3
    assert min(c.turns for c in corpus) >= 40


def test_corpus_then_every_chat_has_tool_results_restatements_and_corrections(corpus, vocabulary):
    for chat in corpus:
        said: dict[str, list] = {}
        for m in chat.messages:
            if m["role"] == "user":
                for name, value in read_message(m["content"], vocabulary).values.items():
                    said.setdefault(name, []).append(value)
        corrected = [n for n, values in said.items() if any(v != values[-1] for v in values)]
        restated = [n for n, values in said.items() if any(values.count(v) >= 2 for v in values)]
        assert any(m["role"] == "tool" for m in chat.messages), chat.chat_id
        assert corrected and restated, chat.chat_id


def test_corpus_when_read_by_the_extractor_then_every_label_matches(corpus, vocabulary):
    for chat in corpus:
        users = [m["content"] for m in chat.messages if m["role"] == "user"]
        read = merge_readings(read_message(text, vocabulary) for text in users)
        assert read == chat.label, chat.chat_id


def test_generator_when_same_seed_then_same_corpus(vocabulary):
    first = generate_corpus(3, 8, vocabulary.models.find)
    second = generate_corpus(3, 8, vocabulary.models.find)

    assert [c.messages for c in first] == [c.messages for c in second]


def test_corpus_filler_lines_then_state_no_workload_field(vocabulary):
    lines = [q for q, _ in texts.DIGRESSIONS] + [u for u, _ in texts.SMALLTALK]

    for line in [*lines, *texts.CLOSINGS]:
        assert read_message(line, vocabulary).values == {}, line
