"""keyframe_inference: transcript sentences and keyframe descriptions become the job's search index.

The embedder is the real model, in process (LocalEmbedder, loaded once per test session),
registered through the same seam the local runner uses (lambdas.common.embedding.register).
"""

import io
import json

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from lambdas.common import embedding, storage
from lambdas.common.embedders import NOT_READY_WAIT_S, EmbeddingModelError, SageMakerEmbedder
from lambdas.common.events import EventLog
from lambdas.common.models import MediaInfo, SourceObject, Transcript, Word
from lambdas.common.search import EmbeddingFailed, load_index, search_text
from lambdas.common.sentences import sentences_from_words
from lambdas.keyframe_inference.handler import handler
from lambdas.keyframe_inference.logic import (
    MAX_SEGMENT_S,
    KeyframeInferenceRequest,
    describe_frame,
    keyframe_inference,
    shot_segments,
    speech_segments,
)
from videoflow.local.lambda_runtime import LocalLambdaContext
from videoflow.search import LocalEmbedder

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-keyframes-0001"
OUTPUT_BUCKET = "videoflow-output"
CONTEXT = LocalLambdaContext("keyframe_inference")

SENTENCES = [
    (0.5, "Welcome to the kitchen, today we bake sourdough bread."),
    (6.0, "First we mix flour, water and salt in a large bowl."),
    (13.0, "The dough rests overnight in the fridge to develop flavour."),
    (21.0, "Next week we will repair a flat tyre on a mountain bike."),
    (27.0, "Thanks for watching and see you soon."),
]
SHOTS = [(0.0, 12.0), (12.0, 25.0), (25.0, 32.0)]


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def registered(local_embedder):
    embedding.register(local_embedder)
    yield local_embedder
    embedding.register(None)


def _words(sentences=SENTENCES, seconds_per_word=0.4) -> list[Word]:
    words = []
    for start_s, text in sentences:
        for number, token in enumerate(text.split()):
            at = start_s + number * seconds_per_word
            words.append(Word(text=token, start_s=round(at, 3), end_s=round(at + seconds_per_word * 0.9, 3),
                              confidence=0.95))
    return words


def _transcript(words: list[Word]) -> Transcript:
    return Transcript(job_id=JOB_ID, language="en-US" if words else None, words=words,
                      sentences=sentences_from_words(words))


def _frames(count: int, *, faces_from: int = 0) -> list[dict]:
    return [{"index": i, "t_s": 2.0 * i, "key": f"derivatives/{JOB_ID}/frames/frame.{i:07d}.jpg",
             "shot_change_score": 0.1, "sharpness": 0.8, "brightness": 0.7,
             "faces": [{"x": 0.3, "y": 0.2, "w": 0.3, "h": 0.4, "score": 0.9}] if i >= faces_from else []}
            for i in range(count)]


def _shots(spans, frames) -> list[dict]:
    shots = []
    for start_s, end_s in spans:
        members = [f for f in frames if start_s <= f["t_s"] < end_s]
        keyframe = members[0] if members else None
        shots.append({"start_s": start_s, "end_s": end_s,
                      "first_frame": members[0]["index"] if members else None,
                      "last_frame": members[-1]["index"] if members else None,
                      "keyframe": {"index": keyframe["index"], "key": keyframe["key"], "t_s": keyframe["t_s"]}
                      if keyframe else None})
    return shots


def _media(duration_s: float) -> MediaInfo:
    return MediaInfo(container="mp4", duration_s=duration_s, size_bytes=1_000_000, video_codec="h264",
                     coded_width=1280, coded_height=720, width=1280, height=720, frame_rate=25.0,
                     has_audio=True, audio_codec="aac", audio_channels=1, audio_sample_rate_hz=16_000)


