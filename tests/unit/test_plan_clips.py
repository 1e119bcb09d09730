"""plan_clips: the clip plan drafted by the local planner or by Bedrock, and its fallbacks.

The local planner works from the video's own signals (tests/judgment.py builds them in the
shapes the analysis steps write): windows start and end on sentences and cuts, each rationale
carries its own numbers, and no speech or a tiny video still gets an answer. The Bedrock
planner is tested against recorded Converse answers (tests/bedrock.py): the request it sends,
the draft it makes, and the fall back to the local planner when the answer is unusable.
validate_plan runs after each draft, as in the workflow. The call boundary itself (budget,
usage, model.called) is in test_model_gateway.py.
"""

import re

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import PlanBounds, estimate_input_tokens, plan_draft_key
from lambdas.common.models import Word
from lambdas.common.sentences import sentences_from_words
from lambdas.common.signals import Signals, signals_from_documents
from lambdas.plan_clips.bedrock import PLAN_TOOL, parse_plan, plan_request
from lambdas.plan_clips.handler import handler as plan_handler
from lambdas.plan_clips.local import plan_locally
from lambdas.validate_plan.handler import handler as validate_handler
from tests.bedrock import MODEL_ID, recorded
from tests.judgment import (
    JOB_ID,
    OUTPUT_BUCKET,
    TALK,
    budget_status,
    events,
    frames,
    run_plan_clips,
    shots_document,
    talk_signals,
    talk_state,
    talk_words,
    transcript,
    workflow_state,
)
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BOUNDS = PlanBounds()


def _words_per_s(words: list[Word], start_s: float, end_s: float) -> float:
    return sum(1 for w in words if start_s - 1e-6 <= w.start_s and w.end_s <= end_s + 1e-6) / (end_s - start_s)


# --- the local planner on a talk -------------------------------------------------------------------


def test_on_a_talk_every_clip_starts_and_ends_on_a_sentence_and_says_so():
    signals = talk_signals()

    plan = plan_locally(signals, BOUNDS).plan

    assert plan.planner == "local" and 1 <= len(plan.clips) <= BOUNDS.max_clips
    for clip in plan.clips:
        # on the sentence, or in the pause at most 1 s before its first word (and after its last)
        first = next(s for s in signals.sentences if s.start_s >= clip.start_s)
        last = [s for s in signals.sentences if s.end_s <= clip.end_s][-1]
        assert 0 <= first.start_s - clip.start_s <= 1.0 and 0 <= clip.end_s - last.end_s <= 1.0
        assert not any(w.start_s < clip.start_s < w.end_s or w.start_s < clip.end_s < w.end_s for w in signals.words)
        assert clip.rationale.startswith("Starts on a sentence")
        assert "ends on a sentence end" in clip.rationale


def test_each_rationale_is_one_sentence_with_the_windows_own_numbers():
    signals = talk_signals(faces=lambda t_s: t_s < 40)

    plan = plan_locally(signals, BOUNDS).plan

    for clip in plan.clips:
        assert clip.rationale.endswith(".") and clip.rationale.count(". ") == 0
        wps = float(re.search(r"(\d+\.\d) words/s of speech", clip.rationale).group(1))
        assert wps == pytest.approx(_words_per_s(signals.words, clip.start_s, clip.end_s), abs=0.05)
        in_clip = [f for f in signals.frames if clip.start_s <= f.t_s < clip.end_s]
        share = round(100 * sum(f.has_face for f in in_clip) / len(in_clip))
        assert (f"a face in {share} % of frames" if share else "no faces") in clip.rationale
        assert "sharp picture (sharpness 0.70)" in clip.rationale


def test_the_clips_respect_the_bounds_and_do_not_overlap():
    plan = plan_locally(talk_signals(), PlanBounds(min_clip_s=15, max_clip_s=30, max_clips=3)).plan

    assert len(plan.clips) == 3
    for clip in plan.clips:
        assert 15 <= clip.end_s - clip.start_s <= 30
    for earlier, later in zip(plan.clips, plan.clips[1:], strict=False):
        assert earlier.end_s <= later.start_s


def test_with_the_same_speech_the_stretch_with_a_face_on_screen_wins():
    signals = talk_signals(faces=lambda t_s: t_s >= 45)

    best = max(plan_locally(signals, BOUNDS).plan.clips, key=lambda clip: clip.score)

    assert best.start_s >= 43
    assert "a face in 100 % of frames" in best.rationale


def test_dense_speech_outranks_sparse_speech():
    dense = talk_words(TALK[:6], start_s=0.5, pause_s=0.5)
    sparse = [Word(text=text, start_s=round(60.0 + 12 * i + k * 0.4, 3), end_s=round(60.0 + 12 * i + k * 0.4 + 0.36, 3),
                   confidence=0.9)
              for i in range(7) for k, text in enumerate(["Just", "a", "word."])]
    signals = talk_signals(duration_s=150.0, cuts=(), words=dense + sparse)

    best = max(plan_locally(signals, BOUNDS).plan.clips, key=lambda clip: clip.score)

    assert best.end_s <= 60.0
    assert float(re.search(r"(\d+\.\d) words/s", best.rationale).group(1)) >= 2.0


