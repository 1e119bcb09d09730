"""validate_plan: whatever a planner wrote becomes a clean plan, and every correction says why."""

import math
import random

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import ClipPlan, DraftPlan, PlanBounds, plan_draft_key
from lambdas.common.models import MediaInfo, Sentence, SourceObject
from lambdas.common.plan_check import speaker_turns, validate_plan
from lambdas.validate_plan.handler import handler
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BOUNDS = PlanBounds()  # 15-60 s, at most 5 clips
JOB_ID = "job-validate-plan-1"
OUTPUT_BUCKET = "videoflow-output"


def _clip(start_s, end_s, score=0.5, title="A clip", rationale="It is a good moment.") -> dict:
    return {"start_s": start_s, "end_s": end_s, "title": title, "score": score, "rationale": rationale}


def _draft(*clips, planner="bedrock") -> DraftPlan:
    return DraftPlan(planner=planner, clips=list(clips))


def _codes(result) -> list[str]:
    return [correction.code for correction in result.corrections]


def _assert_clean(plan: ClipPlan, duration_s: float, bounds: PlanBounds = BOUNDS) -> None:
    assert len(plan.clips) <= bounds.max_clips
    for clip in plan.clips:
        assert 0 <= clip.start_s < clip.end_s <= duration_s
        assert bounds.min_clip_s - 1e-6 <= clip.end_s - clip.start_s <= bounds.max_clip_s + 1e-6
        assert math.isfinite(clip.score) and 0 <= clip.score <= 1
        assert clip.title.strip() and clip.rationale.strip()
    for earlier, later in zip(plan.clips, plan.clips[1:], strict=False):
        assert earlier.end_s <= later.start_s


# --- bounds --------------------------------------------------------------------------------------


def test_a_plan_asking_for_500_clips_is_clamped_to_the_5_best():
    clips = [_clip(25.0 * i, 25.0 * i + 20, score=round((i * 37 % 500) / 500, 3), title=f"Clip {i}")
             for i in range(500)]

    result = validate_plan(_draft(*clips), duration_s=14_400.0, bounds=BOUNDS)

    assert len(result.plan.clips) == 5
    assert sorted(clip.score for clip in result.plan.clips) == sorted(c["score"] for c in clips)[-5:]
    assert _codes(result).count("OVER_MAX_CLIPS") == 495
    assert result.draft_clip_count == 500
    _assert_clean(result.plan, 14_400.0)


def test_500_overlapping_clips_in_a_short_video_still_give_at_most_5_clean_ones():
    rng = random.Random(7)
    clips = [_clip(rng.uniform(0, 100), rng.uniform(0, 130), score=rng.random()) for _ in range(500)]

    result = validate_plan(_draft(*clips), duration_s=120.0, bounds=BOUNDS)

    _assert_clean(result.plan, 120.0)
    assert 1 <= len(result.plan.clips) <= 5


def test_the_clean_plan_lists_its_clips_in_time_order():
    result = validate_plan(_draft(_clip(100, 120, 0.9), _clip(10, 30, 0.2), _clip(50, 70, 0.5)), 200.0, BOUNDS)

    assert [clip.start_s for clip in result.plan.clips] == [10, 50, 100]


# --- overlaps ------------------------------------------------------------------------------------


def test_of_two_overlapping_clips_the_higher_score_is_kept_and_the_other_dropped_with_the_reason():
    result = validate_plan(_draft(_clip(10, 40, 0.4, "Lower"), _clip(30, 60, 0.8, "Higher")), 100.0, BOUNDS)

    assert [clip.title for clip in result.plan.clips] == ["Higher"]
    (correction,) = result.corrections
    assert (correction.clip, correction.action, correction.code) == (0, "dropped", "OVERLAP")
    assert "clip 1" in correction.reason and "0.80 against 0.40" in correction.reason


def test_clips_that_only_touch_do_not_overlap():
    result = validate_plan(_draft(_clip(10, 30, 0.4), _clip(30, 50, 0.8)), 100.0, BOUNDS)

    assert len(result.plan.clips) == 2 and result.corrections == []


def test_an_overlap_dropped_clip_does_not_use_up_one_of_the_max_clips():
    clips = [_clip(0, 20, 0.9), _clip(5, 25, 0.85)] + [_clip(30.0 * i, 30.0 * i + 20, 0.5) for i in range(1, 5)]

    result = validate_plan(_draft(*clips), 1000.0, BOUNDS)

    assert len(result.plan.clips) == 5
    assert _codes(result) == ["OVERLAP"]