def _event(s3, *, words: list[Word], spans, frames: list[dict], duration_s: float) -> dict:
    """The workflow state after the Analysis Parallel state: its output is a list, one object per branch."""
    keys = {"transcript": f"transcripts/{JOB_ID}/transcript.json", "timeline": f"analysis/{JOB_ID}/timeline.json",
            "shots": f"analysis/{JOB_ID}/shots.json"}
    storage.put_json(OUTPUT_BUCKET, keys["transcript"], _transcript(words).model_dump(mode="json"))
    storage.put_json(OUTPUT_BUCKET, keys["timeline"], {"job_id": JOB_ID, "interval_s": 2.0, "frames": frames})
    storage.put_json(OUTPUT_BUCKET, keys["shots"], {"job_id": JOB_ID, "shots": _shots(spans, frames)})
    source = SourceObject(bucket="videoflow-ingest", key="uploads/bake.mp4", version_id="v1", size_bytes=1_000_000)
    return {
        "job_id": JOB_ID,
        "source": source.model_dump(mode="json"),
        "media": _media(duration_s).model_dump(mode="json"),
        "analysis": [
            {"transcript": {"bucket": OUTPUT_BUCKET, "key": keys["transcript"], "word_count": len(words),
                            "sentence_count": 5, "language": "en-US"},
             "captions": {"bucket": OUTPUT_BUCKET, "vtt_key": None, "srt_key": None, "cue_count": 0}},
            {"timeline": {"bucket": OUTPUT_BUCKET, "key": keys["timeline"], "frame_count": len(frames),
                          "faces_frames": 0},
             "shots": {"bucket": OUTPUT_BUCKET, "key": keys["shots"], "shot_count": len(spans)}},
        ],
    }


# --- segments (pure) -----------------------------------------------------------------------------

def test_each_sentence_is_one_speech_segment_with_its_times():
    segments = speech_segments(_transcript(_words()))

    assert [s["text"] for s in segments] == [text for _, text in SENTENCES]
    assert segments[0]["start_s"] == 0.5


def test_a_sentence_longer_than_thirty_seconds_is_cut_between_words_into_windows():
    # One 100-word sentence, a word every 0.7 s: 70 s of speech with no full stop.
    long_sentence = [(0.0, " ".join(f"word{i}" for i in range(100)) + ".")]
    words = _words(long_sentence, seconds_per_word=0.7)

    segments = speech_segments(_transcript(words))

    assert len(segments) == 3
    assert all(s["end_s"] - s["start_s"] <= MAX_SEGMENT_S for s in segments)
    assert " ".join(s["text"] for s in segments) == long_sentence[0][1]


def test_a_keyframe_description_names_the_shot_times_its_vision_signals_and_its_first_words():
    frames = _frames(16)
    words = _words()

    first = shot_segments(_shots(SHOTS, frames), {f["index"]: f for f in frames}, words)[0]

    assert first["text"].startswith("Shot 1 (0–12 s): 1 face, close-up, bright, sharp; says: \"Welcome to the kitchen,")
    assert (first["start_s"], first["end_s"]) == (0.0, 12.0)


def test_a_shot_without_speech_or_faces_is_still_described():
    frames = [{**f, "faces": [], "brightness": 0.1, "sharpness": 0.2} for f in _frames(4)]

    (segment,) = shot_segments(_shots([(0.0, 8.0)], frames), {f["index"]: f for f in frames}, [])

    assert segment["text"] == "Shot 1 (0–8 s): no faces, dark, blurry; no speech"


def test_describe_frame_puts_the_signals_in_words():
    assert describe_frame({"faces": [{"w": 0.1}, {"w": 0.1}], "brightness": 0.5, "sharpness": 0.45}) == [
        "2 faces", "evenly lit", "soft focus"]


def test_a_query_paraphrasing_a_sentence_finds_it_first(aws_state, registered):
    handler(_event(aws_state, words=_words(), spans=SHOTS, frames=_frames(16), duration_s=32.0), CONTEXT)
    index = load_index(OUTPUT_BUCKET, JOB_ID)

    moments = search_text(index, "fixing a punctured bicycle wheel", registered, k=3)

    assert "repair a flat tyre on a mountain bike" in moments[0].text
    assert moments[0].start_s <= 21.0 <= moments[0].end_s


