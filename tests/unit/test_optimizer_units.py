from tools.optimizer.tokens import MESSAGE_OVERHEAD_TOKENS, count_tokens, tail_tokens
from tools.optimizer.units import ToolCall, Turn, conversation_tokens, render, unitize


def test_unitize_when_prose_then_one_unit_per_sentence_with_role_and_message():
    turns = [
        Turn("user", "We want to serve Llama 3.1 70B. Budget is $6k, e.g. for AWS! Which GPU?"),
        Turn("assistant", "Noted."),
    ]

    units = unitize(turns)

    assert [u.text for u in units] == [
        "We want to serve Llama 3.1 70B.",
        "Budget is $6k, e.g. for AWS!",
        "Which GPU?",
        "Noted.",
    ]
    assert [(u.role, u.messages) for u in units] == [("user", (0,))] * 3 + [("assistant", (1,))]
    assert [u.is_question for u in units] == [False, False, True, False]


def test_unitize_when_code_block_and_table_then_each_stays_one_unit():
    content = (
        "Here is the file.\n\n```yaml\nreplicas: 2\n\nimage: vllm\n```\n\n"
        "| gpu | price |\n|---|---|\n| L4 | $0.80 |\n\nDone."
    )

    units = unitize([Turn("assistant", content)])

    assert [u.kind for u in units] == ["sentence", "code", "table", "sentence"]
    assert units[1].text == "```yaml\nreplicas: 2\n\nimage: vllm\n```"
    assert units[2].text.count("\n") == 2


def test_unitize_when_list_then_one_unit_per_item_with_continuation_lines():
    units = unitize([Turn("assistant", "- first item\n  more of it\n- second item")])

    assert [(u.kind, u.text) for u in units] == [
        ("list_item", "- first item\n  more of it"),
        ("list_item", "- second item"),
    ]


def test_unitize_when_tool_call_and_results_then_one_atomic_exchange_unit():
    turns = [
        Turn("user", "Find instances."),
        Turn("assistant", "", tool_calls=(ToolCall("c1", "search", {"q": 1}),)),
        Turn("tool", '{"rows": 3}', tool_call_id="c1", name="search"),
        Turn("assistant", "Found three."),
    ]

    units = unitize(turns)

    exchange = units[1]
    assert exchange.kind == "tool_exchange" and exchange.whole
    assert exchange.messages == (1, 2)
    assert exchange.tokens == conversation_tokens(turns[1:3])


def test_unitize_when_tool_result_has_no_matching_call_then_joins_previous_assistant():
    turns = [
        Turn("assistant", "Let me check."),
        Turn("tool", "result text", tool_call_id="unknown"),
    ]

    units = unitize(turns)

    assert len(units) == 1 and units[0].messages == (0, 1)


def test_render_when_middle_sentences_dropped_then_rest_joined_in_order():
    turns = [Turn("user", "One. Two.\n\nThree. Four.")]
    units = unitize(turns)

    rendered = render(turns, units, kept=[0, 3])

    assert rendered == [(0, "One.\n\nFour.")]


def test_render_when_every_unit_kept_then_message_unchanged_and_empty_messages_left_out():
    turns = [Turn("user", "One. Two."), Turn("assistant", "Three.")]
    units = unitize(turns)

    rendered = render(turns, units, kept=[0, 1])

    assert rendered == [(0, None)]


def test_count_tokens_then_o200k_counts_and_message_overhead_added():
    assert count_tokens("hello world") == 2
    assert conversation_tokens([Turn("user", "hello world")]) == 2 + MESSAGE_OVERHEAD_TOKENS


def test_tail_tokens_then_keeps_the_end_within_the_limit():
    text = "alpha beta gamma delta epsilon"

    tail = tail_tokens(text, 2)

    assert text.endswith(tail) and count_tokens(tail) <= 2