# --- clamping and length -------------------------------------------------------------------------


def test_a_clip_reaching_outside_the_video_is_clamped_inside_it():
    result = validate_plan(_draft(_clip(-4.0, 20.0), _clip(95.0, 125.0)), 120.0, BOUNDS)

    assert [(c.start_s, c.end_s) for c in result.plan.clips] == [(0.0, 20.0), (95.0, 120.0)]
    assert [(c.action, c.code) for c in result.corrections] == [("clamped", "OUT_OF_BOUNDS")] * 2
    assert "inside the video (0–120 s)" in result.corrections[1].reason


def test_a_clip_entirely_after_the_end_of_the_video_is_dropped():
    result = validate_plan(_draft(_clip(130.0, 150.0)), 120.0, BOUNDS)

    assert result.plan.clips == []
    assert [(c.action, c.code) for c in result.corrections] == [("dropped", "OUT_OF_BOUNDS")]


def test_a_clip_longer_than_the_maximum_is_trimmed_around_its_centre():
    result = validate_plan(_draft(_clip(100.0, 200.0)), 600.0, BOUNDS)

    (clip,) = result.plan.clips
    assert (clip.start_s, clip.end_s) == (120.0, 180.0)
    assert [(c.action, c.code) for c in result.corrections] == [("trimmed", "TOO_LONG")]


def test_a_clip_shorter_than_the_minimum_is_extended_around_its_centre():
    result = validate_plan(_draft(_clip(50.0, 56.0)), 600.0, BOUNDS)

    (clip,) = result.plan.clips
    assert (clip.start_s, clip.end_s) == (45.5, 60.5)
    assert [(c.action, c.code) for c in result.corrections] == [("extended", "TOO_SHORT")]


def test_a_short_clip_at_the_start_is_extended_into_the_video_not_before_it():
    result = validate_plan(_draft(_clip(0.0, 4.0)), 600.0, BOUNDS)

    assert [(c.start_s, c.end_s) for c in result.plan.clips] == [(0.0, 15.0)]


def test_a_clip_in_a_video_shorter_than_the_minimum_is_dropped_with_the_reason():
    result = validate_plan(_draft(_clip(1.0, 9.0)), 10.0, BOUNDS)

    assert result.plan.clips == []
    (correction,) = result.corrections
    assert (correction.action, correction.code) == ("dropped", "TOO_SHORT")
    assert "too short to extend" in correction.reason


# --- speaker turns -------------------------------------------------------------------------------

# Two speakers taking turns: A 0-20 s, B 20-34 s, A 34-50 s, B 50-120 s (longer than a clip can hold).
TURNS = [(0.0, 20.0), (20.0, 34.0), (34.0, 50.0), (50.0, 120.0)]


def test_given_a_clip_starting_inside_a_turn_when_checked_then_its_start_moves_to_where_the_turn_starts():
    result = validate_plan(_draft(_clip(22.0, 50.0)), duration_s=120.0, bounds=BOUNDS, turns=TURNS)

    assert [(c.start_s, c.end_s) for c in result.plan.clips] == [(20.0, 50.0)]
    [correction] = result.corrections
    assert (correction.code, correction.action) == ("CUTS_A_TURN", "snapped")
    assert "20.0–34.0 s" in correction.reason and "moved to 20.0 s" in correction.reason


def test_given_a_clip_ending_just_short_of_a_turns_end_when_checked_then_its_end_moves_to_it():
    result = validate_plan(_draft(_clip(20.0, 48.5)), duration_s=120.0, bounds=BOUNDS, turns=TURNS)

    assert [(c.start_s, c.end_s) for c in result.plan.clips] == [(20.0, 50.0)]


def test_given_an_edge_no_short_move_frees_when_checked_then_the_clip_pays_and_a_whole_rival_wins():
    cutting = _clip(27.0, 45.0, score=0.6, title="Cuts two turns")  # 7 s from either end of 20-34 and 34-50
    whole = _clip(20.0, 50.0, score=0.55, title="Keeps them whole")

    result = validate_plan(_draft(cutting, whole), duration_s=120.0, bounds=BOUNDS, turns=TURNS)

    assert [c.title for c in result.plan.clips] == ["Keeps them whole"]
    assert [(c.clip, c.action) for c in result.corrections if c.code == "CUTS_A_TURN"] == [(0, "rescored")] * 2
    assert "OVERLAP" in _codes(result)