def test_a_job_without_speech_is_indexed_by_its_shots_alone(aws_state, registered):
    event = _event(aws_state, words=[], spans=[(0.0, 6.0), (6.0, 12.0)], frames=_frames(6, faces_from=3),
                   duration_s=12.0)

    result = handler(event, CONTEXT)

    index = load_index(OUTPUT_BUCKET, JOB_ID)
    assert result["segment_count"] == 2
    assert [s.text for s in index.segments] == [
        "Shot 1 (0–6 s): no faces, bright, sharp; no speech",
        "Shot 2 (6–12 s): 1 face, close-up, bright, sharp; no speech",
    ]
    best = search_text(index, "a close-up of a person's face", registered, k=1, merge_gap_s=None)[0]
    assert best.start_s == 6.0


def test_a_job_with_no_words_and_one_shot_gets_an_index_of_one_segment(aws_state, registered):
    event = _event(aws_state, words=[], spans=[(0.0, 4.0)], frames=_frames(2), duration_s=4.0)

    result = handler(event, CONTEXT)

    assert result["segment_count"] == 1
    assert len(load_index(OUTPUT_BUCKET, JOB_ID)) == 1


def test_indexing_is_recorded_in_the_event_log(aws_state, registered):
    request = KeyframeInferenceRequest.model_validate(
        _event(aws_state, words=_words(), spans=SHOTS, frames=_frames(16), duration_s=32.0))

    keyframe_inference(request, OUTPUT_BUCKET, EventLog("videoflow-events"))

    (event,) = EventLog("videoflow-events").read(JOB_ID)
    assert event.type == "search.indexed" and event.step == "KeyframeInference"
    assert event.detail == {"segments": 8, "speech_segments": 5, "shot_segments": 3, "model": registered.model,
                            "index_key": f"analysis/{JOB_ID}/index.json", "embedded_on": "endpoint",
                            "waited_for_copy_s": 0.0}


def test_the_analysis_state_may_also_arrive_already_merged(aws_state, registered):
    event = _event(aws_state, words=_words(), spans=SHOTS, frames=_frames(16), duration_s=32.0)
    event["analysis"] = {key: value for branch in event["analysis"] for key, value in branch.items()}

    assert handler(json.loads(json.dumps(event)), CONTEXT)["segment_count"] == 8


# --- the endpoint's faults (429 not ready, 424 model error, throttling), injected into sagemaker-runtime ---------------
# SageMakerEmbedder is the embedder a deployed keyframe_inference (and search_api) uses; here it talks to
# SageMakerRuntimeFaultsFake instead of the endpoint.


def _client_error(code: str, status: int, message: str, **modeled) -> ClientError:
    """An InvokeEndpoint error as botocore raises it (modeled members such as OriginalStatusCode at the top)."""
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status},
                        **modeled}, "InvokeEndpoint")


NOT_READY = _client_error("ModelNotReadyException", 429, "Model is not ready yet; its instances are being provisioned.")
THROTTLED = _client_error("ThrottlingException", 400, "Rate exceeded")
LOG_STREAM = ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/videoflow-embeddings:"
              "log-stream:AllTraffic/i-0abc")


def _model_error(container_status: int, message: str) -> ClientError:
    return _client_error("ModelError", 424, f"Received client error ({container_status}) from primary with message "
                         f'"{message}"', OriginalStatusCode=container_status, OriginalMessage=message,
                         LogStreamArn=LOG_STREAM)


class SageMakerRuntimeFaultsFake:
    """sagemaker-runtime for the embedding endpoint: each call raises the next scripted fault, then the endpoint
    answers with the real model's embeddings in the /invocations response shape."""

    def __init__(self, model: LocalEmbedder, faults: list[ClientError]):
        self.model, self.faults, self.calls = model, list(faults), 0

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Accept: str, Body: bytes) -> dict:  # noqa: N803
        self.calls += 1
        if self.faults:
            raise self.faults.pop(0)
        texts = json.loads(Body)["inputs"]
        raw = json.dumps({"model": self.model.model, "dim": self.model.dim,
                          "embeddings": self.model.embed(texts).tolist(), "truncated": []}).encode()
        return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}


