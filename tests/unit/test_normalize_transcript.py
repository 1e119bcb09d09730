"""normalize_transcript: Amazon Transcribe's output (real shapes in tests/events) -> the canonical transcript."""

import copy
import json
from pathlib import Path

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.normalize_transcript.handler import handler
from lambdas.normalize_transcript.logic import (
    NormalizeTranscriptRequest,
    TranscriptionFailed,
    TranscriptionTimedOut,
    TranscriptMissing,
    normalize_transcript,
    parse_s3_uri,
    transcript_from_transcribe,
)
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENTS = Path(__file__).resolve().parent.parent / "events"
JOB_ID = "job-transcript-0001"
OUTPUT_BUCKET = "videoflow-output"
TRANSCRIBE_KEY = f"transcripts/{JOB_ID}/transcribe.json"
TRANSCRIBE_JOB = f"vf-{JOB_ID}-0d9a5c1e"
CONTEXT = LocalLambdaContext("normalize_transcript")


def _fixture(name: str) -> dict:
    return json.loads((EVENTS / f"transcribe_{name}.json").read_text())


def _one_speaker():
    return transcript_from_transcribe(JOB_ID, _fixture("one_speaker"))


def _two_speakers():
    return transcript_from_transcribe(JOB_ID, _fixture("two_speakers"))


def _state(status: str = "COMPLETED", polls: int = 3, audio: bool = True, **job) -> dict:
    """The workflow state as the Transcribed? choice hands it to NormalizeTranscript."""
    state = {
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "version_id": "v1", "etag": "e",
                   "size_bytes": 1000},
        "derivatives": {
            "proxy": {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/proxy/proxy.mp4", "width": 960,
                      "height": 540},
            "audio": {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/audio/audio.wav"} if audio else None,
            "frames": {"bucket": OUTPUT_BUCKET, "prefix": f"derivatives/{JOB_ID}/frames/", "count": 3,
                       "interval_s": 2},
        },
    }
    if audio:
        description = {
            "TranscriptionJobName": TRANSCRIBE_JOB,
            "TranscriptionJobStatus": status,
            "LanguageCode": "en-US",
            "MediaFormat": "wav",
            "Media": {"MediaFileUri": f"s3://{OUTPUT_BUCKET}/derivatives/{JOB_ID}/audio/audio.wav"},
            "CreationTime": "2026-11-20T10:00:00.000Z",
            **job,
        }
        if status == "COMPLETED":
            description["Transcript"] = {
                "TranscriptFileUri": f"https://s3.us-east-1.amazonaws.com/{OUTPUT_BUCKET}/{TRANSCRIBE_KEY}"
            }
        state["transcription"] = {"name": TRANSCRIBE_JOB, "polls": polls, "status": {"job": description}}
    return state


def _normalize(state: dict):
    return normalize_transcript(NormalizeTranscriptRequest.model_validate(state), OUTPUT_BUCKET,
                                EventLog("videoflow-events"))


# --- Transcribe items -> words ---------------------------------------------------------


def test_given_punctuation_items_when_normalized_then_each_attaches_to_the_word_before_it():
    words = [word.text for word in _one_speaker().words]

    assert words[:9] == ["Welcome", "to", "VideoFlow.", "This", "talk", "covers", "serverless", "video",
                         "pipelines,"]
    assert "." not in words and "," not in words and "ready?" in words


def test_given_string_times_and_confidences_when_normalized_then_they_become_seconds_and_fractions():
    first = _one_speaker().words[0]

    assert (first.start_s, first.end_s, first.confidence) == (0.64, 0.99, 0.999)


def test_given_a_transcribe_output_when_normalized_then_every_pronunciation_item_is_one_word_in_order():
    document = _fixture("one_speaker")
    spoken = [item for item in document["results"]["items"] if item["type"] == "pronunciation"]

    words = _one_speaker().words

    assert len(words) == len(spoken) == 20
    assert [word.start_s for word in words] == sorted(word.start_s for word in words)


def test_given_the_output_names_its_language_when_normalized_then_the_transcript_keeps_it():
    assert _one_speaker().language == "en-US"


