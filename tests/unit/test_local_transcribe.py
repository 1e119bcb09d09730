"""The local Amazon Transcribe stand-in: real speech in S3 -> Transcribe's output JSON in S3, through the API shapes.

The speech is real read speech with a known text: LibriVox's "Sense and Sensibility" as
shipped in Debian's pocketsphinx-testdata package (apt-get install pocketsphinx-testdata).
"""

import socket
from pathlib import Path

import pytest

from bench.diarization import made_conversation
from bench.transcript_wer import joined_clip, librivox_clips, normalize, word_errors, write_wav
from containers.transcribe.engine import RecognizedSegment, RecognizedWord
from lambdas.build_captions.logic import CaptionsRequest, build_captions
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.normalize_transcript.logic import NormalizeTranscriptRequest, normalize_transcript
from tests.media import silent_wav
from videoflow.local.transcribe import (
    REASON_FORMAT_MISMATCH,
    REASON_MEDIA_MISSING,
    BadRequestException,
    ConflictException,
    LocalTranscribe,
    NotFoundException,
    WhisperEngine,
    split_punctuation,
    transcribe_output,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
BUCKET = "videoflow-output"
JOB_ID = "job-local-transcribe-1"
AUDIO_KEY = f"derivatives/{JOB_ID}/audio/audio.wav"
OUTPUT_KEY = f"transcripts/{JOB_ID}/transcribe.json"


@pytest.fixture(scope="module")
def clips():
    if not (TESTDATA / "librivox" / "transcription").is_file():
        pytest.fail("The read-speech clips are missing: apt-get install pocketsphinx-testdata (make tools does it).")
    return librivox_clips(TESTDATA)


@pytest.fixture(scope="module")
def service():
    """One stand-in for the module, so the model loads once; jobs run in the background as in the service."""
    transcribe = LocalTranscribe()
    yield transcribe
    transcribe.shutdown()


def _request(name: str, key: str = AUDIO_KEY, **overrides) -> dict:
    return {
        "TranscriptionJobName": name,
        "Media": {"MediaFileUri": f"s3://{BUCKET}/{key}"},
        "MediaFormat": "wav",
        "LanguageCode": "en-US",
        "OutputBucketName": BUCKET,
        "OutputKey": OUTPUT_KEY,
        **overrides,
    }


def _upload(s3, path: Path, key: str = AUDIO_KEY) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def _transcribe(service: LocalTranscribe, name: str, **overrides) -> dict:
    service.start_transcription_job(_request(name, **overrides))
    return service.wait(name, timeout_s=120)["TranscriptionJob"]


# --- speech ----------------------------------------------------------------------------


def test_given_read_speech_when_the_job_starts_then_it_answers_in_progress_like_the_service(aws_state, clips,
                                                                                             service):
    _upload(aws_state, clips[0].path)

    started = service.start_transcription_job(_request("speech-started"))["TranscriptionJob"]
    service.wait("speech-started")

    assert started["TranscriptionJobStatus"] == "IN_PROGRESS"
    assert {"TranscriptionJobName", "LanguageCode", "Media", "MediaFormat", "CreationTime", "StartTime"} <= set(started)
    assert "Transcript" not in started and "CompletionTime" not in started


def test_given_read_speech_in_s3_when_transcribed_then_the_job_completes_with_the_transcript_file_uri(aws_state, clips,
                                                                                                      service):
    _upload(aws_state, clips[0].path)

    job = _transcribe(service, "speech-completed")

    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["Transcript"] == {"TranscriptFileUri": f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{OUTPUT_KEY}"}
    assert (job["MediaFormat"], job["MediaSampleRateHertz"], job["LanguageCode"]) == ("wav", 16000, "en-US")
    assert "FailureReason" not in job and job["CompletionTime"] >= job["StartTime"]


def test_given_read_speech_when_transcribed_then_the_output_has_amazon_transcribes_shape(aws_state, clips, service):
    _upload(aws_state, clips[0].path)
    _transcribe(service, "speech-shape")

    output = storage.get_json(BUCKET, OUTPUT_KEY)

    assert (output["jobName"], output["status"], output["results"]["language_code"]) == ("speech-shape", "COMPLETED",
                                                                                         "en-US")
    items = output["results"]["items"]
    assert [item["id"] for item in items] == list(range(len(items)))
    assert {item["type"] for item in items} == {"pronunciation", "punctuation"}
    for item in items:
        [alternative] = item["alternatives"]
        assert 0 <= float(alternative["confidence"]) <= 1 and alternative["content"]
        if item["type"] == "pronunciation":
            assert isinstance(item["start_time"], str) and float(item["start_time"]) <= float(item["end_time"])
        else:
            assert "start_time" not in item and alternative["content"] in ".,?!;:"
    segments = output["results"]["audio_segments"]
    assert [i for segment in segments for i in segment["items"]] == [item["id"] for item in items]
    assert output["results"]["transcripts"][0]["transcript"] == " ".join(segment["transcript"] for segment in segments)


def test_given_read_speech_when_transcribed_then_the_words_and_their_times_follow_the_reading(aws_state, clips,
                                                                                              service):
    clip = clips[0]
    _upload(aws_state, clip.path)
    _transcribe(service, "speech-words")

    output = storage.get_json(BUCKET, OUTPUT_KEY)

    spoken = [item for item in output["results"]["items"] if item["type"] == "pronunciation"]
    starts = [float(item["start_time"]) for item in spoken]
    assert starts == sorted(starts) and 0 <= starts[0] < 1.0 and 6.0 < float(spoken[-1]["end_time"]) <= 7.2
    errors = word_errors(normalize(clip.reference), normalize(output["results"]["transcripts"][0]["transcript"]))
    assert errors["errors"] / errors["reference_words"] <= 0.15, output["results"]["transcripts"]


# --- no speech, bad media, API errors --------------------------------------------------


def test_given_silence_when_transcribed_then_the_job_completes_with_an_empty_transcript(aws_state, service, tmp_path):
    _upload(aws_state, silent_wav(tmp_path / "silence.wav"))

    job = _transcribe(service, "silence")

    output = storage.get_json(BUCKET, OUTPUT_KEY)
    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert output["results"]["transcripts"] == [{"transcript": ""}]
    assert output["results"]["items"] == [] and output["results"]["audio_segments"] == []


def test_given_missing_media_when_transcribed_then_the_job_fails_with_the_services_reason(aws_state, service):
    job = _transcribe(service, "missing-media", Media={"MediaFileUri": f"s3://{BUCKET}/derivatives/none/audio.wav"})

    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"] == REASON_MEDIA_MISSING
    assert "Transcript" not in job
    assert storage.list_keys(BUCKET, "transcripts/") == []


def test_given_a_media_format_that_does_not_match_the_bytes_when_transcribed_then_the_job_fails(aws_state, service,
                                                                                                tmp_path):
    _upload(aws_state, silent_wav(tmp_path / "silence.wav"))

    job = _transcribe(service, "format-mismatch", MediaFormat="mp3")

    assert (job["TranscriptionJobStatus"], job["FailureReason"]) == ("FAILED", REASON_FORMAT_MISMATCH)


def test_given_a_job_name_in_use_when_started_again_then_conflict_exception(aws_state, service, tmp_path):
    _upload(aws_state, silent_wav(tmp_path / "silence.wav"))
    _transcribe(service, "twice")

    with pytest.raises(ConflictException, match="already exists") as raised:
        service.start_transcription_job(_request("twice"))

    assert raised.value.step_functions_error == "Transcribe.ConflictException"


def test_given_an_unknown_job_name_when_got_then_not_found_exception(service):
    with pytest.raises(NotFoundException) as raised:
        service.get_transcription_job({"TranscriptionJobName": "never-started"})

    assert raised.value.step_functions_error == "Transcribe.NotFoundException"


@pytest.mark.parametrize(("change", "message"), [
    ({"LanguageCode": "de-DE"}, "English only"),
    ({"Settings": {"ShowAlternatives": True, "MaxAlternatives": 2}}, "Settings.MaxAlternatives, "
                                                                      "Settings.ShowAlternatives: not implemented"),
    ({"Settings": {"ShowSpeakerLabels": True}}, "MaxSpeakerLabels is required"),
    ({"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 31}}, "above maximum 30"),
    ({"TranscriptionJobName": "has spaces"}, "regular expression"),
    ({"Media": {}}, "MediaFileUri is required"),
    ({"LanguageCode": None}, "English only"),
    ({"OutputBucketName": None}, "OutputBucketName"),
])
def test_given_a_request_the_stand_in_cannot_honour_when_started_then_bad_request_exception(service, change, message):
    request = {key: value for key, value in {**_request("bad-request"), **change}.items() if value is not None}

    with pytest.raises(BadRequestException, match=message) as raised:
        service.start_transcription_job(request)

    assert raised.value.step_functions_error == "Transcribe.BadRequestException"


def test_given_no_network_when_a_fresh_engine_transcribes_then_the_model_loads_from_the_package(aws_state, clips,
                                                                                                monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _upload(aws_state, clips[4].path)
    offline = LocalTranscribe(engine=WhisperEngine(), background=False)

    offline.start_transcription_job(_request("offline"))

    job = offline.get_transcription_job({"TranscriptionJobName": "offline"})["TranscriptionJob"]
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")


# --- the transcript branch, end to end at unit level -----------------------------------


def test_given_the_stand_ins_output_when_normalized_and_captioned_then_words_sentences_and_captions_follow(
    aws_state, clips, service, tmp_path,
):
    clip = joined_clip(clips, tmp_path)  # five read sentences with 1.5 s of silence between them
    _upload(aws_state, clip.path)
    job = _transcribe(service, f"vf-{JOB_ID}-1")
    state = {"job_id": JOB_ID, "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "size_bytes": 1},
             "transcription": {"name": job["TranscriptionJobName"], "polls": 1, "status": {"job": job}}}
    events = EventLog("videoflow-events")

    ref = normalize_transcript(NormalizeTranscriptRequest.model_validate(state), BUCKET, events)
    captions = build_captions(CaptionsRequest.model_validate({**state, "transcript": ref.model_dump()}), BUCKET,
                              events)

    transcript = storage.get_json(BUCKET, ref.key)
    assert ref.word_count >= 65 and ref.sentence_count >= 5 and ref.language == "en-US"
    assert transcript["sentences"][0]["text"].startswith("And Mr. John Dashwood")
    assert transcript["sentences"][-1]["text"].endswith("amiable himself.")
    assert captions.cue_count >= 5 and captions.vtt_key == f"captions/{JOB_ID}/captions.vtt"


# --- who spoke when --------------------------------------------------------------------


def _write_wav(path: Path, samples) -> Path:
    return write_wav(path, (samples.clip(-1, 1) * 32767).astype("<i2").tobytes())


def test_given_two_real_speakers_when_transcribed_with_speaker_labels_then_two_speakers_hold_their_own_words(
    aws_state, clips, service, tmp_path,
):
    # 10 s: the CMU "cards" speaker, the LibriVox reader, the cards speaker again (0.4 s of silence between).
    samples, reference = made_conversation([("cards", 1), ("reader", 2), ("cards", 3)])
    _upload(aws_state, _write_wav(tmp_path / "two.wav", samples))
    job = _transcribe(service, "speakers", Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 4})
    state = {"job_id": JOB_ID, "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "size_bytes": 1},
             "transcription": {"name": job["TranscriptionJobName"], "polls": 1, "status": {"job": job}}}

    output = storage.get_json(BUCKET, OUTPUT_KEY)
    ref = normalize_transcript(NormalizeTranscriptRequest.model_validate(state), BUCKET, EventLog("videoflow-events"))
    words = storage.get_json(BUCKET, ref.key)["words"]

    assert job["Settings"]["ShowSpeakerLabels"] is True and job["Settings"]["MaxSpeakerLabels"] == 4
    labels = output["results"]["speaker_labels"]
    assert labels["speakers"] == 2 and [s["speaker_label"] for s in labels["segments"]] == ["spk_0", "spk_1", "spk_0"]
    spoken = [item for item in output["results"]["items"] if item["type"] == "pronunciation"]
    assert [i["speaker_label"] for i in spoken] == [i["speaker_label"] for s in labels["segments"] for i in s["items"]]
    truth = [next(name for start, end, name in reference if start - 0.3 <= (w["start_s"] + w["end_s"]) / 2 <= end + 0.3)
             for w in words]
    right = sum((name == "cards") == (w["speaker"] == "spk_0") for name, w in zip(truth, words, strict=True))
    assert len(words) >= 15 and right >= 0.8 * len(words), list(zip(truth, [w["speaker"] for w in words], strict=True))


def test_given_words_with_speakers_when_written_then_transcribes_documented_speaker_labels_shape():
    words = [RecognizedWord("Hello.", 0.5, 0.9, 0.9, speaker=3), RecognizedWord("Hi", 1.2, 1.4, 0.8, speaker=1),
             RecognizedWord("there.", 1.4, 1.7, 0.9, speaker=1), RecognizedWord("Bye.", 2.0, 2.3, 0.9, speaker=3)]

    document = transcribe_output("job", "en-US", [RecognizedSegment(tuple(words))], speaker_labels=True)

    results = document["results"]
    assert [(i["alternatives"][0]["content"], i.get("speaker_label")) for i in results["items"]] == [
        ("Hello", "spk_0"), (".", None), ("Hi", "spk_1"), ("there", "spk_1"), (".", None), ("Bye", "spk_0"), (".", None)]
    assert results["speaker_labels"] == {"channel_label": "ch_0", "speakers": 2, "segments": [
        {"start_time": "0.500", "speaker_label": "spk_0", "end_time": "0.900",
         "items": [{"start_time": "0.500", "speaker_label": "spk_0", "end_time": "0.900"}]},
        {"start_time": "1.200", "speaker_label": "spk_1", "end_time": "1.700",
         "items": [{"start_time": "1.200", "speaker_label": "spk_1", "end_time": "1.400"},
                   {"start_time": "1.400", "speaker_label": "spk_1", "end_time": "1.700"}]},
        {"start_time": "2.000", "speaker_label": "spk_0", "end_time": "2.300",
         "items": [{"start_time": "2.000", "speaker_label": "spk_0", "end_time": "2.300"}]},
    ]}
    assert "speaker_labels" not in transcribe_output("job", "en-US", [RecognizedSegment(tuple(words))])["results"]


def test_given_words_with_punctuation_when_split_then_only_transcribes_marks_become_items():
    assert split_punctuation("them.") == ("them", ["."])
    assert split_punctuation('"Really?"') == ("Really", ["?"])
    assert split_punctuation("Mr.") == ("Mr.", [])
    assert split_punctuation("so...") == ("so", ["."])
