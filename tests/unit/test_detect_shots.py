"""detect_shots: the cuts in a frame timeline, and the shots between them.

Over the generated footage of tests/vision.py (hard cuts at known times), the branch runs as
the workflow runs it (worker, aggregate_frames, detect_shots); the adaptive threshold is also
tested on its own, on score series that stand for a still scene, a pan and a burst of cuts.
"""


import pytest

from lambdas.detect_shots.logic import build_shots, find_cuts
from tests.vision import (
    CUTS_S,
    DURATION_S,
    INTERVAL_S,
    publish_frames,
    run_all_chunks,
    run_vision,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- shots in real footage ---------------------------------------------------------


def test_given_a_video_with_three_hard_cuts_when_the_branch_runs_then_each_cut_is_found_within_one_interval(
    aws_state, cut_frames,
):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)

    shots = run_vision(ref)["shots"]

    found = [shot["start_s"] for shot in shots[1:]]
    assert len(found) == len(CUTS_S)
    assert all(abs(at - cut) <= INTERVAL_S for at, cut in zip(found, CUTS_S, strict=True)), found


def test_given_detected_shots_when_listed_then_they_cover_the_whole_video_without_gaps(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)

    shots = run_vision(ref)["shots"]

    assert shots[0]["start_s"] == 0.0 and shots[-1]["end_s"] == DURATION_S
    assert all(earlier["end_s"] == later["start_s"] for earlier, later in zip(shots, shots[1:], strict=False))
    assert [shot["first_frame"] for shot in shots] == [0, 3, 8, 12]  # frame 0, then the first after each cut
    assert all(shot["first_frame"] <= shot["keyframe"]["index"] <= shot["last_frame"] for shot in shots)


def test_given_one_continuous_moving_shot_when_the_branch_runs_then_there_is_one_shot(aws_state, still_frames):
    ref = publish_frames(aws_state, still_frames)
    run_all_chunks(ref)

    shots = run_vision(ref, duration_s=20.0)["shots"]

    assert [(shot["start_s"], shot["end_s"]) for shot in shots] == [(0.0, 20.0)]


# --- the adaptive threshold on its own --------------------------------------------------------


def test_given_a_still_scene_when_one_frame_changes_moderately_then_it_is_a_cut():
    scores = [0.0, 0.04, 0.05, 0.03, 0.05, 0.38, 0.04, 0.05, 0.03, 0.04]

    assert find_cuts(scores) == [5]


def test_given_a_long_pan_when_one_frame_moves_a_little_more_then_it_is_not_a_cut():
    scores = [0.0, 0.27, 0.31, 0.29, 0.33, 0.41, 0.3, 0.28, 0.32, 0.3, 0.29]

    assert find_cuts(scores) == []


def test_given_a_burst_of_rapid_cuts_when_every_frame_changes_completely_then_every_one_is_a_cut():
    scores = [0.0, 0.05, 0.9, 0.85, 0.95, 0.8, 0.9, 0.05, 0.04]

    assert find_cuts(scores) == [2, 3, 4, 5, 6]


def test_given_noise_below_the_floor_when_scored_then_there_is_no_cut():
    scores = [0.0, 0.01, 0.0, 0.02, 0.25, 0.01, 0.0, 0.02]

    assert find_cuts(scores) == []


def test_given_no_frames_when_shots_are_built_then_one_shot_covers_the_video():
    assert build_shots([], [], 1.5) == [{"start_s": 0.0, "end_s": 1.5, "first_frame": None, "last_frame": None,
                                         "keyframe": None}]