def test_given_an_output_without_language_code_when_normalized_then_the_requested_language_is_used():
    document = _fixture("one_speaker")
    del document["results"]["language_code"]

    assert transcript_from_transcribe(JOB_ID, document, "en-GB").language == "en-GB"


# --- sentences -------------------------------------------------------------------------


def test_given_periods_and_question_marks_when_normalized_then_sentences_end_there():
    sentences = [sentence.text for sentence in _one_speaker().sentences]

    assert sentences[:3] == ["Welcome to VideoFlow.", "This talk covers serverless video pipelines, step by step.",
                             "Are you ready?"]


def test_given_a_pause_over_one_and_a_half_seconds_without_punctuation_when_normalized_then_the_sentence_splits():
    sentences = _one_speaker().sentences

    assert [sentence.text for sentence in sentences[3:]] == ["Let's begin with", "the upload"]
    assert (sentences[3].end_s, sentences[4].start_s) == (10.52, 12.7)


def test_given_sentences_when_normalized_then_word_indices_and_times_match_their_words():
    transcript = _one_speaker()

    for sentence in transcript.sentences:
        span = transcript.words[sentence.first_word:sentence.last_word + 1]
        assert sentence.text == " ".join(word.text for word in span)
        assert (sentence.start_s, sentence.end_s) == (span[0].start_s, span[-1].end_s)
    assert [s.first_word for s in transcript.sentences[1:]] == [s.last_word + 1 for s in transcript.sentences[:-1]]
    assert transcript.sentences[-1].last_word == len(transcript.words) - 1


def test_given_mr_followed_by_a_period_item_when_normalized_then_the_sentence_goes_on():
    document = {"results": {"items": [
        {"id": 0, "type": "pronunciation", "start_time": "0.1", "end_time": "0.4",
         "alternatives": [{"confidence": "0.99", "content": "Mr"}]},
        {"id": 1, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}]},
        {"id": 2, "type": "pronunciation", "start_time": "0.4", "end_time": "0.9",
         "alternatives": [{"confidence": "0.99", "content": "Dashwood"}]},
        {"id": 3, "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}]},
    ]}}

    assert [s.text for s in transcript_from_transcribe(JOB_ID, document).sentences] == ["Mr. Dashwood."]


# --- speakers --------------------------------------------------------------------------


def test_given_a_diarized_output_when_normalized_then_each_word_keeps_its_speaker():
    words = _two_speakers().words

    assert [(word.text, word.speaker) for word in words[6:9]] == [("hour.", "spk_0"), ("Sorry", "spk_1"),
                                                                  ("about", "spk_1")]


def test_given_the_speaker_changes_without_punctuation_when_normalized_then_a_new_sentence_starts():
    sentences = _two_speakers().sentences

    assert [(s.speaker, s.text) for s in sentences] == [
        ("spk_0", "I've been on hold for an hour."),
        ("spk_1", "Sorry about that."),
        ("spk_0", "No problem"),
        ("spk_1", "Thanks for waiting."),
    ]


def test_given_an_older_output_with_speakers_only_in_speaker_labels_when_normalized_then_times_match_them():
    document = _fixture("two_speakers")
    for item in document["results"]["items"]:
        item.pop("speaker_label", None)

    words = transcript_from_transcribe(JOB_ID, document).words

    assert [word.speaker for word in words] == [word.speaker for word in _two_speakers().words]


# --- empty transcripts -----------------------------------------------------------------


def test_given_transcribe_heard_no_speech_when_normalized_then_the_transcript_has_zero_words(aws_state):
    storage.put_json(OUTPUT_BUCKET, TRANSCRIBE_KEY, {
        "jobName": TRANSCRIBE_JOB, "accountId": "111122223333", "status": "COMPLETED",
        "results": {"language_code": "en-US", "transcripts": [{"transcript": ""}], "items": [], "audio_segments": []},
    })

    ref = _normalize(_state())

    assert (ref.word_count, ref.sentence_count, ref.language) == (0, 0, "en-US")
    assert storage.get_json(OUTPUT_BUCKET, ref.key)["words"] == []


