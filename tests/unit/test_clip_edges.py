"""The plan check's step 4c: a clip never cuts inside a word, and prefers to start and end on a cut or in a pause."""

import random

from lambdas.common.judgment import DraftPlan, PlanBounds
from lambdas.common.plan_check import validate_plan

BOUNDS = PlanBounds(min_clip_s=15, max_clip_s=30, max_clips=5)
DURATION_S = 120.0


def _speech(*ranges: tuple[float, float]) -> list[tuple[float, float]]:
    """Words of 0.45 s at every multiple of 0.5 s in each range (gaps of 0.05 s: no pause); pauses between ranges."""
    return [(k / 2, k / 2 + 0.45) for start_s, end_s in ranges for k in range(round(start_s * 2), round(end_s * 2))]


WORDS = _speech((0.0, 120.0))  # nonstop speech: word i spans 0.5 i .. 0.5 i + 0.45


def _check(*spans, words=WORDS, cuts=(), turns=None, bounds=BOUNDS):
    clips = [{"start_s": a, "end_s": b, "title": f"Clip {i}", "score": 0.5, "rationale": "Good."}
             for i, (a, b) in enumerate(spans)]
    return validate_plan(DraftPlan(planner="local", clips=clips), DURATION_S, bounds, turns=turns,
                         words=list(words), cuts=list(cuts))


def _spans(result) -> list[tuple[float, float]]:
    return [(clip.start_s, clip.end_s) for clip in result.plan.clips]


def _moves(result) -> list[tuple[str, str]]:
    return [(correction.code, correction.action) for correction in result.corrections]


def test_given_edges_inside_words_when_checked_then_the_start_moves_to_its_words_start_and_the_end_to_its_words_end():
    result = _check((20.1, 40.2))  # inside 20.0-20.45 and 40.0-40.45

    assert _spans(result) == [(20.0, 40.45)]
    assert _moves(result) == [("CUTS_A_WORD", "snapped")] * 2
    assert "inside a word (20.00–20.45 s)" in result.corrections[0].reason
    assert "moved to 40.45 s, where the word ends" in result.corrections[1].reason


def test_given_a_clip_at_its_maximum_when_its_start_is_inside_a_word_then_the_start_leaves_the_word_forward():
    result = _check((20.1, 49.95), bounds=PlanBounds(min_clip_s=15, max_clip_s=29.9))  # 20.0 would make 29.95 s

    assert _spans(result) == [(20.45, 49.95)]
    assert "where the word ends" in result.corrections[0].reason


def test_given_a_cut_and_a_nearer_pause_when_an_edge_is_mid_speech_then_it_moves_to_the_cut():
    words = _speech((0.0, 30.0), (30.5, 120.0))  # a pause at 29.95-30.5, its middle 0.775 s from 31.0
    result = _check((16.0, 31.0), words=words, cuts=[32.0])  # 31.0 is a word's start, in nonstop speech

    assert _spans(result) == [(16.0, 32.0)]
    assert _moves(result) == [("ON_A_CUT", "snapped")]
    assert "to the cut at 32.00 s" in result.corrections[0].reason


def test_given_no_cut_near_when_an_edge_is_mid_speech_then_it_moves_to_the_middle_of_the_nearest_pause():
    words = _speech((0.0, 30.0), (30.5, 120.0))  # a pause at 29.95-30.5
    result = _check((10.0, 31.1), words=words, cuts=[35.0])  # the cut is beyond 1.5 s; 31.1 is inside a word

    assert _spans(result) == [(10.0, 30.225)]
    assert _moves(result) == [("CUTS_A_WORD", "snapped"), ("IN_A_PAUSE", "snapped")]
    assert "29.95–30.50 s" in result.corrections[1].reason


def test_given_a_long_silence_when_a_start_is_on_the_first_word_then_it_gets_half_a_second_of_breath():
    words = _speech((0.0, 30.0), (34.0, 120.0))  # silence 29.95-34.0
    result = _check((34.0, 60.0), words=words)

    assert _spans(result) == [(33.5, 60.0)]
    assert _moves(result) == [("IN_A_PAUSE", "snapped")]


def test_given_edges_on_a_cut_in_a_pause_or_at_the_videos_ends_when_checked_then_nothing_moves():
    words = _speech((0.0, 30.0), (30.5, 90.0), (91.0, 120.0))  # pauses at 29.95-30.5 and 89.95-91.0
    result = _check((0.0, 30.2), (50.0, 70.0), (90.5, 120.0), words=words, cuts=[50.0, 70.0],
                    bounds=PlanBounds(min_clip_s=15, max_clip_s=60))

    assert _spans(result) == [(0.0, 30.2), (50.0, 70.0), (90.5, 120.0)]
    assert result.corrections == []


def test_a_cut_inside_a_word_one_too_far_and_one_that_breaks_the_minimum_are_never_taken():
    cuts = [35.2, 37.0, 34.0]  # inside a word; 2 s away; 1 s away but the 15 s clip would shrink to 14 s
    result = _check((20.0, 35.0), cuts=cuts)

    assert _spans(result) == [(20.0, 35.0)] and result.corrections == []


def test_a_move_never_lands_inside_a_turn_the_edge_did_not_already_cut():
    words = _speech((0.0, 30.0), (30.5, 120.0))
    result = _check((10.0, 31.0), words=words, turns=[(10.0, 31.0), (31.0, 50.0)], cuts=[30.3])

    assert _spans(result) == [(10.0, 31.0)]  # both the cut and the pause lie inside the turn 10-31 s
    assert result.corrections == []


def test_words_and_cuts_listed_in_the_draft_are_used_when_none_are_given():
    draft = {"planner": "local", "clips": [{"start_s": 20.1, "end_s": 40.0, "title": "T", "score": 0.5,
                                            "rationale": "Good."}],
             "words": [list(word) for word in WORDS], "cuts": [40.5]}

    assert _spans(validate_plan(draft, DURATION_S, BOUNDS)) == [(20.0, 40.5)]


def test_given_random_clips_over_speech_with_pauses_and_cuts_then_no_edge_cuts_a_word_and_the_bounds_hold():
    rng = random.Random(12)
    words = _speech((0.0, 17.3), (17.8, 44.0), (46.0, 71.2), (71.6, 120.0))
    cuts = [12.25, 33.0, 57.7, 88.0]
    for _ in range(40):
        start_s = rng.uniform(0, 100)
        result = _check((start_s, start_s + rng.uniform(15, 30)), words=words, cuts=cuts)
        for clip in result.plan.clips:
            assert 15 - 1e-6 <= clip.end_s - clip.start_s <= 30 + 1e-6
            for edge in {clip.start_s, clip.end_s} - {0.0, DURATION_S}:  # (the video's own ends stay)
                assert not any(a + 0.02 < edge < b - 0.02 for a, b in words), (edge, result.corrections)
