"""The vision branch's test footage: a generated video with hard cuts at known times, as MediaConvert's frames
and proxy.

The frames (one every 2 s, from t = 0) and the proxy (the same video, smaller: decoding it is most of
a worker's time) go to moto's S3 and are chunked by the real build_frame_manifest; the worker
(containers/frames) then analyses each chunk in-process and finds the cuts in its time range of the
proxy at its own frame rate. Shared by the worker's, aggregate_frames' and detect_shots' tests.
"""

import json
import shutil
import subprocess
from pathlib import Path

from containers import batch_job
from containers.frames import worker
from lambdas.aggregate_frames.logic import AggregateRequest, aggregate_frames, chunk_result_key, frame_results_prefix
from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.models import FrameManifestRef
from lambdas.detect_shots.logic import ShotsRequest, detect_shots

JOB_ID = "job-vision-00000001"
OUTPUT_BUCKET = "videoflow-output"
FRAMES_PREFIX = f"derivatives/{JOB_ID}/frames/"
INTERVAL_S = 2
DURATION_S = 30.0
FPS = 10  # the proxy's frame rate here (MediaConvert keeps the source's; fewer frames keep the tests fast)
# The cut at 16 s is on the first frame of chunk 1 (frame 8, t = 16) and of its time range of the
# proxy (frame 160): only the previous chunk's last frame lets chunk 1 score it, and only one of
# the two chunks that decode the frames around it may report it.
CUTS_S = [5.0, 16.0, 23.0]
CUT_FRAMES = [round(cut * FPS) for cut in CUTS_S]
FRAMES_PER_CHUNK = 8
PROXY_NAME = "proxy.mp4"
PROXY_KEY = f"derivatives/{JOB_ID}/proxy/proxy.mp4"


def extract_frames(video: Path, folder: Path, proxy_fps: int | None = FPS) -> list[Path]:
    """A JPEG every 2 s from t = 0, shorter side 540, named as MediaConvert names them (frame.0000000.jpg),
    and beside them the proxy (`PROXY_NAME`: H.264 with a keyframe every 2 s, as MediaConvert's, 320 px wide
    at `proxy_fps`; None: the video itself, when it is already made like one).

    `round=up` makes frame k the picture at k * 2 s, as MediaConvert's frame capture does; the
    fps filter's default (round=near) would give the last picture before k * 2 + 1 s.
    """
    folder.mkdir(exist_ok=True)
    proxy = folder / PROXY_NAME
    if proxy_fps is None:
        shutil.copyfile(video, proxy)
    subprocess.run(
        [shutil.which("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
         "-vf", f"fps=1/{INTERVAL_S}:round=up,scale=-2:540", "-q:v", "3", "-start_number", "0",
         str(folder / "frame.%07d.jpg"),
         *([] if proxy_fps is None else [
             "-an", "-vf", f"fps={proxy_fps},scale=320:-2", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-g", str(INTERVAL_S * proxy_fps), "-movflags", "+faststart", str(proxy)])],
        check=True, capture_output=True, timeout=60,
    )
    return sorted(folder.glob("frame.*.jpg"))


class NoEvents:
    """Stands in for the event log where no events table exists (the moto server test)."""

    def append(self, *args, **kwargs):
        return None


def workflow_state(count: int, duration_s: float = DURATION_S) -> dict:
    return {
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/cuts.mp4", "version_id": "v1", "etag": "e",
                   "size_bytes": 1_000_000},
        "media": {"container": "mp4", "duration_s": duration_s, "size_bytes": 1_000_000, "video_codec": "h264",
                  "coded_width": 960, "coded_height": 540, "width": 960, "height": 540, "frame_rate": 25.0,
                  "has_audio": False},
        "derivatives": {
            "proxy": {"bucket": OUTPUT_BUCKET, "key": PROXY_KEY, "width": 320, "height": 180,
                      "duration_s": duration_s},
            "audio": None,
            "audio_absent_reason": "no audio",
            "frames": {"bucket": OUTPUT_BUCKET, "prefix": FRAMES_PREFIX, "count": count, "interval_s": INTERVAL_S},
        },
    }


def publish_frames(s3, frames: list[Path], events=None) -> FrameManifestRef:
    """The frames in S3 as MediaConvert leaves them, and the real frame manifest over them."""
    for frame in frames:
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=FRAMES_PREFIX + frame.name, Body=frame.read_bytes())
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=PROXY_KEY, Body=(frames[0].parent / PROXY_NAME).read_bytes())
    request = FrameManifestRequest.model_validate(workflow_state(len(frames)))
    return build_frame_manifest(request, FRAMES_PER_CHUNK, events or EventLog("videoflow-events"))


def worker_env(ref: FrameManifestRef, index: int | None) -> dict:
    env = {"FRAME_MANIFEST_BUCKET": ref.bucket, "FRAME_MANIFEST_KEY": ref.key,
           "RESULTS_PREFIX": frame_results_prefix(JOB_ID)}
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return env


def run_all_chunks(ref: FrameManifestRef) -> None:
    for index in range(ref.chunk_count):
        assert worker.main(worker_env(ref, index)) == batch_job.EXIT_OK


def run_vision(ref: FrameManifestRef, duration_s: float = DURATION_S) -> dict:
    """aggregate_frames then detect_shots, as the workflow runs them; returns shots.json."""
    state = {**workflow_state(ref.frame_count, duration_s), "frame_manifest": ref.model_dump()}
    events = EventLog("videoflow-events")
    timeline = aggregate_frames(AggregateRequest.model_validate(state), events)
    shots = detect_shots(ShotsRequest.model_validate({**state, "frame_timeline": timeline.model_dump()}), events)
    return storage.get_json(shots.bucket, shots.key)


def chunk_result(s3, chunk: int) -> dict:
    return json.loads(s3.get_object(Bucket=OUTPUT_BUCKET, Key=chunk_result_key(JOB_ID, chunk))["Body"].read())