def test_given_a_source_without_audio_when_normalized_then_an_empty_transcript_is_written_not_a_failure(aws_state):
    ref = _normalize(_state(audio=False))

    assert (ref.word_count, ref.sentence_count, ref.language) == (0, 0, None)
    assert storage.get_json(OUTPUT_BUCKET, ref.key) == {"job_id": JOB_ID, "language": None, "words": [],
                                                        "sentences": [], "unavailable_reason": None}
    [event] = EventLog("videoflow-events").read(JOB_ID)
    assert (event.type, event.detail["words"], event.detail["reason"]) == ("transcript.normalized", 0,
                                                                           "The source has no audio.")


# --- the step against S3 ---------------------------------------------------------------


def test_given_a_completed_job_when_the_handler_runs_then_the_canonical_transcript_is_stored_by_job(aws_state):
    storage.put_json(OUTPUT_BUCKET, TRANSCRIBE_KEY, _fixture("one_speaker"))

    answer = handler(_state(), CONTEXT)

    assert answer == {"bucket": OUTPUT_BUCKET, "key": f"transcripts/{JOB_ID}/transcript.json", "word_count": 20,
                      "sentence_count": 5, "language": "en-US", "unavailable_reason": None}
    stored = storage.get_json(OUTPUT_BUCKET, answer["key"])
    assert stored["job_id"] == JOB_ID and stored["language"] == "en-US"
    assert stored["words"][2] == {"text": "VideoFlow.", "start_s": 1.13, "end_s": 1.78, "confidence": 0.982,
                                  "speaker": None}
    assert stored["sentences"][0] == {"text": "Welcome to VideoFlow.", "start_s": 0.64, "end_s": 1.78,
                                      "first_word": 0, "last_word": 2, "speaker": None}


def test_given_a_completed_job_when_normalized_then_a_transcript_normalized_event_is_logged(aws_state):
    storage.put_json(OUTPUT_BUCKET, TRANSCRIBE_KEY, _fixture("two_speakers"))

    _normalize(_state())

    events = EventLog("videoflow-events").read(JOB_ID)
    assert [(event.type, event.step, event.detail) for event in events] == [(
        "transcript.normalized", "NormalizeTranscript",
        {"words": 15, "sentences": 4, "language": "en-US", "transcript_key": f"transcripts/{JOB_ID}/transcript.json"},
    )]


def test_given_an_explicit_output_location_when_normalized_then_it_is_read_from_there(aws_state):
    storage.put_json(OUTPUT_BUCKET, "elsewhere/out.json", _fixture("one_speaker"))
    state = _state(audio=False)
    state["transcribe_output"] = {"bucket": OUTPUT_BUCKET, "key": "elsewhere/out.json"}

    assert _normalize(state).word_count == 20


def test_given_a_failed_transcribe_job_when_normalized_then_transcription_failed_carries_its_reason(aws_state):
    state = _state("FAILED", FailureReason="Invalid sample rate for audio file.")

    with pytest.raises(TranscriptionFailed, match=f"{TRANSCRIBE_JOB} failed: Invalid sample rate for audio file"):
        _normalize(state)


def test_given_the_job_still_in_progress_when_polls_ran_out_then_transcription_timed_out(aws_state):
    with pytest.raises(TranscriptionTimedOut, match="still IN_PROGRESS after 480 polls"):
        _normalize(_state("IN_PROGRESS", polls=480))


def test_given_a_completed_job_whose_output_is_gone_when_normalized_then_transcript_missing(aws_state):
    with pytest.raises(TranscriptMissing, match=f"s3://{OUTPUT_BUCKET}/{TRANSCRIBE_KEY} does not exist"):
        _normalize(_state())


def test_given_audio_that_was_never_transcribed_when_normalized_then_transcript_missing(aws_state):
    state = _state()
    del state["transcription"]

    with pytest.raises(TranscriptMissing, match="was not sent to Amazon Transcribe"):
        _normalize(state)