def test_the_plan_is_deterministic():
    assert plan_locally(talk_signals(), BOUNDS) == plan_locally(talk_signals(), BOUNDS)


def test_every_title_is_the_first_words_spoken_in_the_clip():
    signals = talk_signals()

    for clip in plan_locally(signals, BOUNDS).plan.clips:
        first = next(w.text for w in signals.words if w.start_s >= clip.start_s)
        assert clip.title.startswith(first)
        assert len(clip.title.split()) <= 8


# --- no speech, tiny videos ------------------------------------------------------------------------


def test_a_video_without_speech_is_planned_from_shots_and_faces_alone():
    signals = signals_from_documents(90.0, transcript([]).model_dump(mode="json"),
                                     shots_document([30.0, 60.0], 90.0),
                                     {"frames": frames(90.0, faces=lambda t_s: 30 <= t_s < 60)})

    result = plan_locally(signals, BOUNDS)

    clips = result.plan.clips
    assert clips, result.reason
    best = max(clips, key=lambda clip: clip.score)
    assert (best.start_s, best.end_s) == (30.0, 60.0)
    assert best.rationale == ("Starts on a cut, ends on a cut, no speech in the video, so chosen by shots and "
                              "picture alone, a face in 100 % of frames, sharp picture (sharpness 0.70).")
    assert best.title == "Shot 2, 0:30–1:00"
    assert all("words/s" not in clip.rationale for clip in clips)


def test_a_silent_single_shot_video_still_gets_clips_from_the_grid():
    signals = signals_from_documents(200.0, None, shots_document([], 200.0), {"frames": frames(200.0)})

    plan = plan_locally(signals, BOUNDS).plan

    assert plan.clips
    assert all(15 <= clip.end_s - clip.start_s <= 60 for clip in plan.clips)


def test_a_video_shorter_than_two_clips_is_one_clip_of_the_whole_video():
    signals = signals_from_documents(24.0, transcript(talk_words(TALK[:2])).model_dump(mode="json"),
                                     shots_document([], 24.0), {"frames": frames(24.0)})

    result = plan_locally(signals, BOUNDS)

    (clip,) = result.plan.clips
    assert (clip.start_s, clip.end_s) == (0.0, 24.0)
    assert clip.rationale.startswith("The whole 24-second video, too short for two clips")
    assert result.reason


def test_a_video_shorter_than_the_minimum_clip_gets_no_clip_and_a_reason():
    signals = signals_from_documents(9.5, None, shots_document([], 9.5), {"frames": frames(9.5)})

    result = plan_locally(signals, BOUNDS)

    assert result.plan.clips == []
    assert result.reason == "The video lasts 9.5 s, shorter than the 15 s minimum clip length: no clip."


# --- the step, local (BEDROCK_MODEL_ID unset) -------------------------------------------------------


def test_without_a_model_id_plan_clips_drafts_with_the_local_planner_and_validate_plan_accepts_it(aws_state):
    state = workflow_state()

    draft = plan_handler(state, LocalLambdaContext("plan_clips"))
    validated = validate_handler({**state, "plan_draft": draft}, LocalLambdaContext("validate_plan"))

    assert draft["planner"] == "local" and draft["fallback_reason"] is None and draft["model_calls"] == 0
    stored = storage.get_json(OUTPUT_BUCKET, plan_draft_key(JOB_ID))
    assert len(stored["clips"]) == draft["clip_count"] == len(stored["score_components"])
    # The local planner's clips survive whole; the check only moves an edge that sits tight against a word into
    # the pause beside it (a breath), and no edge cuts a word of the draft's own word list.
    assert set(validated["corrections_by_code"]) <= {"IN_A_PAUSE", "ON_A_CUT"}
    assert len(validated["plan"]["clips"]) == len(stored["clips"])
    assert stored["cuts"] and len(stored["words"]) > 100
    for clip in validated["plan"]["clips"]:
        for edge in (clip["start_s"], clip["end_s"]):
            assert not any(start_s + 0.02 < edge < end_s - 0.02 for start_s, end_s in stored["words"])
    types = [event.type for event in EventLog("videoflow-events").read(JOB_ID)]
    assert types == ["plan.drafted", "plan.validated"]


# --- the Bedrock planner: the request --------------------------------------------------------------


def test_the_recorded_plan_is_a_tool_use_answer_with_its_usage():
    response = recorded("plan")

    assert response["stopReason"] == "tool_use"
    assert response["usage"]["inputTokens"] + response["usage"]["outputTokens"] == response["usage"]["totalTokens"]
    assert [len(parse_plan(response).clips)] == [3]


