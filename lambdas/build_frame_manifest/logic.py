"""build_frame_manifest: the frames, in time order, split into chunks for the vision workers.

The manifest lives in S3; the workflow carries only its key and counts, so a four-hour
video (7,200 frames) costs the state machine the same few bytes as a short one.

Each chunk also owns a time range of the proxy, [start_s, end_s): from its first frame's time
(0 for the first chunk) to the next chunk's first frame's (the end of the video for the last,
end_s null). Its worker finds the cuts in that range at the proxy's own frame rate, so the
ranges tile the video and each cut is found by exactly one chunk.
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
    starts = list(range(0, len(timeline), frames_per_chunk))
    chunks = [
        {"index": n, "frames": timeline[start:start + frames_per_chunk],
         "start_s": 0.0 if n == 0 else timeline[start]["t_s"],
         "end_s": timeline[starts[n + 1]]["t_s"] if n + 1 < len(starts) else None}
        for n, start in enumerate(starts)
    ]
    proxy = request.derivatives.proxy
    manifest = {
        "job_id": request.job_id,
        "bucket": frames.bucket,
        "interval_s": frames.interval_s,
        "frame_count": len(timeline),
        # What the workers find the cuts in (the original is never read again).
        "proxy": {"bucket": proxy.bucket, "key": proxy.key, "width": proxy.width, "height": proxy.height,
                  "duration_s": proxy.duration_s},
        "chunks": chunks,
    }
    key = frame_manifest_key(request.job_id)
    storage.put_json(frames.bucket, key, manifest)
    events.append(request.job_id, "frames.manifest_built", "BuildFrameManifest",
                  frames=len(timeline), chunks=len(chunks), manifest_key=key)
    return FrameManifestRef(bucket=frames.bucket, key=key, frame_count=len(timeline), chunk_count=len(chunks),
                            frames_per_chunk=frames_per_chunk)
