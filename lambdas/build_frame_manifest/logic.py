"""build_frame_manifest: the frames, in time order, split into chunks for the vision workers.

The manifest lives in S3; the workflow carries only its key and counts, so a four-hour
video (7,200 frames) costs the state machine the same few bytes as a short one.
"""

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.keys import frame_manifest_key
from lambdas.common.models import Derivatives, FrameManifestRef, JobRequest


class FrameManifestRequest(JobRequest):
    derivatives: Derivatives


def build_frame_manifest(request: FrameManifestRequest, frames_per_chunk: int, events: EventLog) -> FrameManifestRef:
    frames = request.derivatives.frames
    keys = storage.list_keys(frames.bucket, frames.prefix)
    timeline = [{"index": i, "key": key, "t_s": round(i * frames.interval_s, 3)} for i, key in enumerate(keys)]
    chunks = [
        {"index": n, "frames": timeline[start:start + frames_per_chunk]}
        for n, start in enumerate(range(0, len(timeline), frames_per_chunk))
    ]
    manifest = {
        "job_id": request.job_id,
        "bucket": frames.bucket,
        "interval_s": frames.interval_s,
        "frame_count": len(timeline),
        "chunks": chunks,
    }
    key = frame_manifest_key(request.job_id)
    storage.put_json(frames.bucket, key, manifest)
    events.append(request.job_id, "frames.manifest_built", "BuildFrameManifest",
                  frames=len(timeline), chunks=len(chunks), manifest_key=key)
    return FrameManifestRef(bucket=frames.bucket, key=key, frame_count=len(timeline), chunk_count=len(chunks),
                            frames_per_chunk=frames_per_chunk)
