import math

import pytest

from tools.hf_rank import (
    NOTE_FLAT_COUNTS,
    NOTE_NO_COUNTS,
    Candidate,
    ChunkHit,
    best_chunk_per_model,
    excerpt,
    min_max,
    rank_candidates,
    raw_popularity,
)

LN10 = math.log(10)


def test_rank_when_counts_present_then_score_is_0_6_relevance_plus_0_4_min_max_popularity():
    candidates = [
        Candidate("a/most-relevant", 0.50, downloads=0, likes=0),  # raw 0: the minimum
        Candidate("b/most-popular", 0.40, downloads=99, likes=9),  # ln 100 + ln 10 = 3 ln 10
        Candidate("c/middle", 0.45, downloads=9, likes=0),  # ln 10: a third of the range
    ]

    ranking = rank_candidates(candidates, top_k=3)

    assert ranking.popularity_used
    assert ranking.notes == []
    by_id = {r.model_id: r for r in ranking.ranked}
    assert by_id["a/most-relevant"].popularity == pytest.approx(0.0)
    assert by_id["b/most-popular"].popularity == pytest.approx(1.0)
    assert by_id["c/middle"].popularity == pytest.approx(1 / 3)
    assert by_id["a/most-relevant"].score == pytest.approx(0.6 * 0.50 + 0.4 * 0.0)
    assert by_id["b/most-popular"].score == pytest.approx(0.6 * 0.40 + 0.4 * 1.0)
    assert by_id["c/middle"].score == pytest.approx(0.6 * 0.45 + 0.4 / 3)
    assert [r.model_id for r in ranking.ranked] == ["b/most-popular", "c/middle", "a/most-relevant"]


def test_rank_when_no_counts_then_relevance_alone_and_a_note_says_so():
    candidates = [Candidate("a/x", 0.3), Candidate("b/y", 0.7), Candidate("c/z", 0.5)]

    ranking = rank_candidates(candidates, top_k=3)

    assert not ranking.popularity_used
    assert ranking.notes == [NOTE_NO_COUNTS]
    assert [r.model_id for r in ranking.ranked] == ["b/y", "c/z", "a/x"]
    assert all(r.score == r.relevance and r.popularity is None for r in ranking.ranked)


def test_rank_when_counts_all_equal_then_relevance_alone_with_flat_note():
    candidates = [Candidate("a/x", 0.3, 10, 1), Candidate("b/y", 0.7, 10, 1)]

    ranking = rank_candidates(candidates, top_k=2)

    assert not ranking.popularity_used
    assert ranking.notes == [NOTE_FLAT_COUNTS]
    assert [r.score for r in ranking.ranked] == [0.7, 0.3]


def test_rank_when_some_counts_missing_then_they_count_as_zero_and_a_note_says_how_many():
    candidates = [Candidate("a/known", 0.5, downloads=999, likes=None), Candidate("b/blank", 0.9)]

    ranking = rank_candidates(candidates, top_k=2)

    by_id = {r.model_id: r for r in ranking.ranked}
    assert by_id["b/blank"].popularity == 0.0
    assert by_id["a/known"].popularity == 1.0
    assert ranking.notes == [
        "1 of 2 candidates have no download/like counts: their popularity counts as 0"
    ]


def test_rank_when_more_candidates_than_top_k_then_popularity_normalised_over_all_of_them():
    candidates = [
        Candidate("a/top", 0.9, downloads=9, likes=0),
        Candidate("b/cut", 0.1, downloads=999, likes=0),  # sets the maximum, then is cut
        Candidate("c/floor", 0.2, downloads=0, likes=0),
    ]

    ranking = rank_candidates(candidates, top_k=1)

    assert [r.model_id for r in ranking.ranked] == ["a/top"]
    assert ranking.ranked[0].popularity == pytest.approx(LN10 / math.log(1000))


def test_rank_when_scores_tie_then_higher_relevance_then_model_id_wins():
    candidates = [Candidate("b/y", 0.5), Candidate("a/x", 0.5), Candidate("c/z", 0.6)]

    ranking = rank_candidates(candidates, top_k=3)

    assert [r.model_id for r in ranking.ranked] == ["c/z", "a/x", "b/y"]


def test_rank_when_relevance_weight_is_one_then_popularity_has_no_effect():
    candidates = [Candidate("a/x", 0.2, 1000, 10), Candidate("b/y", 0.3, 0, 0)]

    ranking = rank_candidates(candidates, top_k=2, relevance_weight=1.0)

    assert [r.score for r in ranking.ranked] == [0.3, 0.2]


@pytest.mark.parametrize("top_k", [0, -1])
def test_rank_when_top_k_below_one_then_value_error(top_k):
    with pytest.raises(ValueError, match="top_k"):
        rank_candidates([Candidate("a/x", 0.1)], top_k=top_k)


def test_rank_when_no_candidates_then_empty_and_no_notes():
    ranking = rank_candidates([], top_k=5)

    assert ranking.ranked == [] and ranking.notes == [] and not ranking.popularity_used


def test_min_max_scales_to_unit_interval():
    assert min_max([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert min_max([3.0, 3.0]) is None
    assert min_max([]) == []


def test_raw_popularity_is_log_downloads_plus_log_likes():
    assert raw_popularity(None, None) is None
    assert raw_popularity(0, 0) == 0.0
    assert raw_popularity(99, 9) == pytest.approx(3 * LN10)
    assert raw_popularity(99, None) == pytest.approx(2 * LN10)


def test_best_chunk_per_model_keeps_the_max_similarity_and_counts_chunks():
    hits = [
        ChunkHit("a/x", 0.40, "x first"),
        ChunkHit("b/y", 0.55, "y only"),
        ChunkHit("a/x", 0.61, "x best"),
        ChunkHit("a/x", 0.10, "x weak"),
    ]

    matches = best_chunk_per_model(hits)

    assert [(m.model_id, m.relevance, m.content, m.matched_chunks) for m in matches] == [
        ("a/x", 0.61, "x best", 3),
        ("b/y", 0.55, "y only", 1),
    ]


def test_excerpt_drops_the_model_id_prefix_and_cuts_at_a_word():
    content = "org/model. Summary: " + "word " * 100

    text = excerpt(content, "org/model")

    assert text.startswith("Summary: word")
    assert text.endswith(" …") and len(text) <= 242
    assert excerpt("org/model. Short.\n\nText", "org/model") == "Short. Text"
