"""keyframe_inference: embed a job's transcript and keyframe descriptions into its search index.

Runs after the Analysis Parallel state, whose two branches left the transcript, the frame
timeline and the shot list in S3. The index is built from two kinds of segment:

- speech: each transcript sentence (text, start_s, end_s); a sentence longer than
  MAX_SEGMENT_S is cut, between words, into windows of at most that length, so a moment
  found inside a long monologue points near the words that matched;
- keyframe descriptions: one per shot, written from the vision signals of the shot's
  keyframe (the frame detect_shots chose) and the first words spoken in the shot:

      Shot 3 (12–18 s): 1 face, close-up, bright, sharp; says: "so the first thing we do…"

  so every moment of the video is findable, even a stretch with no speech at all.

The texts go to the embedder (the SageMaker endpoint in AWS, the local inference server
locally; lambdas/common/embedding.py), which sends them in batches of its own, and the index
is written to analysis/<job_id>/index.json in the output bucket. The endpoint's model scales
to zero; warm_inference asked for a copy at ingest, so it has usually started by now. If it has
not within INFERENCE_WARM_WAIT_S, or the copy goes away mid-way, the function embeds on its
own CPU with the same model: the job completes either way, and `embedded_on` records which. A job with no words and one
shot still gets an index, of one segment. The workflow carries only the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from lambdas.common import storage
from lambdas.common.embedding import CPU, ENDPOINT, choose_embedder, cpu_embedder
from lambdas.common.events import EventLog
from lambdas.common.models import AnalysisResults, JobRequest, MediaInfo, Model, Transcript, Word
from lambdas.common.search_index import EmbeddingFailed

MAX_SEGMENT_S = 30.0
SHOT_WORDS = 12  # words of speech quoted in a keyframe description

# Vision signals -> words (containers/frames/analysis.py: brightness is mean luma 0..1,
# sharpness maps Laplacian variance v to v / (v + 100), so 0.5 is the customary "blurry" point).
DARK_BELOW = 0.25
DIM_BELOW = 0.40
BRIGHT_FROM = 0.65
BLURRY_BELOW = 0.35
SHARP_FROM = 0.55
CLOSE_UP_FACE_WIDTH = 0.25  # a face this wide (fraction of the frame width) fills the shot


class KeyframeInferenceRequest(JobRequest):
    media: MediaInfo
    analysis: AnalysisResults


class SearchIndexRef(Model):
    bucket: str
    key: str
    segment_count: int = Field(ge=0)
    model: str
    embedded_on: str = ENDPOINT  # "endpoint", or "cpu" when the endpoint had no copy in time


# ---------------------------------------------------------------------------------------
# Segments (pure)
# ---------------------------------------------------------------------------------------


def speech_segments(transcript: Transcript, max_segment_s: float = MAX_SEGMENT_S) -> list[dict]:
    """One segment per sentence; sentences longer than max_segment_s become windows of whole words."""
    segments = []
    for sentence in transcript.sentences:
        words = transcript.words[sentence.first_word:sentence.last_word + 1]
        if not words or sentence.last_word >= len(transcript.words):
            words = _spread_words(sentence.text, sentence.start_s, sentence.end_s)
        if sentence.end_s - sentence.start_s <= max_segment_s or len(words) < 2:
            if sentence.text.strip():
                segments.append(_segment(sentence.start_s, sentence.end_s, sentence.text))
            continue
        window: list[Word] = []
        for word in words:
            if window and word.end_s - window[0].start_s > max_segment_s:
                segments.append(_words_segment(window))
                window = []
            window.append(word)
        segments.append(_words_segment(window))
    return segments


def shot_segments(shots: Sequence[dict], frames_by_index: dict[int, dict], words: Sequence[Word]) -> list[dict]:
    """One keyframe description per shot, from its keyframe's vision signals and its first words."""
    segments = []
    for number, shot in enumerate(shots, start=1):
        start_s, end_s = float(shot["start_s"]), float(shot["end_s"])
        keyframe = shot.get("keyframe") or {}
        frame = frames_by_index.get(keyframe.get("index")) if keyframe else None
        visual = describe_frame(frame) if frame else []
        spoken = [word.text for word in words if start_s <= word.start_s < end_s]
        speech = (f'says: "{" ".join(spoken[:SHOT_WORDS])}{"…" if len(spoken) > SHOT_WORDS else ""}"'
                  if spoken else "no speech")
        text = f"Shot {number} ({_seconds(start_s)}–{_seconds(end_s)} s): " + "; ".join(
            part for part in (", ".join(visual), speech) if part)
        segments.append(_segment(start_s, max(start_s, end_s), text))
    return segments


