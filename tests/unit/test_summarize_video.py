"""summarize_video: the video's title and a two-to-three-sentence summary, by Bedrock or extractive.

The extractive summary picks the most central sentences in spoken order, and describes a video
without speech by its shots and faces; the Bedrock summary comes from a recorded Converse
answer (tests/bedrock.py) and falls back to the extractive one when the answer is unusable.
The synthetic talk is tests/judgment.py's, shared with plan_clips.
"""

import re

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.signals import signals_from_documents
from lambdas.summarize_video.handler import handler as summarize_handler
from lambdas.summarize_video.logic import extractive_summary
from tests.announcements import index_document
from tests.bedrock import recorded
from tests.judgment import (
    JOB_ID,
    OUTPUT_BUCKET,
    events,
    frames,
    shots_document,
    talk_signals,
    talk_state,
    talk_words,
    transcript,
    workflow_state,
)
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


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


# --- the step, local (BEDROCK_MODEL_ID unset) -------------------------------------------------------


def test_without_a_model_id_summarize_video_writes_an_extractive_summary(aws_state):
    result = summarize_handler(workflow_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive" and result["fallback_reason"] is None
    assert 2 <= len(re.split(r"(?<=[.!?])\s+", result["summary"])) <= 3
    assert storage.get_json(OUTPUT_BUCKET, result["key"])["title"] == result["title"]
    (event,) = EventLog("videoflow-events").read(JOB_ID)
    assert event.type == "summary.written"


# --- the step with Bedrock ---------------------------------------------------------------------------


def test_the_recorded_summary_becomes_the_videos_title_and_summary(bedrock):
    fake = bedrock(recorded("summary"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert fake.requests[0]["toolConfig"]["toolChoice"] == {"tool": {"name": "submit_summary"}}
    assert result["summarizer"] == "bedrock"
    assert result["title"] == "Baking a sourdough loaf from scratch"
    assert result["summary"].count(". ") == 2
    (called,) = events("model.called")
    assert called.detail["purpose"] == "summarize_video" and called.detail["input_tokens"] == 1_611
    assert storage.get_json(OUTPUT_BUCKET, result["key"])["summarizer"] == "bedrock"


def test_a_malformed_summary_answer_falls_back_to_the_extractive_summary(bedrock):
    bedrock(recorded("malformed"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive"
    assert "MODEL_ANSWER_INVALID" in result["fallback_reason"]


def test_a_summary_the_model_declines_falls_back_to_the_extractive_summary_with_the_reason(bedrock):
    response = recorded("malformed")
    response["stopReason"] = "guardrail_intervened"
    response["output"]["message"]["content"] = [{"text": "Sorry, the model cannot answer this question."}]
    bedrock(response)

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive"
    assert "MODEL_REFUSED" in result["fallback_reason"] and "guardrail_intervened" in result["fallback_reason"]


def test_a_throttled_summary_call_falls_back_to_the_extractive_summary(bedrock):
    from botocore.exceptions import ClientError

    bedrock(ClientError({"Error": {"Code": "ThrottlingException", "Message": "Too many requests, please wait."},
                         "ResponseMetadata": {"HTTPStatusCode": 429}}, "Converse"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive"
    assert "MODEL_CALL_FAILED" in result["fallback_reason"] and "ThrottlingException" in result["fallback_reason"]


# --- chapters ----------------------------------------------------------------------------------------


def _with_search_index(state: dict) -> dict:
    """The state as SummarizeVideo gets it after KeyframeInference: the job's index (real MiniLM vectors) in S3."""
    spoken = transcript(talk_words())
    key = f"analysis/{JOB_ID}/index.json"
    storage.put_json(OUTPUT_BUCKET, key, index_document(JOB_ID, spoken.sentences))
    return {**state, "search_index": {"bucket": OUTPUT_BUCKET, "key": key, "segment_count": 15, "model": "minilm"}}


def test_the_local_chapters_come_from_the_search_index_vectors_and_stay_out_of_the_workflow_state(aws_state):
    result = summarize_handler(_with_search_index(workflow_state()), LocalLambdaContext("summarize_video"))

    written = storage.get_json(OUTPUT_BUCKET, result["key"])
    chapters = written["chapters"]
    assert written["chapterer"] == result["chapterer"] == "embeddings"
    assert result["chapter_count"] == len(chapters) >= 2 and "chapters" not in result
    assert chapters[0]["start_s"] == 0 and chapters[-1]["end_s"] == 90.0
    assert all(a["end_s"] == b["start_s"] for a, b in zip(chapters, chapters[1:], strict=False))
    starts = {sentence.start_s for sentence in transcript(talk_words()).sentences} | {30.3, 62.0}
    assert all(chapter["start_s"] in starts for chapter in chapters[1:])  # at a sentence start or a cut
    (event,) = EventLog("videoflow-events").read(JOB_ID)
    assert (event.detail["chapterer"], event.detail["chapters"]) == ("embeddings", len(chapters))


def test_the_models_chapters_are_kept_in_order_on_the_nearest_sentence_start_and_unusable_ones_left_out(bedrock):
    bedrock(recorded("summary_chapters"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    chapters = storage.get_json(OUTPUT_BUCKET, result["key"])["chapters"]
    assert (result["summarizer"], result["chapterer"]) == ("bedrock", "bedrock")
    assert [(c["start_s"], c["end_s"]) for c in chapters] == [(0.0, 17.7), (17.7, 49.7), (49.7, 62.5), (62.5, 120.0)]
    assert chapters[0] == {"start_s": 0.0, "end_s": 17.7, "title": "Ingredients and the starter",
                           "summary": "The baker introduces the loaf, its four ingredients and feeding the starter."}
    assert not events("judgment.fallback")


def test_an_answer_without_chapters_keeps_the_models_summary_and_falls_back_to_local_chapters(bedrock):
    bedrock(recorded("summary"))  # a title and a summary, no chapters

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    written = storage.get_json(OUTPUT_BUCKET, result["key"])
    assert (result["summarizer"], result["chapterer"]) == ("bedrock", "words")  # no index in this state
    assert "MODEL_ANSWER_INVALID" in written["chapters_fallback_reason"] and len(written["chapters"]) >= 1
    (fallback,) = events("judgment.fallback")
    assert fallback.detail["purpose"] == "chapter_video"
