"""build_render_specs: one render spec per planned clip and aspect, and where each renders.

For each clip of the validated plan and each configured aspect (RENDER_ASPECTS: 9:16, 1:1,
16:9, at that aspect's frame size) it writes analysis/<job>/render/clip-NN-9x16.json, the spec
containers/render reads (containers/render/spec.py is the contract; it ships in this code
asset too, so a spec that would not validate in the renderer fails here, before any render):

- cut from the original upload, the exact version that was analysed;
- reframed to the aspect's frame size by a crop window that follows whoever speaks
  (crop_path.py: the shots' face tracks, their mouths and the transcript's speakers), eased
  inside a shot and jumping on its cuts; with no face, the frames' centre of interest;
- captions burned (or attached) from the job's WebVTT, none when the video had no speech,
  moved to the top while the followed face sits low in the frame;
- loudness normalized to the configured target;
- a thumbnail at the sharpest sampled frame inside the clip, one with a face preferred.

`choose_render_target` sends a clip to the render_short_clip Lambda when it is short enough
to finish well inside a function's 15 minutes and the source fits the function's /tmp,
and to a Fargate task otherwise: length alone is not enough, because both paths download
the whole source.
"""

from __future__ import annotations

from itertools import product

from containers.render.spec import RenderSpec
from lambdas.build_render_specs.crop_path import caption_top_spans, crop_path, follow
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


def _shots(analysis: AnalysisResults) -> list[dict]:
    """The shots with their face tracks (detect_shots), in time order."""
    document = storage.get_json(analysis.shots.bucket, analysis.shots.key)
    return sorted(document.get("shots", []) if isinstance(document, dict) else [], key=lambda shot: shot["start_s"])


def _words(analysis: AnalysisResults) -> list[dict]:
    """The transcript's words with their speakers (none when the video had no speech)."""
    document = storage.get_json(analysis.transcript.bucket, analysis.transcript.key)
    return document.get("words", []) if isinstance(document, dict) else []


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
    shots = _shots(request.analysis)
    words = _words(request.analysis)
    # Whom the window follows is the same in every aspect; only the window's size differs.
    followed = [follow(shots, words, frames, clip.start_s, clip.end_s) for clip in request.plan.plan.clips]
    items = []
    for (index, clip), aspect in product(enumerate(request.plan.plan.clips), settings.aspects):
        width, height = settings.frame_size(aspect)
        moments = followed[index]
        spec = RenderSpec.model_validate({
            "job_id": request.job_id, "clip_index": index,
            "source": {"bucket": request.source.bucket, "key": request.source.key,
                       "version_id": request.source.version_id},
            "start_s": clip.start_s, "end_s": clip.end_s, "title": clip.title,
            "output": {"bucket": output_bucket, "key": clip_key(request.job_id, index, aspect)},
            "target": {"width": width, "height": height},
            "crop_path": crop_path(moments, clip.start_s),
            "captions": {"mode": caption_mode,
                         "vtt": {"bucket": captions.bucket, "key": captions.vtt_key} if captions.vtt_key else None,
                         "top_spans": caption_top_spans(moments, clip.start_s, clip.end_s)},
            "loudness_lufs": settings.loudness_lufs,
            "thumbnail": {"bucket": output_bucket, "key": thumbnail_key(request.job_id, index, aspect)},
            "thumbnail_at_s": thumbnail_at_s(frames, clip.start_s, clip.end_s),
        })
        key = render_spec_key(request.job_id, index, aspect)
        storage.put_json(output_bucket, key, spec.model_dump(mode="json"))
        target, reason = choose_render_target(spec.duration_s, request.source.size_bytes, settings)
        items.append(RenderItem(index=index, aspect=aspect, width=width, height=height, target=target,
                                target_reason=reason, spec_s3=f"s3://{output_bucket}/{key}",
                                start_s=clip.start_s, end_s=clip.end_s, title=clip.title,
                                output=ObjectRef(bucket=output_bucket, key=spec.output.key),
                                thumbnail=ObjectRef(bucket=output_bucket, key=spec.thumbnail.key)))
    events.append(request.job_id, "render.planned", "BuildRenderSpecs", clips=len(request.plan.plan.clips),
                  aspects=list(settings.aspects), renders=len(items), targets=[item.target for item in items],
                  reasons=[item.target_reason for item in items])
    return RenderList(clips=items)
