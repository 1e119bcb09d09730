"""publish_results: write the job manifest and mark the job COMPLETED.

The manifest is written last, after every clip was checked: its presence means the job's
results are whole. A duplicate upload publishes the earlier job's results, clips included.

A cancel can race this step (the jobs API stops the execution while it runs). The job record
decides: its status changes are conditional (lambdas/common/jobs.py), so whichever of
COMPLETED and CANCELLED is written first wins, and the manifest is made to agree with it. If
the cancel won, before or during publishing, the manifest says CANCELLED (not COMPLETED) and
nothing is announced; if publishing won, the cancel is refused and the job stays COMPLETED.
A job still recorded FAILED is being redriven and the jobs API has not yet marked it RUNNING:
TransientError, so the workflow retries in a moment.
"""

from pydantic import Field

from lambdas.common import storage
from lambdas.common.errors import DerivativeMissing, TransientError
from lambdas.common.events import EventLog
from lambdas.common.jobs import FINAL_STATUSES, JobStore, StatusChangeRefused
from lambdas.common.keys import frame_manifest_key
from lambdas.common.manifest import source_summary, write_manifest, write_record_manifest
from lambdas.common.models import (
    AnalysisResults,
    Derivatives,
    DuplicateCheck,
    FrameManifestRef,
    JobManifest,
    JobRequest,
    ManifestCaptions,
    ManifestDerivatives,
    MediaInfo,
    Model,
)


class PublishRequest(JobRequest):
    media: MediaInfo
    duplicate: DuplicateCheck = DuplicateCheck()
    derivatives: Derivatives | None = None
    frame_manifest: FrameManifestRef | None = None
    analysis: AnalysisResults | None = None
    summary: dict | None = None
    plan: dict | None = Field(None, description="validate_plan's output (PlanRef)")
    clips: dict | None = Field(None, description="record_render's output")
    cost: dict | None = None


class Published(Model):
    status: str
    manifest_key: str


def publish_results(request: PublishRequest, output_bucket: str, jobs: JobStore, events: EventLog) -> Published:
    ended = _ended_otherwise(jobs.get(request.job_id))
    if ended:
        return _agree_with(ended, request, output_bucket)
    derivatives, frames_key, analysis = _results_of(request, jobs)
    judged = _judgment_of(request, jobs)
    frames = [frame["key"] for chunk in storage.get_json(output_bucket, frames_key)["chunks"] for frame in chunk["frames"]]
    manifest = JobManifest(
        **_analysis_fields(analysis),
        job_id=request.job_id,
        status="COMPLETED",
        source=source_summary(request.source, request.media),
        derivatives=ManifestDerivatives(
            proxy=derivatives.proxy.key, audio=derivatives.audio.key if derivatives.audio else None, frames=frames
        ),
        duplicate_of=request.duplicate.duplicate_of,
        cost=request.cost,
        **judged,
    )
    key = write_manifest(output_bucket, manifest)
    try:
        jobs.upsert(request.job_id, status="COMPLETED", manifest_key=key, derivatives=derivatives.model_dump(mode="json"),
                    frame_manifest_key=frames_key, analysis=analysis.model_dump(mode="json") if analysis else None,
                    duplicate_of=request.duplicate.duplicate_of,
                    judgment=manifest.model_dump(mode="json", include={"summary", "plan", "clips"}))
    except StatusChangeRefused:
        # Cancelled between the check above and now: the COMPLETED manifest just written is replaced.
        return _agree_with(_ended_otherwise(jobs.get(request.job_id)), request, output_bucket)
    events.append(request.job_id, "job.completed", "PublishResults", manifest_key=key,
                  duplicate_of=request.duplicate.duplicate_of, clips=len(manifest.clips))
    return Published(status="COMPLETED", manifest_key=key)


def _ended_otherwise(record: dict | None) -> dict | None:
    """The job's record when the job has already ended other than COMPLETED (a cancel won)."""
    status = (record or {}).get("status")
    if status == "FAILED":
        raise TransientError(f"Job {record['job_id']} is recorded FAILED: its redrive is not recorded yet.")
    return record if status in FINAL_STATUSES - {"COMPLETED"} else None


def _agree_with(record: dict, request: PublishRequest, output_bucket: str) -> Published:
    """Nothing is published over a job that ended otherwise: its manifest says what its record says."""
    key = write_record_manifest(output_bucket, record, request.source, request.media)
    return Published(status=record["status"], manifest_key=key)


def _analysis_fields(analysis: AnalysisResults | None) -> dict:
    if analysis is None:
        return {}
    shots = storage.get_json(analysis.shots.bucket, analysis.shots.key)
    return {
        "transcript": analysis.transcript.key,
        "transcript_unavailable": analysis.transcript.unavailable_reason,
        "captions": ManifestCaptions(vtt=analysis.captions.vtt_key, srt=analysis.captions.srt_key),
        "shots": shots["shots"] if isinstance(shots, dict) else shots,
        "frames_analysis": analysis.timeline.key,
    }


def _results_of(request: PublishRequest, jobs: JobStore) -> tuple[Derivatives, str, AnalysisResults | None]:
    """This job's own results, or those of the earlier job with the same content."""
    if request.duplicate.duplicate_of is None:
        if request.derivatives is None or request.frame_manifest is None:
            raise DerivativeMissing("Nothing to publish: the derivatives were not recorded.")
        return request.derivatives, request.frame_manifest.key, request.analysis
    earlier = jobs.get(request.duplicate.duplicate_of)
    if earlier is None or "derivatives" not in earlier:
        raise DerivativeMissing(f"The earlier job {request.duplicate.duplicate_of} has no derivatives to reuse.")
    # An earlier job may itself have reused results: follow the key it recorded.
    frames_key = earlier.get("frame_manifest_key") or frame_manifest_key(request.duplicate.duplicate_of)
    analysis = AnalysisResults.model_validate(earlier["analysis"]) if earlier.get("analysis") else None
    return Derivatives.model_validate(earlier["derivatives"]), frames_key, analysis


def _judgment_of(request: PublishRequest, jobs: JobStore) -> dict:
    """summary, plan and clips for the manifest (validated there): this job's, or the earlier job's for a duplicate."""
    if request.duplicate.duplicate_of is not None:
        recorded = (jobs.get(request.duplicate.duplicate_of) or {}).get("judgment") or {}
        return {"summary": recorded.get("summary"), "plan": recorded.get("plan"), "clips": recorded.get("clips") or []}
    return {"summary": request.summary, "plan": request.plan["plan"] if request.plan else None,
            "clips": request.clips["clips"] if request.clips else []}
