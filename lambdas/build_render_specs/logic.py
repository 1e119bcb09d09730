"""build_render_specs: one render spec per planned clip, and where each clip renders.

For each clip of the validated plan it writes analysis/<job>/render/clip-NN.json, the spec
containers/render reads (containers/render/spec.py is the contract; it ships in this code
asset too, so a spec that would not validate in the renderer fails here, before any render):

- cut from the original upload, the exact version that was analysed;
- reframed to the configured portrait size around the faces seen inside the clip (the
  face-weighted mean centre across the width), centred when there are none;
- captions burned (or attached) from the job's WebVTT, none when the video had no speech;
- loudness normalized to the configured target;
- a thumbnail at the sharpest sampled frame inside the clip, one with a face preferred.

`choose_render_target` sends a clip to the render_short_clip Lambda when it is short enough
to finish well inside a function's 15 minutes and the source fits the function's /tmp,
and to a Fargate task otherwise: length alone is not enough, because both paths download
the whole source.
"""

from __future__ import annotations

from containers.render.spec import RenderSpec
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import PlanRef
from lambdas.common.keys import clip_key, render_spec_key, thumbnail_key
from lambdas.common.models import AnalysisResults, JobRequest, MediaInfo, ObjectRef
from lambdas.common.render_list import RenderItem, RenderList, RenderSettings, RenderTarget


class BuildRenderSpecsRequest(JobRequest):
    media: MediaInfo
    analysis: AnalysisResults
    plan: PlanRef


def choose_render_target(clip_s: float, source_bytes: int, settings: RenderSettings) -> tuple[RenderTarget, str]:
    """("lambda" | "fargate", why): the Lambda only when the clip is short and the source fits its /tmp."""
    if clip_s > settings.lambda_max_clip_s:
        return "fargate", f"the clip lasts {clip_s:.1f} s, over the Lambda path's {settings.lambda_max_clip_s:g} s"
    if source_bytes > settings.lambda_max_source_bytes:
        return "fargate", (f"the source ({source_bytes / 1024**3:.1f} GiB) does not fit the Lambda's storage "
                           f"({settings.lambda_max_source_bytes / 1024**3:.1f} GiB usable)")
    return "lambda", f"a {clip_s:.1f} s clip from a {source_bytes / 1024**2:.0f} MiB source fits a function"


def crop_center_x(frames: list[dict], start_s: float, end_s: float) -> float:
    """The face-weighted mean centre (0..1 across the displayed width) of the faces inside the clip; 0.5 without."""
    weight = total = 0.0
    for frame in frames:
        if start_s <= float(frame.get("t_s", -1)) <= end_s:
            for face in frame.get("faces") or []:
                area = float(face["w"]) * float(face["h"])
                total += area * (float(face["x"]) + float(face["w"]) / 2)
                weight += area
    return round(min(1.0, max(0.0, total / weight)), 4) if weight > 0 else 0.5


def thumbnail_at_s(frames: list[dict], start_s: float, end_s: float) -> float:
    """Seconds from the clip's start of its best sampled frame (a face first, then sharpness); the middle without."""
    inside = [frame for frame in frames if start_s <= float(frame.get("t_s", -1)) < end_s]
    if not inside:
        return round((end_s - start_s) / 2, 3)
    best = max(inside, key=lambda frame: (bool(frame.get("faces")), float(frame.get("sharpness") or 0.0)))
    return round(float(best["t_s"]) - start_s, 3)


def build_render_specs(request: BuildRenderSpecsRequest, settings: RenderSettings, output_bucket: str,
                       events: EventLog) -> RenderList:
    timeline = storage.get_json(request.analysis.timeline.bucket, request.analysis.timeline.key)
    frames = timeline.get("frames", []) if isinstance(timeline, dict) else []
    captions = request.analysis.captions
    caption_mode = settings.captions if captions.vtt_key else "none"
    items = []
    for index, clip in enumerate(request.plan.plan.clips):
        spec = RenderSpec.model_validate({
            "job_id": request.job_id, "clip_index": index,
            "source": {"bucket": request.source.bucket, "key": request.source.key,
                       "version_id": request.source.version_id},
            "start_s": clip.start_s, "end_s": clip.end_s, "title": clip.title,
            "output": {"bucket": output_bucket, "key": clip_key(request.job_id, index)},
            "target": {"width": settings.width, "height": settings.height},
            "crop_center_x": crop_center_x(frames, clip.start_s, clip.end_s),
            "captions": {"mode": caption_mode,
                         "vtt": {"bucket": captions.bucket, "key": captions.vtt_key} if captions.vtt_key else None},
            "loudness_lufs": settings.loudness_lufs,
            "thumbnail": {"bucket": output_bucket, "key": thumbnail_key(request.job_id, index)},
            "thumbnail_at_s": thumbnail_at_s(frames, clip.start_s, clip.end_s),
        })
        key = render_spec_key(request.job_id, index)
        storage.put_json(output_bucket, key, spec.model_dump(mode="json"))
        target, reason = choose_render_target(spec.duration_s, request.source.size_bytes, settings)
        items.append(RenderItem(index=index, target=target, target_reason=reason, spec_s3=f"s3://{output_bucket}/{key}",
                                start_s=clip.start_s, end_s=clip.end_s, title=clip.title,
                                output=ObjectRef(bucket=output_bucket, key=spec.output.key),
                                thumbnail=ObjectRef(bucket=output_bucket, key=spec.thumbnail.key)))
    events.append(request.job_id, "render.planned", "BuildRenderSpecs", clips=len(items),
                  targets=[item.target for item in items], reasons=[item.target_reason for item in items])
    return RenderList(clips=items)