def describe_frame(frame: dict) -> list[str]:
    """A frame's vision signals in words: faces, framing, light, focus."""
    faces = frame.get("faces") or []
    words = ["no faces" if not faces else "1 face" if len(faces) == 1 else f"{len(faces)} faces"]
    if faces and max(float(face.get("w", 0)) for face in faces) >= CLOSE_UP_FACE_WIDTH:
        words.append("close-up")
    brightness = frame.get("brightness")
    if brightness is not None:
        brightness = float(brightness)
        words.append("dark" if brightness < DARK_BELOW else "dim" if brightness < DIM_BELOW
                     else "bright" if brightness >= BRIGHT_FROM else "evenly lit")
    sharpness = frame.get("sharpness")
    if sharpness is not None:
        sharpness = float(sharpness)
        words.append("blurry" if sharpness < BLURRY_BELOW else "sharp" if sharpness >= SHARP_FROM else "soft focus")
    return words


def whole_video_segment(duration_s: float) -> dict:
    """The one segment of a video with neither speech nor shots (the index is never empty)."""
    return _segment(0.0, duration_s, f"The whole video (0–{_seconds(duration_s)} s); no speech")


def _segment(start_s: float, end_s: float, text: str) -> dict:
    return {"start_s": round(start_s, 3), "end_s": round(max(start_s, end_s), 3), "text": text.strip()}


def _words_segment(words: list[Word]) -> dict:
    return _segment(words[0].start_s, max(word.end_s for word in words), " ".join(word.text for word in words))


def _spread_words(text: str, start_s: float, end_s: float) -> list[Word]:
    """A sentence without its words (an inconsistent transcript): its tokens spread evenly over its time."""
    tokens = text.split()
    step = (end_s - start_s) / max(1, len(tokens))
    return [Word(text=token, start_s=start_s + i * step, end_s=start_s + (i + 1) * step, confidence=0.0)
            for i, token in enumerate(tokens)]


def _seconds(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def keyframe_inference(request: KeyframeInferenceRequest, output_bucket: str, events: EventLog,
                       embedder=None, warm_wait_s: float = 0.0) -> SearchIndexRef:
    """`embedder`: embed with this one; else the endpoint once it has a copy (within warm_wait_s), else CPU."""
    from lambdas.common.search import build_index, save_index

    analysis = request.analysis
    transcript = Transcript.model_validate(storage.get_json(analysis.transcript.bucket, analysis.transcript.key))
    shots_document = storage.get_json(analysis.shots.bucket, analysis.shots.key)
    shots = shots_document["shots"] if isinstance(shots_document, dict) else shots_document
    frames = storage.get_json(analysis.timeline.bucket, analysis.timeline.key).get("frames", [])

    speech = speech_segments(transcript)
    visual = shot_segments(shots, {frame["index"]: frame for frame in frames}, transcript.words)
    segments = speech + visual or [whole_video_segment(request.media.duration_s)]
    path, waited_s, fallback = ENDPOINT, 0.0, None
    if embedder is None:
        embedder, path, waited_s = choose_embedder(warm_wait_s)
    try:
        index = build_index(request.job_id, segments, embedder)
    except EmbeddingFailed as error:
        if path != ENDPOINT or error.status != 429:  # only a copy that went away mid-way falls back
            raise
        fallback = str(error)
        path, index = CPU, build_index(request.job_id, segments, cpu_embedder())
    key = save_index(index, output_bucket)
    events.append(request.job_id, "search.indexed", "KeyframeInference", segments=len(index),
                  speech_segments=len(speech), shot_segments=len(visual), model=index.model, index_key=key,
                  embedded_on=path, waited_for_copy_s=round(waited_s, 1),
                  **({"fallback_reason": fallback} if fallback else {}))
    return SearchIndexRef(bucket=output_bucket, key=key, segment_count=len(index), model=index.model,
                          embedded_on=path)