def test_given_a_failure_when_the_handler_runs_then_the_error_name_is_the_class_the_workflow_sees(aws_state):
    with pytest.raises(TranscriptionFailed) as raised:
        handler(_state("FAILED", FailureReason="The media format provided does not match."), CONTEXT)

    assert type(raised.value).__name__ == "TranscriptionFailed" and raised.value.code == "TRANSCRIPTION_FAILED"


# --- no transcript, and why (transcript_required false: the workflow caught the branch's error) -------------------


def test_given_transcribe_refused_the_job_when_the_workflow_goes_on_without_it_then_the_empty_transcript_says_why(
        aws_state):
    state = _state()
    del state["transcription"]  # StartTranscription failed for good: there is no Transcribe job
    state["transcript_unavailable"] = {"Error": "Transcribe.LimitExceededException",
                                       "Cause": "You have exceeded the limit for concurrent transcription jobs. "
                                                "(Service: Transcribe, Status Code: 400, Request ID: 1a2b)"}

    ref = _normalize(state)

    reason = ("No transcript: Amazon Transcribe could not be used (Transcribe.LimitExceededException): You have "
              "exceeded the limit for concurrent transcription jobs. (Service: Transcribe, Status Code: 400, "
              "Request ID: 1a2b)")
    assert (ref.word_count, ref.sentence_count, ref.language, ref.unavailable_reason) == (0, 0, None, reason)
    assert storage.get_json(OUTPUT_BUCKET, ref.key) == {"job_id": JOB_ID, "language": None, "words": [],
                                                        "sentences": [], "unavailable_reason": reason}
    [event] = EventLog("videoflow-events").read(JOB_ID)
    assert (event.type, event.detail["reason"], event.detail["error"]) == (
        "transcript.unavailable", reason, "Transcribe.LimitExceededException")


def test_given_the_whisper_batch_job_failed_when_the_workflow_goes_on_without_it_then_the_reason_is_the_jobs(aws_state):
    state = _state()
    del state["transcription"]  # transcriber: whisper: TranscribeSpeech (batch:submitJob.sync) failed for good
    state["transcript_unavailable"] = {"Error": "States.TaskFailed", "Cause": json.dumps({
        "JobName": f"whisper-{JOB_ID}", "Status": "FAILED", "Attempts": [{"ExitCode": 3}],
        "StatusReason": "Essential container in task exited"})}

    assert _normalize(state).unavailable_reason == (
        f"No transcript: The whisper transcriber (Batch job whisper-{JOB_ID}) could not be used (States.TaskFailed): "
        "Essential container in task exited")


def test_given_a_failed_transcribe_job_caught_by_the_workflow_when_normalized_again_then_it_does_not_raise_again(
        aws_state):
    # NormalizeTranscript raised TranscriptionFailed; its Catch brings the same state back with the Lambda error.
    state = _state("FAILED", FailureReason="Invalid sample rate for audio file.")
    state["transcript_unavailable"] = {"Error": "TranscriptionFailed", "Cause": json.dumps({
        "errorType": "TranscriptionFailed", "stackTrace": ["..."],
        "errorMessage": f"Amazon Transcribe job {TRANSCRIBE_JOB} failed: Invalid sample rate for audio file."})}

    answer = handler(state, CONTEXT)

    assert answer["word_count"] == 0
    assert answer["unavailable_reason"] == (f"No transcript: Amazon Transcribe job {TRANSCRIBE_JOB} failed: "
                                            "Invalid sample rate for audio file.")


@pytest.mark.parametrize("uri", [
    "https://s3.us-east-1.amazonaws.com/videoflow-output/transcripts/j/transcribe.json",
    "https://videoflow-output.s3.us-east-1.amazonaws.com/transcripts/j/transcribe.json",
    "s3://videoflow-output/transcripts/j/transcribe.json",
])
def test_given_each_transcript_uri_form_when_parsed_then_bucket_and_key_are_found(uri):
    location = parse_s3_uri(uri)

    assert (location.bucket, location.key) == ("videoflow-output", "transcripts/j/transcribe.json")


def test_given_a_fixture_when_normalized_twice_then_the_input_document_is_not_modified():
    document = _fixture("one_speaker")
    before = copy.deepcopy(document)

    transcript_from_transcribe(JOB_ID, document)

    assert document == before
