"""publish_results: write the job's timeline and manifest, and mark the job COMPLETED.

The manifest is written last, after every clip was checked: its presence means the job's
results are whole. Beside it go the timeline files an editor opens (lambdas/common/timeline.py:
timeline.otio, timeline.edl, timeline.xml; the manifest's `timeline`), made of the proxy, the
shots, the chapters (summarize_video's summary.json), the plan, the rendered clips (a track per
aspect) and the captions. A duplicate upload publishes the earlier job's results, clips and chapters included.

A cancel can race this step (the jobs API stops the execution while it runs). The job record
decides: its status changes are conditional (lambdas/common/jobs.py), so whichever of
COMPLETED and CANCELLED is written first wins, and the manifest is made to agree with it. If
the cancel won, before or during publishing, the manifest says CANCELLED (not COMPLETED) and
nothing is announced; if publishing won, the cancel is refused and the job stays COMPLETED.
A job still recorded FAILED is being redriven and the jobs API has not yet marked it RUNNING:
TransientError, so the workflow retries in a moment.
"""

from pathlib import PurePosixPath

import opentimelineio as otio
from pydantic import Field

from lambdas.common import aws, storage
from lambdas.common.errors import DerivativeMissing, TransientError
from lambdas.common.events import EventLog
from lambdas.common.jobs import FINAL_STATUSES, JobStore, StatusChangeRefused
from lambdas.common.keys import frame_manifest_key, manifest_key
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
    ManifestTimeline,
    MediaInfo,
    Model,
)
from lambdas.common.timeline import FORMATS, PlannedClip, RenderedClip, TimelineSource, parse_srt, render

# The exported folder's names (videoflow/local/export.py), which the timeline's media paths follow.
EXPORTED_PROXY, EXPORTED_CLIPS_DIR, EXPORTED_CAPTIONS = "proxy", "clips", "captions"
CONTENT_TYPES = {"otio": "application/json", "edl": "text/plain; charset=utf-8",
                 "fcpxml": "application/xml"}


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
    draft = JobManifest(
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
    manifest = draft.model_copy(update={"timeline": _write_timeline(draft, request, derivatives, analysis,
                                                                   output_bucket, events)})
    key = write_manifest(output_bucket, manifest)
    try:
        jobs.upsert(request.job_id, status="COMPLETED", manifest_key=key, derivatives=derivatives.model_dump(mode="json"),
                    frame_manifest_key=frames_key, analysis=analysis.model_dump(mode="json") if analysis else None,
                    duplicate_of=request.duplicate.duplicate_of,
                    judgment=manifest.model_dump(mode="json", include={"summary", "plan", "clips", "chapters"}))
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
    """summary, chapters, plan and clips for the manifest (validated there): this job's, or the earlier job's for a
    duplicate. The chapters are in the summary's document (summary.json), not in the workflow state."""
    if request.duplicate.duplicate_of is not None:
        recorded = (jobs.get(request.duplicate.duplicate_of) or {}).get("judgment") or {}
        return {"summary": recorded.get("summary"), "plan": recorded.get("plan"), "clips": recorded.get("clips") or [],
                "chapters": recorded.get("chapters") or []}
    summary = request.summary or {}
    chapters = storage.get_json(summary["bucket"], summary["key"]).get("chapters", []) \
        if summary.get("bucket") and summary.get("key") else []
    return {"summary": request.summary, "plan": request.plan["plan"] if request.plan else None,
            "clips": request.clips["clips"] if request.clips else [], "chapters": chapters}


# ---------------------------------------------------------------------------------------
# The timeline beside the manifest
# ---------------------------------------------------------------------------------------


def timeline_source(manifest: JobManifest, request: PublishRequest, derivatives: Derivatives,
                    analysis: AnalysisResults | None) -> TimelineSource:
    """What the timeline is made of, its media named as the exported folder names them (proxy.mp4, clips/...)."""
    proxy = derivatives.proxy
    captions = analysis.captions if analysis else None
    cues = parse_srt(aws.client("s3").get_object(Bucket=captions.bucket, Key=captions.srt_key)["Body"].read()
                     .decode("utf-8")) if captions and captions.srt_key else []
    files = {kind: f"{EXPORTED_CAPTIONS}.{kind}" for kind, key in (("srt", captions.srt_key if captions else None),
                                                                     ("vtt", captions.vtt_key if captions else None))
             if key}
    plan = manifest.plan.clips if manifest.plan else []
    return TimelineSource(
        name=request.source.name,
        duration_s=proxy.duration_s or request.media.duration_s,
        frame_rate=request.media.frame_rate,
        proxy=EXPORTED_PROXY + PurePosixPath(proxy.key).suffix,
        has_audio=request.media.has_audio,
        shots=[(shot.start_s, shot.end_s) for shot in manifest.shots],
        chapters=list(manifest.chapters),
        plan=[PlannedClip(start_s=float(item["start_s"]), end_s=float(item["end_s"]), title=str(item.get("title", "")),
                          rationale=str(item.get("rationale", "")), score=item.get("score")) for item in plan],
        clips=[RenderedClip(path=f"{EXPORTED_CLIPS_DIR}/{PurePosixPath(clip.path).name}", start_s=clip.start_s,
                            end_s=clip.end_s, title=clip.title, aspect=clip.aspect or "") for clip in manifest.clips],
        captions=cues,
        metadata={"job_id": manifest.job_id, "duplicate_of": manifest.duplicate_of,
                  "original": {**manifest.source.model_dump(mode="json"), "s3": request.source.url,
                               "version_id": request.source.version_id, "frame_rate": request.media.frame_rate},
                  "proxy": {"s3": f"s3://{proxy.bucket}/{proxy.key}", "width": proxy.width, "height": proxy.height},
                  "captions": files},
    )


def _write_timeline(manifest: JobManifest, request: PublishRequest, derivatives: Derivatives,
                    analysis: AnalysisResults | None, output_bucket: str, events: EventLog) -> ManifestTimeline | None:
    """The three timeline files beside the manifest; None (and a `timeline.skipped` event) when OTIO refuses them."""
    try:
        texts = render(timeline_source(manifest, request, derivatives, analysis))
    except (otio.exceptions.OTIOError, ValueError) as error:
        events.append(request.job_id, "timeline.skipped", "PublishResults", reason=f"{type(error).__name__}: {error}")
        return None
    folder = PurePosixPath(manifest_key(request.job_id)).parent
    for kind, text in texts.items():
        aws.client("s3").put_object(Bucket=output_bucket, Key=str(folder / FORMATS[kind][1]), Body=text.encode(),
                                    ContentType=CONTENT_TYPES[kind])
    return ManifestTimeline(**{kind: FORMATS[kind][1] for kind in texts})