def test_given_a_turn_longer_than_a_clip_when_a_clip_lies_inside_it_then_nothing_is_corrected():
    result = validate_plan(_draft(_clip(70.0, 100.0)), duration_s=120.0, bounds=BOUNDS, turns=TURNS)

    assert result.corrections == [] and result.plan.clips[0].start_s == 70.0


def test_given_a_draft_that_lists_its_speaker_turns_when_checked_then_they_are_kept_whole():
    draft = {"planner": "local", "clips": [_clip(22.0, 50.0)], "speaker_turns": [list(t) for t in TURNS]}

    assert validate_plan(draft, duration_s=120.0, bounds=BOUNDS).plan.clips[0].start_s == 20.0


def test_given_sentences_of_two_speakers_when_made_turns_then_runs_of_one_speaker_join_and_one_speaker_has_none():
    def sentence(start, end, speaker):
        return Sentence(text="x", start_s=start, end_s=end, first_word=0, last_word=0, speaker=speaker)

    sentences = [sentence(0, 5, "spk_0"), sentence(5.5, 9, "spk_0"), sentence(9.2, 12, "spk_1"), sentence(13, 15, "spk_0")]

    assert speaker_turns(sentences) == [(0.0, 9.0), (9.2, 12.0), (13.0, 15.0)]
    assert speaker_turns([sentence(0, 5, "spk_0"), sentence(6, 9, "spk_0")]) == []
    assert speaker_turns([sentence(0, 5, None)]) == []


# --- garbage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("clip", "code"), [
    (_clip(float("nan"), 30.0), "NOT_FINITE"),
    (_clip(10.0, float("inf")), "NOT_FINITE"),
    (_clip(10.0, 30.0, score=float("nan")), "NOT_FINITE"),
    (_clip(40.0, 20.0), "END_BEFORE_START"),
    (_clip(20.0, 20.0), "END_BEFORE_START"),
    (_clip(10.0, 30.0, title="   "), "EMPTY_TITLE"),
    (_clip(10.0, 30.0, title=None), "EMPTY_TITLE"),
    (_clip(10.0, 30.0, rationale=""), "EMPTY_RATIONALE"),
    ({"start_s": 10.0, "end_s": 30.0, "title": "No score", "rationale": "Fine."}, "MISSING_FIELD"),
    (_clip("soon", 30.0), "NOT_A_NUMBER"),
    (_clip(True, 30.0), "NOT_A_NUMBER"),
    (_clip([1], 30.0), "NOT_A_NUMBER"),
    ("0:10-0:40 the intro", "NOT_A_CLIP"),
    (None, "NOT_A_CLIP"),
])
def test_a_garbage_clip_is_dropped_with_a_recorded_reason_and_the_good_ones_pass(clip, code):
    good = _clip(60.0, 80.0, title="Good")

    result = validate_plan(_draft(clip, good), 120.0, BOUNDS)

    assert [c.title for c in result.plan.clips] == ["Good"]
    (correction,) = result.corrections
    assert (correction.clip, correction.action, correction.code) == (0, "dropped", code)
    assert correction.reason


def test_numbers_sent_as_text_are_read_as_numbers():
    result = validate_plan(_draft(_clip("10.5", "30", score="0.7")), 120.0, BOUNDS)

    assert [(c.start_s, c.end_s, c.score) for c in result.plan.clips] == [(10.5, 30.0, 0.7)]


def test_a_score_outside_0_to_1_is_clamped_and_a_long_rationale_cut_to_one_sentence():
    rationale = "Great energy here. Also the lighting is nice! And more."

    result = validate_plan(_draft(_clip(10.0, 30.0, score=1.7, rationale=rationale, title="T" * 200)), 120.0, BOUNDS)

    (clip,) = result.plan.clips
    assert clip.score == 1.0
    assert clip.rationale == "Great energy here."
    assert len(clip.title) == 80 and clip.title.endswith("…")
    assert sorted(_codes(result)) == ["RATIONALE_NOT_ONE_SENTENCE", "SCORE_OUT_OF_RANGE", "TITLE_TOO_LONG"]


