"""Models that cross a boundary: the workflow state, S3 references, media facts.

Each step reads the parts of the workflow state it needs (extra fields are ignored) and
returns one small model that the state machine stores under the step's ResultPath. State
passes references (S3 keys), never media: the Step Functions payload limit is 256 KB.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from lambdas.common.aspects import Aspect


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SourceObject(Model):
    """The uploaded original. It is never modified; every read names its version."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size_bytes: int = Field(ge=0)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def get_args(self) -> dict:
        """Arguments for S3 GetObject/HeadObject that pin the exact version uploaded."""
        args = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id and self.version_id != "null":
            args["VersionId"] = self.version_id
        return args

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class JobRequest(Model):
    """What every step receives: the job id and the source, plus whatever earlier steps added."""

    job_id: str = Field(min_length=8, max_length=80)
    source: SourceObject


class UploadCheck(Model):
    """validate_upload's verdict on the bytes, before anything is decoded."""

    size_bytes: int
    detected_format: str
    content_sha256_prefix: str = Field(description="sha256 of the first 64 KiB, for duplicate checks")


class AudioTrack(Model):
    """One audio track as MediaConvert numbers them: `track` 1 is the first audio track (AudioSelector Tracks)."""

    track: int = Field(ge=1)
    channels: int = Field(0, ge=0)
    codec: str | None = None


class MediaInfo(Model):
    """What probe_media learned. width/height are as displayed (rotation and pixel aspect applied)."""

    container: str
    duration_s: float = Field(ge=0)
    size_bytes: int = Field(ge=0)
    video_codec: str
    coded_width: int = Field(gt=0)
    coded_height: int = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    rotation_deg: int = 0
    frame_rate: float = Field(ge=0)
    has_audio: bool
    audio_codec: str | None = None
    audio_channels: int = 0
    audio_sample_rate_hz: int = 0
    # Every audio track in file order; the audio_* fields above describe the first.
    audio_tracks: list[AudioTrack] = Field(default_factory=list)
    # What the header stated, when the length measured from the file (duration_s) differs from it.
    stated_duration_s: float | None = None

    @property
    def orientation(self) -> Literal["landscape", "portrait", "square"]:
        if self.width == self.height:
            return "square"
        return "landscape" if self.width > self.height else "portrait"


class S3Object(Model):
    bucket: str
    key: str


class VideoFile(S3Object):
    width: int
    height: int
    duration_s: float | None = None


class FrameSet(Model):
    """Frames as a prefix and a count: a long video has thousands, too many for workflow state."""

    bucket: str
    prefix: str
    count: int = Field(ge=0)
    interval_s: float


class Derivatives(Model):
    proxy: VideoFile
    audio: S3Object | None
    frames: FrameSet
    audio_absent_reason: str | None = None


class AudioCandidate(Model):
    """A transcription WAV made from one audio track of the source."""

    track: int = Field(ge=1)
    key: str


class DerivativeDestinations(Model):
    """Where the job writes, as S3 keys in `bucket` (the output bucket)."""

    bucket: str
    proxy_key: str
    audio_key: str | None
    # With several audio tracks, one WAV per track (the first is audio_key): record_derivatives keeps
    # the first that has sound.
    audio_candidates: list[AudioCandidate] = Field(default_factory=list)
    frames_prefix: str = Field(description="holds frame.0000000.jpg, frame.0000001.jpg, ... (MediaConvert naming)")


class MediaConvertJobSpec(Model):
    settings: dict
    destinations: DerivativeDestinations
    proxy_width_px: int
    proxy_height_px: int
    frame_interval_s: float
    max_frame_captures: int


class FrameManifestRef(Model):
    bucket: str
    key: str
    frame_count: int
    chunk_count: int
    frames_per_chunk: int

    @computed_field
    @property
    def array_size(self) -> int:
        """The Batch array size: AWS Batch wants 2 to 10,000 children; a spare child finds no chunk and exits."""
        return max(2, self.chunk_count)


class DuplicateCheck(Model):
    duplicate_of: str | None = None


class Word(Model):
    text: str = Field(description="as spoken, with the punctuation that follows it attached")
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    confidence: float = Field(ge=0, le=1)
    speaker: str | None = None


class Sentence(Model):
    text: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    first_word: int = Field(ge=0, description="index into words, inclusive")
    last_word: int = Field(ge=0, description="index into words, inclusive")
    speaker: str | None = None


class Transcript(Model):
    job_id: str
    language: str | None = Field(description="BCP-47 code, e.g. en-US; None when there was no audio")
    words: list[Word]
    sentences: list[Sentence]
    unavailable_reason: str | None = Field(None, description="why there are no words although the video has "
                                                             "sound (transcript_required false)")

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)


