"""Where a job's objects live in the output bucket: one place, so writers and readers agree."""

from lambdas.common.aspects import Aspect, slug
from lambdas.common.constants import (
    ANALYSIS_PREFIX,
    CAPTIONS_PREFIX,
    CLIPS_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    TRANSCRIPTS_PREFIX,
)


def manifest_key(job_id: str) -> str:
    """The published manifest of a job."""
    return f"{OUTPUTS_PREFIX}{job_id}/manifest.json"


def frame_manifest_key(job_id: str) -> str:
    """The frames of a job, in time order and in chunks, for the vision workers."""
    return f"{MANIFESTS_PREFIX}{job_id}/frames.json"


def transcript_key(job_id: str) -> str:
    """The canonical transcript of a job."""
    return f"{TRANSCRIPTS_PREFIX}{job_id}/transcript.json"


def captions_keys(job_id: str) -> tuple[str, str]:
    """The WebVTT and SRT captions of a job."""
    return f"{CAPTIONS_PREFIX}{job_id}/captions.vtt", f"{CAPTIONS_PREFIX}{job_id}/captions.srt"


def index_key(job_id: str) -> str:
    """The search index of a job: transcript segments and their embeddings."""
    return f"{ANALYSIS_PREFIX}{job_id}/index.json"


def frame_results_prefix(job_id: str) -> str:
    """Where the frame workers write (their RESULTS_PREFIX)."""
    return f"{ANALYSIS_PREFIX}{job_id}/frames/"


def chunk_result_key(job_id: str, chunk: int) -> str:
    """The key containers/frames/worker.py writes for one chunk."""
    return f"{frame_results_prefix(job_id)}chunk-{chunk:05d}.json"


def timeline_key(job_id: str) -> str:
    return f"{ANALYSIS_PREFIX}{job_id}/timeline.json"


def shots_key(job_id: str) -> str:
    return f"{ANALYSIS_PREFIX}{job_id}/shots.json"


def plan_draft_key(job_id: str) -> str:
    """The clip plan as the planner wrote it (possibly garbage, possibly large)."""
    return f"{ANALYSIS_PREFIX}{job_id}/plan.draft.json"


def plan_key(job_id: str) -> str:
    """The validated clip plan and the corrections that made it."""
    return f"{ANALYSIS_PREFIX}{job_id}/plan.json"


def summary_key(job_id: str) -> str:
    return f"{ANALYSIS_PREFIX}{job_id}/summary.json"


def render_spec_key(job_id: str, clip_index: int, aspect: Aspect) -> str:
    """The render spec of one planned clip in one aspect (build_render_specs writes, the renderer reads):
    analysis/<job>/render/clip-00-9x16.json."""
    return f"{ANALYSIS_PREFIX}{job_id}/render/{_clip_name(clip_index, aspect)}.json"


def clips_prefix(job_id: str) -> str:
    """Everything a job's renders write: clips, thumbnails and, while a render runs, its partials."""
    return f"{CLIPS_PREFIX}{job_id}/"


def clip_key(job_id: str, clip_index: int, aspect: Aspect) -> str:
    """One planned clip rendered in one aspect: clips/<job>/clip-00-9x16.mp4."""
    return f"{clips_prefix(job_id)}{_clip_name(clip_index, aspect)}.mp4"


def thumbnail_key(job_id: str, clip_index: int, aspect: Aspect) -> str:
    """That render's thumbnail: clips/<job>/clip-00-9x16.jpg."""
    return f"{clips_prefix(job_id)}{_clip_name(clip_index, aspect)}.jpg"


def _clip_name(clip_index: int, aspect: Aspect) -> str:
    """Always with the aspect, even when only one is rendered: a file's name says what it is."""
    return f"clip-{clip_index:02d}-{slug(aspect)}"
