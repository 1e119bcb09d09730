"""detect_shots: the cuts in a frame timeline, and the shots between them.

Over the generated footage of tests/vision.py (hard cuts at known times), the branch runs as
the workflow runs it (worker, aggregate_frames, detect_shots): the workers find the cuts at the
proxy's frame rate, detect_shots merges them. The merging is also tested on its own (a boundary
reported by two chunks, shots shorter than the minimum, a frame rate like 29.97), and so is the
adaptive threshold of the fallback for timelines without cuts, on 2-s score series that stand
for a still scene, a pan and a burst of cuts.
"""


import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.detect_shots.logic import (
    ShotsRequest,
    build_frame_accurate_shots,
    build_shots,
    detect_shots,
    find_cuts,
    merge_cuts,
)
from tests.vision import (
    CUT_FRAMES,
    CUTS_S,
    DURATION_S,
    FPS,
    OUTPUT_BUCKET,
    publish_frames,
    run_all_chunks,
    run_vision,
    workflow_state,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- shots in real footage ---------------------------------------------------------


def test_given_a_video_with_three_hard_cuts_when_the_branch_runs_then_each_shot_starts_on_its_cut_frame(
    aws_state, cut_frames,
):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)

    document = run_vision(ref)

    shots = document["shots"]
    assert [shot["start_frame"] for shot in shots[1:]] == CUT_FRAMES  # the cut at 16 s is on a chunk edge: once
    assert [shot["start_s"] for shot in shots[1:]] == CUTS_S
    assert document["fps"] == FPS and document["method"]["name"] == "frame-accurate"


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


# --- merging the chunks' cuts -----------------------------------------------------------------


def test_given_one_boundary_reported_by_two_chunks_a_frame_apart_when_merged_then_it_is_one_cut():
    chunk_0 = [{"frame": 120, "kind": "cut", "score": 0.8}, {"frame": 399, "kind": "cut", "score": 0.5}]
    chunk_1 = [{"frame": 400, "kind": "cut", "score": 0.9}, {"frame": 575, "kind": "dissolve", "score": 0.6}]

    merged = merge_cuts(chunk_1 + chunk_0, fps=25.0)

    assert [(cut["frame"], cut["score"]) for cut in merged] == [(120, 0.8), (400, 0.9), (575, 0.6)]


def test_given_a_cut_and_a_dissolve_closer_than_a_shot_when_merged_then_the_hard_cut_stays():
    merged = merge_cuts([{"frame": 100, "kind": "dissolve", "score": 0.9}, {"frame": 104, "kind": "cut", "score": 0.4},
                         {"frame": 0, "kind": "cut", "score": 1.0}], fps=25.0)

    assert [(cut["frame"], cut["kind"]) for cut in merged] == [(104, "cut")]  # and frame 0 starts no new shot


def test_given_cuts_at_29_97_fps_when_shots_are_built_then_each_starts_at_its_frame_over_the_rate():
    fps = 30000 / 1001
    frames = [{"index": i, "t_s": 2.0 * i, "key": f"f{i}", "sharpness": 0.5, "faces": []} for i in range(4)]
    cuts = [{"frame": 100, "kind": "cut"}, {"frame": 110, "kind": "fade"}]

    shots = build_frame_accurate_shots(frames, cuts, fps, duration_s=7.5)

    assert [(shot["start_s"], shot["end_s"]) for shot in shots] == [(0.0, 3.337), (3.337, 3.67), (3.67, 7.5)]
    assert [shot["start_frame"] for shot in shots] == [0, 100, 110]
    assert [shot.get("transition") for shot in shots] == [None, "cut", "fade"]
    # A shot shorter than the 2-s sampling holds no sampled frame: no keyframe rather than another shot's.
    assert [shot["keyframe"] and shot["keyframe"]["index"] for shot in shots] == [0, None, 2]


def test_given_a_timeline_without_cuts_when_shots_are_detected_then_the_2_s_frames_decide(aws_state):
    frames = [{"index": i, "t_s": 2.0 * i, "key": f"f{i}", "sharpness": 0.5, "faces": [],
               "shot_change_score": 0.9 if i == 3 else 0.02} for i in range(8)]
    storage.put_json(OUTPUT_BUCKET, "analysis/old/timeline.json", {"frames": frames, "interval_s": 2.0})
    state = {**workflow_state(8, 16.0),
             "frame_timeline": {"bucket": OUTPUT_BUCKET, "key": "analysis/old/timeline.json", "frame_count": 8,
                                "faces_frames": 0}}

    ref = detect_shots(ShotsRequest.model_validate(state), EventLog("videoflow-events"))

    document = storage.get_json(ref.bucket, ref.key)
    assert document["method"]["name"] == "adaptive-threshold"
    assert [shot["start_s"] for shot in document["shots"]] == [0.0, 5.0]


def test_given_no_frames_when_shots_are_built_then_one_shot_covers_the_video():
    assert build_shots([], [], 1.5) == [{"start_s": 0.0, "end_s": 1.5, "first_frame": None, "last_frame": None,
                                         "keyframe": None}]
