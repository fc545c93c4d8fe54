from collections import Counter

import pytest

from evals.scenario import Scenario, TurnExpectation, load_file, load_scenarios, matches


@pytest.fixture(scope="module")
def scenarios():
    return load_scenarios()


def test_scenario_files_then_at_least_forty_conversations(scenarios):
    assert len(scenarios) >= 40


def test_scenario_files_then_every_category_the_issue_names(scenarios):
    categories = Counter(s.category for s in scenarios)

    for category in (
        "reference",
        "refinement",
        "clarification",
        "impossible",
        "embeddings_rag",
        "speech",
        "vision",
        "batch",
        "training",
        "adversarial",
    ):
        assert categories[category] >= 4, category


def test_reference_set_then_the_five_reference_conversations(scenarios):
    reference = [s for s in scenarios if s.category == "reference"]

    assert len(reference) == 5
    assert [t.expect.decision for t in reference[-1].turns] == ["clarify", "plan"]


def test_scenarios_then_both_decisions_and_a_card_fixture_are_exercised(scenarios):
    decisions = Counter(t.expect.decision for s in scenarios for t in s.turns if t.expect)

    assert decisions["clarify"] >= 8 and decisions["plan"] >= 40
    assert any(s.fixtures and s.invariant for s in scenarios)


def test_known_failures_then_each_says_why(scenarios):
    for scenario in scenarios:
        if scenario.known_failure is not None:
            assert len(scenario.known_failure) > 40, scenario.id


def test_unknown_spec_field_then_rejected():
    with pytest.raises(ValueError, match="unknown WorkloadSpec field"):
        TurnExpectation(spec={"model_needs.nmaed_models": []})


def test_unknown_key_or_fixture_then_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: x, category: c, turns: [{user: hi}], fixtures: [acme/nothing]}\n")

    with pytest.raises(ValueError, match="bad.yaml scenario #1"):
        load_file(bad)


def test_duplicate_ids_then_rejected(tmp_path):
    (tmp_path / "a.yaml").write_text("- {id: x, category: c, turns: [{user: hi}]}\n")
    (tmp_path / "b.yaml").write_text("- {id: x, category: d, turns: [{user: hi}]}\n")

    with pytest.raises(ValueError, match="used twice"):
        load_scenarios(tmp_path)


def test_filter_then_tags_categories_ids_and_globs_match():
    scenario = Scenario(id="ref-one", category="reference", tags=["fast"], turns=[{"user": "hi"}])

    assert matches(scenario, [])
    assert matches(scenario, ["fast"]) and matches(scenario, ["reference"])
    assert matches(scenario, ["ref-*"]) and not matches(scenario, ["speech"])