def test_the_planner_sends_a_valid_converse_request_that_forces_the_plan_tool(bedrock):
    fake = bedrock(recorded("plan"))

    run_plan_clips(talk_state())

    (request,) = fake.requests
    assert request["modelId"] == MODEL_ID
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": PLAN_TOOL}}
    schema = request["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema["properties"]["clips"]["maxItems"] == 5
    assert set(schema["properties"]["clips"]["items"]["required"]) == {"start_s", "end_s", "title", "score",
                                                                      "rationale"}
    assert "between 15 and 60 seconds" in request["system"][0]["text"]
    facts = request["messages"][0]["content"][0]["text"]
    assert "Video length: 120.0 s." in facts
    assert "[0.5-5.3] Welcome to the kitchen, today we bake a sourdough loaf from scratch." in facts
    assert "[30.3-62.0] shot 2: faces in 100 % of frames, sharpness 0.70" in facts
    assert request["inferenceConfig"]["maxTokens"] == 2_000


def test_a_four_hour_transcript_is_cut_down_to_fit_the_jobs_token_budget():
    words = [Word(text=f"word{i % 12}" + ("." if i % 12 == 11 else ""), start_s=i * 0.4, end_s=i * 0.4 + 0.3,
                  confidence=0.9) for i in range(36_000)]
    signals = Signals(duration_s=14_400.0, words=words, sentences=sentences_from_words(words),
                      shots=[(float(t), float(t + 20)) for t in range(0, 14_400, 20)])
    bounds = PlanBounds(max_tokens_per_job=40_000)

    request = plan_request(signals, bounds)

    assert estimate_input_tokens(request) + 2_000 <= bounds.max_tokens_per_job // 2
    assert "evenly spread" in request["messages"][0]["content"][0]["text"]


# --- the Bedrock planner: the answer ---------------------------------------------------------------


def test_the_recorded_answer_becomes_the_draft_and_validate_plan_clamps_its_overreach(bedrock):
    bedrock(recorded("plan"))
    state = talk_state()

    draft = run_plan_clips(state)
    validated = validate_handler({**state, "plan_draft": draft}, LocalLambdaContext("validate_plan"))

    assert (draft["planner"], draft["clip_count"], draft["fallback_reason"], draft["model_calls"]) == (
        "bedrock", 3, None, 1)
    clips = validated["plan"]["clips"]
    assert [(c["title"], c["start_s"], c["end_s"]) for c in clips] == [
        ("Sourdough from scratch", 0.25, 29.8), ("Stretch and fold, step by step", 62.0, 93.6),
        ("Baking at full heat", 95.2, 120.0)]  # the first starts in the silence before the first word (0.5 s)
    assert validated["corrections_by_code"] == {"IN_A_PAUSE": 1, "OUT_OF_BOUNDS": 1}


def test_a_malformed_answer_falls_back_to_the_local_planner_with_the_reason(bedrock):
    fake = bedrock(recorded("malformed"))

    draft = run_plan_clips(talk_state())

    assert fake.calls == 1
    assert draft["planner"] == "local" and draft["clip_count"] >= 1
    assert draft["fallback_reason"] == ("The model's answer could not be used (MODEL_ANSWER_INVALID): The model "
                                        "stopped with 'end_turn', not 'tool_use': no structured answer.")
    assert [e.type for e in events()] == ["model.called", "judgment.fallback", "plan.drafted"]
    assert budget_status().tokens == 1_940  # the call was made and paid for


def test_an_answer_whose_clips_are_all_garbage_falls_back_to_the_local_planner(bedrock):
    response = recorded("plan")
    response["output"]["message"]["content"][0]["toolUse"]["input"] = {"clips": [
        {"start_s": "NaN", "end_s": 30, "title": "x", "score": 0.5, "rationale": "Because."},
        {"start_s": 50, "end_s": 40, "title": "Backwards", "score": 0.9, "rationale": "Because."}]}
    bedrock(response)

    draft = run_plan_clips(talk_state())

    assert draft["planner"] == "local"
    assert "None of the model's 2 clips is usable" in draft["fallback_reason"]


def _refusal(stop_reason: str, text: str) -> dict:
    """A Converse answer in which the model declined: its text instead of the forced tool, with the stop reason."""
    response = recorded("malformed")
    response["stopReason"] = stop_reason
    response["output"]["message"]["content"] = [{"text": text}]
    return response


@pytest.mark.parametrize(("stop_reason", "text"), [
    ("content_filtered", "I can't help with that request."),
    ("guardrail_intervened", "Sorry, the model cannot answer this question."),
])
def test_a_refused_answer_falls_back_to_the_local_planner_and_says_the_model_declined(bedrock, stop_reason, text):
    fake = bedrock(_refusal(stop_reason, text))

    draft = run_plan_clips(talk_state())

    assert fake.calls == 1  # no second call after a refusal
    assert draft["planner"] == "local" and draft["clip_count"] >= 1
    assert draft["fallback_reason"] == (f"The model's answer could not be used (MODEL_REFUSED): The model declined to "
                                        f"answer (stopReason '{stop_reason}'): {text}")
    (fallback,) = events("judgment.fallback")
    assert fallback.detail["code"] == "MODEL_REFUSED"
    assert [e.type for e in events()] == ["model.called", "judgment.fallback", "plan.drafted"]