@pytest.fixture
def endpoint(local_embedder):
    """Register a SageMakerEmbedder over the fake endpoint with `faults`; its waits are recorded, not slept."""
    def with_faults(*faults: ClientError) -> tuple[SageMakerRuntimeFaultsFake, list[float]]:
        runtime, waits = SageMakerRuntimeFaultsFake(local_embedder, list(faults)), []
        embedding.register(SageMakerEmbedder("videoflow-embeddings", client=runtime, sleep=waits.append))
        return runtime, waits

    yield with_faults
    embedding.register(None)


def _step_event(aws_state) -> dict:
    return json.loads(json.dumps(_event(aws_state, words=_words(), spans=SHOTS, frames=_frames(16), duration_s=32.0)))


def test_a_cold_endpoint_answering_not_ready_is_waited_for_with_backoff_and_the_index_is_built(aws_state, endpoint):
    runtime, waits = endpoint(NOT_READY, NOT_READY, NOT_READY)

    assert handler(_step_event(aws_state), CONTEXT)["segment_count"] == 8
    assert runtime.calls == 4
    assert waits == [0.5, 1.0, 2.0]  # backing off, well inside the bound


def test_an_endpoint_whose_copy_goes_away_mid_way_is_left_for_the_cpu_and_the_event_says_why(aws_state, endpoint):
    """Still not ready after the client's bound (the copy was scaled in under the job): the function embeds on its
    own CPU with the same model instead of failing the job."""
    runtime, waits = endpoint(*[NOT_READY] * 20)

    assert handler(_step_event(aws_state), CONTEXT)["embedded_on"] == "cpu"

    assert sum(waits) <= NOT_READY_WAIT_S and max(waits) <= 4.0 and runtime.calls == len(waits) + 1
    (event,) = EventLog("videoflow-events").read(JOB_ID)
    assert event.detail["embedded_on"] == "cpu" and "still not ready after" in event.detail["fallback_reason"]


def test_a_model_error_from_the_container_is_not_retried_and_says_what_the_model_answered(aws_state, endpoint):
    runtime, _ = endpoint(_model_error(400, "inputs[3] is not a string"))

    with pytest.raises(EmbeddingModelError) as failed:
        handler(_step_event(aws_state), CONTEXT)

    # Its own name: the workflow retries EmbeddingFailed by name, so this fails the job at once, with this reason.
    assert type(failed.value).__name__ == "EmbeddingModelError" and runtime.calls == 1
    assert str(failed.value) == ("endpoint videoflow-embeddings: ModelError: the model answered 400: "
                                 f"inputs[3] is not a string (log stream {LOG_STREAM})")


def test_a_container_that_fails_with_a_5xx_or_a_throttled_endpoint_is_a_transient_embedding_failure(aws_state, endpoint):
    endpoint(_model_error(503, "busy"))
    with pytest.raises(EmbeddingFailed) as busy:
        handler(_step_event(aws_state), CONTEXT)
    endpoint(THROTTLED)  # what is left after botocore's own retries
    with pytest.raises(EmbeddingFailed) as throttled:
        handler(_step_event(aws_state), CONTEXT)

    assert type(busy.value).__name__ == type(throttled.value).__name__ == "EmbeddingFailed"
    assert busy.value.status == 503 and "ThrottlingException" in str(throttled.value)


def test_the_endpoint_client_backs_off_on_throttling_before_the_step_sees_it(aws_state):
    from lambdas.common import aws

    retries = aws.client("sagemaker-runtime").meta.config.retries  # the client SageMakerEmbedder uses in AWS

    assert retries["mode"] == "standard"  # ThrottlingException and 5xx are retried with backoff
    assert retries["total_max_attempts"] == 6
