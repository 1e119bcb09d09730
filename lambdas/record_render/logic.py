"""record_render: check every rendered clip against its plan, then record it.

Each clip is read back from S3 by its MP4 header alone (lambdas/common/mp4.py, a few ranged
reads, no ffmpeg, nothing trusted from the renderer's own report): it must last the planned
length within 0.1 s, be H.264 at its aspect's configured frame size (a clip of each aspect is
its own item: 9:16, 1:1, 16:9) and so of that aspect's shape, hold as many bytes as the
renderer said, and have its thumbnail beside it. A clip that fails any check fails the
step with every reason (RenderCheckFailed), and the job's failure path removes what was
rendered (compensate). Each recorded clip is one `render.recorded` event; a Fargate render
carries its task-seconds for the cost ledger.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from pydantic import Field

from lambdas.common import aspects, aws, storage
from lambdas.common.errors import RenderCheckFailed
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, ManifestClip, Model
from lambdas.common.mp4 import Mp4Unreadable, read_mp4_facts, s3_reader
from lambdas.common.render_list import RenderList, RenderSettings

DURATION_TOLERANCE_S = 0.1
H264_SAMPLE_ENTRIES = {"avc1", "avc3"}


class RecordRenderRequest(JobRequest):
    render: RenderList
    renders: list[dict] = Field(description="the Map's results, one render output document per clip, in order")


class RecordedClips(Model):
    clips: list[ManifestClip]


class FargateShape(Model):
    vcpu: float = Field(2, alias="RENDER_TASK_VCPU")
    memory_mb: int = Field(4096, alias="RENDER_TASK_MEMORY_MB")


def record_render(request: RecordRenderRequest, settings: RenderSettings, fargate: FargateShape,
                  events: EventLog) -> RecordedClips:
    if len(request.renders) != len(request.render.clips):
        raise RenderCheckFailed(f"{len(request.render.clips)} clips were planned for rendering but "
                                f"{len(request.renders)} renders came back")
    s3 = aws.client("s3")
    problems: list[str] = []
    clips: list[ManifestClip] = []
    for item, rendered in zip(request.render.clips, request.renders, strict=True):
        name = f"clip {item.index} ({item.output.key})"
        try:
            read, size = s3_reader(s3, item.output.bucket, item.output.key)
            facts = read_mp4_facts(read, size)
        except (Mp4Unreadable, ClientError) as error:
            problems.append(f"{name}: unreadable: {error}")
            continue
        planned_s = item.end_s - item.start_s
        found = []
        if abs(facts.duration_s - planned_s) > DURATION_TOLERANCE_S:
            found.append(f"lasts {facts.duration_s:.3f} s, planned {planned_s:.3f} s")
        if facts.video_codec not in H264_SAMPLE_ENTRIES:
            found.append(f"video is {facts.video_codec or 'missing'}, not H.264")
        width, height = settings.frame_size(item.aspect)
        if (facts.width, facts.height) != (width, height):
            shape = f"{item.aspect} at the wrong size" if aspects.matches(facts.width, facts.height, item.aspect) \
                else f"not {item.aspect}"
            found.append(f"is {facts.width}x{facts.height}, not {width}x{height} ({shape})")
        if isinstance(rendered.get("bytes"), int) and rendered["bytes"] != size:
            found.append(f"holds {size} bytes, the renderer wrote {rendered['bytes']}")
        if not storage.exists(item.thumbnail.bucket, item.thumbnail.key):
            found.append(f"its thumbnail {item.thumbnail.key} is missing")
        if found:
            problems.append(f"{name}: " + "; ".join(found))
            continue
        clip = ManifestClip(path=item.output.key, aspect=item.aspect, start_s=item.start_s, end_s=item.end_s,
                            width=facts.width, height=facts.height, thumbnail=item.thumbnail.key, title=item.title,
                            duration_s=round(facts.duration_s, 3), bytes=size, rendered_on=item.target)
        clips.append(clip)
        detail = {"clip": clip.model_dump(mode="json"), "render_seconds": rendered.get("render_seconds")}
        if item.target == "fargate" and isinstance(rendered.get("render_seconds"), int | float):
            detail["fargate_task"] = {"purpose": "render", "seconds": rendered["render_seconds"],
                                      "vcpu": fargate.vcpu, "memory_gb": fargate.memory_mb / 1024, "spot": False}
        events.append(request.job_id, "render.recorded", "RecordRender", **detail)
    if problems:
        raise RenderCheckFailed("; ".join(problems))
    return RecordedClips(clips=clips)