class TranscriptRef(Model):
    """What the workflow carries: where the transcript is, and how much it holds."""

    bucket: str
    key: str
    word_count: int = Field(ge=0)
    sentence_count: int = Field(ge=0)
    language: str | None
    unavailable_reason: str | None = None


class SourceSummary(Model):
    name: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None


class ManifestDerivatives(Model):
    """Keys in the output bucket (the local export rewrites them as paths beside the manifest)."""

    proxy: str
    audio: str | None
    frames: list[str]


class ObjectRef(Model):
    bucket: str
    key: str


class CaptionsRef(Model):
    bucket: str
    vtt_key: str | None = None
    srt_key: str | None = None


class TranscriptObjectRef(ObjectRef):
    unavailable_reason: str | None = None


class AnalysisResults(Model):
    """What the Analysis branches produced, by reference.

    The Parallel state hands over one object per branch; they are merged here.
    """

    transcript: TranscriptObjectRef
    captions: CaptionsRef
    timeline: ObjectRef
    shots: ObjectRef

    @model_validator(mode="before")
    @classmethod
    def _merge_branches(cls, value):
        if isinstance(value, list):
            return {key: item for branch in value for key, item in branch.items()}
        return value


class FrameTimelineRef(Model):
    bucket: str
    key: str
    frame_count: int
    faces_frames: int


class ShotsRef(Model):
    bucket: str
    key: str
    shot_count: int


class Shot(Model):
    start_s: float
    end_s: float


class ManifestCaptions(Model):
    vtt: str | None
    srt: str | None


class ManifestClip(Model):
    """One rendered clip as published: its file, its aspect, its span of the source, its frame size and thumbnail. A
    planned clip rendered in several aspects is one ManifestClip each, with the same span and title."""

    path: str
    aspect: Aspect | None = Field(None, description="9:16, 1:1 or 16:9; none in a job recorded before aspects")
    start_s: float
    end_s: float
    width: int
    height: int
    thumbnail: str | None = None
    title: str = ""
    duration_s: float | None = None
    bytes: int | None = None
    rendered_on: Literal["lambda", "fargate"] | None = None


class ManifestPlan(Model):
    planner: Literal["bedrock", "local"]
    clips: list[dict] = Field(default_factory=list, description="start_s, end_s, title, score, rationale")


class ManifestSummary(Model):
    title: str
    summary: str
    summarizer: str


CHAPTER_TITLE_MAX_CHARS = 80


class Chapter(Model):
    """One chapter: a stretch of the video about one thing (summarize_video; lambdas/common/chapters.py)."""

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    title: str = Field(min_length=1, max_length=CHAPTER_TITLE_MAX_CHARS)
    summary: str = Field(min_length=1, description="one sentence")


class ManifestTimeline(Model):
    """One timeline for an editor in three formats (publish_results; lambdas/common/timeline.py), paths relative
    to the manifest: OpenTimelineIO JSON, CMX 3600 EDL, Final Cut Pro 7 XML (xmeml)."""

    otio: str
    edl: str
    fcpxml: str


class JobManifest(Model):
    """The published result of a job, written to outputs/<job_id>/manifest.json."""

    job_id: str
    status: Literal["COMPLETED", "REJECTED", "FAILED", "CANCELLED"]
    reason: str | None = None
    reason_code: str | None = None
    source: SourceSummary
    derivatives: ManifestDerivatives | None = None
    transcript: str | None = None
    transcript_unavailable: str | None = Field(None, description="why there is no transcript although the video "
                                                                 "has sound")
    captions: ManifestCaptions | None = None
    shots: list[Shot] = Field(default_factory=list)
    frames_analysis: str | None = None
    duplicate_of: str | None = None
    summary: ManifestSummary | None = None
    chapters: list[Chapter] = Field(default_factory=list, description="covering the whole video, in order")
    plan: ManifestPlan | None = None
    clips: list[ManifestClip] = Field(default_factory=list)
    timeline: ManifestTimeline | None = None
    cost: dict | None = Field(None, description="by service and total, USD (record_cost's report)")


class Failure(Model):
    """handle_failure's outcome: what the job became and why, in one line."""

    status: Literal["REJECTED", "FAILED"]
    reason: str
    reason_code: str
    error: str


class Event(Model):
    """One entry of a job's event log: (job_id, seq) is unique, seq strictly increasing."""

    job_id: str
    seq: int = Field(ge=1)
    at: datetime
    type: str
    step: str
    detail: dict = Field(default_factory=dict)
