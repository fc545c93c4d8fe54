from core.cards import MAX_CHUNK_WORDS, OVERLAP_WORDS, Card, chunk_card, compose_card

LLAMA = {
    "model_id": "meta-llama/Llama-3.1-70B-Instruct",
    "pipeline_tag": "text-generation",
    "license": "llama3.1",
    "params_billion": 70.6,
    "active_params_billion": None,
    "library": "transformers",
    "context_length": 131072,
    "min_vram_gb_fp16": 169.4,
    "description": "Instruction-tuned 70B Llama.",
}
ARCH = {
    "architecture": "LlamaForCausalLM",
    "num_hidden_layers": 80,
    "hidden_size": 8192,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "native_dtype": "bf16",
}


def test_compose_card_when_facts_given_then_card_states_them():
    card = compose_card(LLAMA, ARCH)

    assert card.content.startswith("# meta-llama/Llama-3.1-70B-Instruct")
    for fact in ("llama3.1", "70.6 billion", "131,072 tokens", "80 layers", "8 key-value heads"):
        assert fact in card.content
    assert "tensor parallelism" in card.content


def test_chunk_card_when_card_is_short_then_one_chunk_prefixed_with_model_id():
    chunks = chunk_card(compose_card(LLAMA, ARCH))

    assert len(chunks) == 1
    assert chunks[0].content.startswith("meta-llama/Llama-3.1-70B-Instruct.")


def test_chunk_card_when_section_is_long_then_bounded_windows_overlap():
    words = [f"w{i}" for i in range(500)]
    card = Card(
        "org/m", "# Title\n\n## Long\n\n" + " ".join(words) + "\n\n## Short\n\nend", "readme"
    )

    chunks = chunk_card(card)

    assert all(c.word_count <= MAX_CHUNK_WORDS + 1 for c in chunks)
    first, second = chunks[0].content.split(), chunks[1].content.split()
    assert first[-OVERLAP_WORDS:] == second[1 : OVERLAP_WORDS + 1]
    joined = " ".join(c.content for c in chunks)
    assert all(w in joined for w in words) and "end" in joined


def test_chunk_card_when_heading_inside_code_block_then_not_split_there():
    card = Card("org/m", "## Usage\n\n```\n# not a heading\nrun()\n```\n", "readme")

    chunks = chunk_card(card)

    assert len(chunks) == 1 and "# not a heading" in chunks[0].content
