"""The local planner and the extractive summary: plans and summaries from the video's own signals.

Synthetic analysis outputs in the shapes normalize_transcript, detect_shots and
aggregate_frames write; the planner must pick windows that start and end on sentences (and
cuts), explain each score component with its number, and cope with no speech and tiny videos.
"""

import re

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import PlanBounds, plan_draft_key
from lambdas.common.models import MediaInfo, SourceObject, Transcript, Word
from lambdas.common.sentences import sentences_from_words
from lambdas.common.signals import signals_from_documents
from lambdas.plan_clips.handler import handler as plan_handler
from lambdas.plan_clips.local import plan_locally
from lambdas.summarize_video.handler import handler as summarize_handler
from lambdas.summarize_video.logic import extractive_summary
from lambdas.validate_plan.handler import handler as validate_handler
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-planner-000001"
OUTPUT_BUCKET = "videoflow-output"
BOUNDS = PlanBounds()
SECONDS_PER_WORD = 0.4
PAUSE_S = 1.2

TALK = [
    "Welcome to the kitchen, today we bake a sourdough loaf from scratch.",
    "Sourdough needs only flour, water, salt and a lively starter.",
    "First we feed the starter and wait until it doubles in size.",
    "Then we mix the flour and water and let the dough rest for an hour.",
    "This rest is called the autolyse and it makes the dough stretchy.",
    "Now we add the salt and the starter and squeeze the dough together.",
    "Over the next hours we stretch and fold the dough every half hour.",
    "You will feel the dough become smoother and stronger with every fold.",
    "After the bulk rise we shape the loaf and put it in a floured basket.",
    "The shaped loaf rests overnight in the fridge to develop flavour.",
    "In the morning we bake the loaf in a very hot pot with the lid on.",
    "After twenty minutes the lid comes off and the crust turns deep brown.",
    "Let the bread cool for an hour before you slice it.",
    "Thanks for watching and happy baking.",
]


def talk_words(sentences=TALK, start_s=0.5, seconds_per_word=SECONDS_PER_WORD, pause_s=PAUSE_S) -> list[Word]:
    words, at = [], start_s
    for text in sentences:
        for token in text.split():
            words.append(Word(text=token, start_s=round(at, 3), end_s=round(at + seconds_per_word * 0.9, 3),
                              confidence=0.95))
            at += seconds_per_word
        at += pause_s
    return words


def transcript(words: list[Word]) -> Transcript:
    return Transcript(job_id=JOB_ID, language="en-US" if words else None, words=words,
                      sentences=sentences_from_words(words))