def test_a_decimal_point_does_not_end_the_rationale_sentence():
    rationale = "Starts on a sentence, 2.6 words/s of speech, a face in 80 % of frames."

    result = validate_plan(_draft(_clip(10.0, 30.0, rationale=rationale)), 120.0, BOUNDS)

    assert result.plan.clips[0].rationale == rationale and result.corrections == []


@pytest.mark.parametrize("draft", [None, "clips please", 42, {"clips": "all of them"}, {"no": "clips"}, []])
def test_something_that_is_not_a_plan_gives_an_empty_plan_and_says_so(draft):
    result = validate_plan(draft, 120.0, BOUNDS)

    assert result.plan.clips == []
    assert [(c.clip, c.code) for c in result.corrections] == [(None, "NOT_A_PLAN")]


def test_a_clean_plan_passes_unchanged_and_validating_twice_changes_nothing():
    first = validate_plan(_draft(_clip(-2, 10, 0.9), _clip(20, 100, 0.5), _clip(90, 118, 0.7)), 120.0, BOUNDS)

    second = validate_plan(first.plan, 120.0, BOUNDS)

    assert second.plan == first.plan
    assert second.corrections == []


def test_random_garbage_never_gets_through():
    rng = random.Random(2026)
    values = [float("nan"), float("inf"), -1e9, 1e9, -5.0, 0.0, "x", None, True, 3.0, 17.5, 44.0, 119.9, 250.0]
    for _ in range(200):
        clips = []
        for _ in range(rng.randint(0, 30)):
            clip = {name: rng.choice(values + [rng.uniform(-20, 140)]) for name in ("start_s", "end_s", "score")}
            clip["title"] = rng.choice(["", " ", "Intro", None, "x" * 120])
            clip["rationale"] = rng.choice(["", "Why. Because.", "Because it is good.", 3])
            clips.append(clip if rng.random() > 0.05 else rng.choice([None, "clip", 7]))

        result = validate_plan(_draft(*clips), 120.0, BOUNDS)

        _assert_clean(result.plan, 120.0)
        assert len(result.plan.clips) + sum(c.action == "dropped" for c in result.corrections) == len(clips)


def test_other_bounds_are_honoured():
    bounds = PlanBounds(min_clip_s=5, max_clip_s=10, max_clips=2)

    result = validate_plan(_draft(_clip(0, 30, 0.9), _clip(40, 42, 0.8), _clip(60, 70, 0.7)), 100.0, bounds)

    assert [(c.start_s, c.end_s) for c in result.plan.clips] == [(10.0, 20.0), (38.5, 43.5)]
    _assert_clean(result.plan, 100.0, bounds)


# --- the step ------------------------------------------------------------------------------------


def _media(duration_s: float) -> dict:
    return MediaInfo(container="mp4", duration_s=duration_s, size_bytes=1_000, video_codec="h264", coded_width=1280,
                     coded_height=720, width=1280, height=720, frame_rate=25.0,
                     has_audio=True).model_dump(mode="json")


def test_the_step_reads_the_draft_writes_the_clean_plan_and_logs_the_corrections(aws_state):
    draft_key = plan_draft_key(JOB_ID)
    storage.put_json(OUTPUT_BUCKET, draft_key, {"planner": "bedrock", "clips": [
        _clip(0.5, 29.8, 0.86, "Intro"), _clip(20.0, 40.0, 0.3, "Overlapping"), _clip(95.2, 121.5, 0.69, "End")]})
    event = {
        "job_id": JOB_ID,
        "source": SourceObject(bucket="videoflow-ingest", key="uploads/talk.mp4", size_bytes=1_000).model_dump(),
        "media": _media(120.0),
        "plan_draft": {"bucket": OUTPUT_BUCKET, "key": draft_key, "planner": "bedrock", "clip_count": 3},
    }

    result = handler(event, LocalLambdaContext("validate_plan"))

    assert result["plan"]["planner"] == "bedrock"
    assert [(c["title"], c["end_s"]) for c in result["plan"]["clips"]] == [("Intro", 29.8), ("End", 120.0)]
    assert result["corrections_by_code"] == {"OUT_OF_BOUNDS": 1, "OVERLAP": 1}
    stored = storage.get_json(OUTPUT_BUCKET, result["key"])
    assert stored["plan"] == result["plan"] and len(stored["corrections"]) == 2
    (logged,) = EventLog("videoflow-events").read(JOB_ID)
    assert logged.type == "plan.validated"
    assert logged.detail["clips"] == 2 and logged.detail["draft_clips"] == 3
