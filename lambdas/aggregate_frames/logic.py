"""aggregate_frames: merge the frame workers' chunk results into one timeline of the video.

The Batch array job writes one result per chunk (containers/frames/worker.py); this step
checks that every chunk and every frame of the manifest is there, then writes the frames in
time order to analysis/<job_id>/timeline.json. The workflow carries only the reference: a
four-hour video's timeline (7,200 frames) is megabytes, its reference a few hundred bytes.

The workers' cuts (found at the proxy's frame rate, each chunk over its own time range) go into
the timeline too, in time order: `cuts` and `cut_detection` (the frame rate, the frames decoded).
A manifest that names a proxy must have cuts from every chunk.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from lambdas.common import storage
from lambdas.common.errors import VideoFlowError
from lambdas.common.events import EventLog
from lambdas.common.keys import chunk_result_key, frame_results_prefix, timeline_key  # noqa: F401
from lambdas.common.models import FrameManifestRef, FrameTimelineRef, JobRequest

READ_THREADS = 8


class FrameResultsMissing(VideoFlowError):
    """A chunk (or a frame in it) has no analysis: the job fails rather than publish a timeline with a gap."""

    code = "FRAME_RESULTS_MISSING"


class AggregateRequest(JobRequest):
    frame_manifest: FrameManifestRef


def aggregate_frames(request: AggregateRequest, events: EventLog) -> FrameTimelineRef:
    ref = request.frame_manifest
    manifest = storage.get_json(ref.bucket, ref.key)
    chunks = _read_chunks(ref.bucket, request.job_id, ref.chunk_count)

    frames = sorted((frame for chunk in chunks for frame in chunk["frames"]), key=lambda frame: frame["index"])
    _check_complete(request.job_id, manifest, frames)
    faces_frames = sum(1 for frame in frames if frame.get("faces"))
    cut_fields = _cuts(request.job_id, manifest, chunks)
    timeline = {
        "job_id": request.job_id,
        "bucket": ref.bucket,
        "interval_s": manifest.get("interval_s"),
        "frame_count": len(frames),
        "faces_frames": faces_frames,
        "analysis_version": chunks[0].get("analysis_version") if chunks else None,
        "face_model": chunks[0].get("face_model") if chunks else None,
        "frames": frames,
        **cut_fields,
    }
    key = timeline_key(request.job_id)
    storage.put_json(ref.bucket, key, timeline)
    events.append(request.job_id, "frames.aggregated", "AggregateFrames",
                  frames=len(frames), chunks=ref.chunk_count, faces_frames=faces_frames, timeline_key=key)
    return FrameTimelineRef(bucket=ref.bucket, key=key, frame_count=len(frames), faces_frames=faces_frames)


def _cuts(job_id: str, manifest: dict, chunks: list[dict]) -> dict:
    """The chunks' cuts as one list in time order, and how they were found; {} when the manifest has no proxy."""
    if not manifest.get("proxy"):
        return {}
    without = [number for number, chunk in enumerate(chunks) if "cuts" not in chunk]
    if without:
        raise FrameResultsMissing(
            f"The frame analysis of job {job_id} has no cuts for chunk(s) {_ranges(without)}: "
            "the frame workers did not read the proxy."
        )
    detections = [chunk["cut_detection"] for chunk in chunks]
    cuts = sorted((cut for chunk in chunks for cut in chunk["cuts"]), key=lambda cut: cut["frame"])
    return {
        "cuts": cuts,
        "cut_detection": {"detector_version": detections[0].get("detector_version"), "fps": detections[0]["fps"],
                          "frames_decoded": sum(detection["frames_decoded"] for detection in detections)},
    }


def _read_chunks(bucket: str, job_id: str, chunk_count: int) -> list[dict]:
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        found = list(pool.map(lambda chunk: _read_chunk(bucket, job_id, chunk), range(chunk_count)))
    missing = [chunk for chunk, result in enumerate(found) if result is None]
    if missing:
        first = f"s3://{bucket}/{chunk_result_key(job_id, missing[0])}"
        raise FrameResultsMissing(
            f"Frame analysis is missing for {len(missing)} of {chunk_count} chunk(s) "
            f"({_ranges(missing)}; expected {first}{' and others' if len(missing) > 1 else ''}): "
            "the frame workers did not finish every chunk."
        )
    for chunk, result in enumerate(found):
        if result.get("chunk") != chunk:
            raise FrameResultsMissing(
                f"The result for chunk {chunk} (s3://{bucket}/{chunk_result_key(job_id, chunk)}) "
                f"says it is chunk {result.get('chunk')!r}."
            )
    return found


def _read_chunk(bucket: str, job_id: str, chunk: int) -> dict | None:
    try:
        return storage.get_json(bucket, chunk_result_key(job_id, chunk))
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def _check_complete(job_id: str, manifest: dict, frames: list[dict]) -> None:
    expected = [frame["index"] for chunk in manifest.get("chunks", []) for frame in chunk["frames"]]
    got = [frame["index"] for frame in frames]
    if got == sorted(expected):
        return
    missing = sorted(set(expected) - set(got))
    duplicated = sorted(index for index, count in Counter(got).items() if count > 1)
    unexpected = sorted(set(got) - set(expected))
    details = [f"missing frame(s) {_ranges(missing)}" if missing else "",
               f"frame(s) {_ranges(duplicated)} reported twice" if duplicated else "",
               f"frame(s) {_ranges(unexpected)} not in the manifest" if unexpected else ""]
    raise FrameResultsMissing(
        f"The frame analysis of job {job_id} does not match its manifest ({len(expected)} frames): "
        + "; ".join(detail for detail in details if detail) + "."
    )


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts, start = [], None
    for position, number in enumerate(numbers):
        if start is None:
            start = number
        if position + 1 == len(numbers) or numbers[position + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ", ".join(parts)