def frames(duration_s: float, faces=lambda t_s: True, sharpness=0.7) -> list[dict]:
    return [{"index": i, "t_s": 2.0 * i, "key": f"derivatives/{JOB_ID}/frames/frame.{i:07d}.jpg",
             "shot_change_score": 0.1, "sharpness": sharpness, "brightness": 0.6,
             "faces": [{"x": 0.4, "y": 0.2, "w": 0.2, "h": 0.3, "score": 0.9}] if faces(2.0 * i) else []}
            for i in range(int(duration_s // 2) + 1) if 2.0 * i < duration_s]


def shots_document(cuts: list[float], duration_s: float) -> dict:
    edges = [0.0, *cuts, duration_s]
    return {"job_id": JOB_ID, "duration_s": duration_s,
            "shots": [{"start_s": a, "end_s": b, "first_frame": None, "last_frame": None, "keyframe": None}
                      for a, b in zip(edges, edges[1:], strict=False)]}


def talk_signals(duration_s: float = 90.0, cuts=(30.3, 62.0), words=None, faces=lambda t_s: True):
    """The talk (14 sentences, 0.5-84.5 s) in a 90 s video with cuts in two of its pauses."""
    words = talk_words() if words is None else words
    return signals_from_documents(duration_s, transcript(words).model_dump(mode="json"),
                                  shots_document(list(cuts), duration_s),
                                  {"frames": frames(duration_s, faces)})


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


# --- extractive summary ----------------------------------------------------------------------------


def test_the_extractive_summary_is_the_most_central_sentences_in_spoken_order():
    sentences = ["Sourdough bread needs flour, water and a starter.",
                 "Next week we will repair a flat tyre on a mountain bike.",
                 "The starter makes the sourdough dough rise slowly.",
                 "Knead the dough, then bake the sourdough bread hot.",
                 "Flour and water become dough after a long rest."]
    signals = talk_signals(words=talk_words(sentences))

    summary = extractive_summary(signals)

    assert summary.summarizer == "extractive"
    assert "mountain bike" not in summary.summary
    chosen = [s for s in sentences if s in summary.summary]
    assert len(chosen) == 3 and chosen == [s for s in sentences if s in chosen]
    assert summary.title and len(summary.title.split()) <= 8


def test_a_video_without_speech_is_summarized_by_its_shots_and_faces():
    signals = signals_from_documents(90.0, None, shots_document([30.0, 60.0], 90.0),
                                     {"frames": frames(90.0, faces=lambda t_s: 30 <= t_s < 60)})

    summary = extractive_summary(signals)

    assert summary.title == "Video without speech (1:30 min)"
    assert summary.summary == "A 1:30 min video without speech, in 3 shots. Faces appear in 33 % of its frames."


# --- the steps, local (BEDROCK_MODEL_ID unset) ------------------------------------------------------


def workflow_state(duration_s: float = 90.0, words=None, cuts=(30.3, 62.0)) -> dict:
    """The workflow state after the Analysis Parallel state, with its outputs in S3."""
    words = talk_words() if words is None else words
    keys = {"transcript": f"transcripts/{JOB_ID}/transcript.json", "timeline": f"analysis/{JOB_ID}/timeline.json",
            "shots": f"analysis/{JOB_ID}/shots.json"}
    storage.put_json(OUTPUT_BUCKET, keys["transcript"], transcript(words).model_dump(mode="json"))
    storage.put_json(OUTPUT_BUCKET, keys["timeline"], {"job_id": JOB_ID, "interval_s": 2.0,
                                                       "frames": frames(duration_s)})
    storage.put_json(OUTPUT_BUCKET, keys["shots"], shots_document(list(cuts), duration_s))
    media = MediaInfo(container="mp4", duration_s=duration_s, size_bytes=1_000_000, video_codec="h264",
                      coded_width=1280, coded_height=720, width=1280, height=720, frame_rate=25.0, has_audio=True)
    return {
        "job_id": JOB_ID,
        "source": SourceObject(bucket="videoflow-ingest", key="uploads/bake.mp4", version_id="v1",
                               size_bytes=1_000_000).model_dump(mode="json"),
        "media": media.model_dump(mode="json"),
        "analysis": [
            {"transcript": {"bucket": OUTPUT_BUCKET, "key": keys["transcript"], "word_count": len(words),
                            "sentence_count": 14, "language": "en-US"},
             "captions": {"bucket": OUTPUT_BUCKET, "vtt_key": None, "srt_key": None}},
            {"timeline": {"bucket": OUTPUT_BUCKET, "key": keys["timeline"], "frame_count": 75, "faces_frames": 75},
             "shots": {"bucket": OUTPUT_BUCKET, "key": keys["shots"], "shot_count": len(cuts) + 1}},
        ],
    }


def test_without_a_model_id_plan_clips_drafts_with_the_local_planner_and_validate_plan_accepts_it(aws_state):
    state = workflow_state()

    draft = plan_handler(state, LocalLambdaContext("plan_clips"))
    validated = validate_handler({**state, "plan_draft": draft}, LocalLambdaContext("validate_plan"))

    assert draft["planner"] == "local" and draft["fallback_reason"] is None and draft["model_calls"] == 0
    stored = storage.get_json(OUTPUT_BUCKET, plan_draft_key(JOB_ID))
    assert len(stored["clips"]) == draft["clip_count"] == len(stored["score_components"])
    assert validated["correction_count"] == 0
    assert [c["start_s"] for c in validated["plan"]["clips"]] == [c["start_s"] for c in stored["clips"]]
    types = [event.type for event in EventLog("videoflow-events").read(JOB_ID)]
    assert types == ["plan.drafted", "plan.validated"]


def test_without_a_model_id_summarize_video_writes_an_extractive_summary(aws_state):
    result = summarize_handler(workflow_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive" and result["fallback_reason"] is None
    assert 2 <= len(re.split(r"(?<=[.!?])\s+", result["summary"])) <= 3
    assert storage.get_json(OUTPUT_BUCKET, result["key"])["title"] == result["title"]
    (event,) = EventLog("videoflow-events").read(JOB_ID)
    assert event.type == "summary.written"
