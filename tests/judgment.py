"""Synthetic analysis for the judgment steps (summarize_video, plan_clips) and the model gateway.

The transcript, frame timeline and shots are in the shapes normalize_transcript,
aggregate_frames and detect_shots write: a 14-sentence baking talk whose pauses hold the cuts.
`workflow_state` puts them in S3 (moto) and returns the state after the Analysis Parallel state.
"""

from lambdas.common import storage
from lambdas.common.budget import BudgetStore
from lambdas.common.events import EventLog
from lambdas.common.judgment import JudgmentSettings
from lambdas.common.models import MediaInfo, SourceObject, Transcript, Word
from lambdas.common.sentences import sentences_from_words
from lambdas.common.settings import get_settings
from lambdas.common.signals import signals_from_documents
from lambdas.plan_clips.handler import handler as plan_handler
from tests.conftest import BUDGET_TABLE
from videoflow.local.lambda_runtime import LocalLambdaContext

JOB_ID = "job-planner-000001"
OUTPUT_BUCKET = "videoflow-output"
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


def talk_state() -> dict:
    """The talk in a 120 s video with three cuts: the state the recorded Converse answers were made for."""
    return workflow_state(duration_s=120.0, cuts=(30.3, 62.0, 95.0))


def run_plan_clips(state: dict) -> dict:
    return plan_handler(state, LocalLambdaContext("plan_clips"))


def budget_status():
    return BudgetStore(BUDGET_TABLE, get_settings(JudgmentSettings).bounds).status(JOB_ID)


def events(type_: str | None = None) -> list:
    found = EventLog("videoflow-events").read(JOB_ID)
    return [event for event in found if type_ is None or event.type == type_]
