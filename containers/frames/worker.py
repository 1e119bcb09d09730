"""The vision worker: one AWS Batch array child analyses one chunk of the frame manifest.

    python -m containers.frames.worker        (from the repository)
    python worker.py                          (inside the image: ENTRYPOINT)

Environment:
    FRAME_MANIFEST_BUCKET      bucket of the frame manifest (the frames and results live there too)
    FRAME_MANIFEST_KEY         manifests/<job_id>/frames.json, as build_frame_manifest wrote it
    RESULTS_PREFIX             where results go, e.g. analysis/<job_id>/frames/
    AWS_BATCH_JOB_ARRAY_INDEX  the chunk to analyse; Batch sets it for array children (absent: 0)
    RESULTS_BUCKET             optional; defaults to FRAME_MANIFEST_BUCKET
    AWS_ENDPOINT_URL           optional; boto3 honours it (the local runner points it at moto)

It writes s3://<bucket>/<RESULTS_PREFIX>chunk-NNNNN.json = {"chunk": n, "frames": [{"index", "t_s",
"key", "shot_change_score", "sharpness", "brightness", "interest": [x, y], "faces": [{x, y, w, h,
score, keypoints, speaking}]}], "cuts": [{"frame", "t_s", "kind", "score", "span"}], "cut_detection":
{...}, "speaking": {...}}. `interest` is the frame's centre of interest (interest.py); `speaking`,
how much each sampled face's mouth moves around its frame (mouths.py, read in the same pass over the
proxy as the cuts, only when the chunk has faces). The first frame of a chunk is
compared with the last frame of the chunk before it, so a cut exactly on a chunk boundary is
still seen. Running it again rewrites the same key with the same content: a retried child is
harmless.

The cuts (cuts.py) are found at the proxy's own frame rate in the chunk's time range of the
manifest, [start_s, end_s): the proxy is read from CONTEXT_S before it to CONTEXT_S after it
(proxy.py, ranged reads), and only boundaries whose first frame lies in the range are kept, so
neighbouring chunks, which decode the same frames around their common edge, report each cut once.

Exit codes (the job definition's retry strategy can tell them apart):
    0  the chunk's results are written
    2  misconfigured: an environment variable is missing or invalid, or S3 denied access; retrying
       will not help
    3  the input is wrong: the manifest, the chunk or a frame is missing or unreadable
    4  transient: S3 was unreachable, throttled or failing after the SDK's own retries; retry
    1  anything unexpected
Progress and errors go to stderr, one line each ("chunk 7: 30/60 frames").
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

if __package__:
    from containers import batch_job
    from containers.frames import analysis, cuts, interest, mouths, proxy
else:  # run as a script inside the image: the modules and batch_job.py (with s3_errors.py) sit beside this file
    import analysis  # type: ignore[no-redef]
    import batch_job  # type: ignore[no-redef]
    import cuts  # type: ignore[no-redef]
    import interest  # type: ignore[no-redef]
    import mouths  # type: ignore[no-redef]
    import proxy  # type: ignore[no-redef]

DOWNLOAD_THREADS = 8
PROGRESS_EVERY_FRAMES = 10


@dataclass(frozen=True)
class WorkerConfig:
    manifest_bucket: str
    manifest_key: str
    results_bucket: str
    results_prefix: str
    chunk: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerConfig:
        missing = [name for name in ("FRAME_MANIFEST_BUCKET", "FRAME_MANIFEST_KEY", "RESULTS_PREFIX")
                   if not environ.get(name)]
        if missing:
            raise batch_job.ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        raw_index = environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "").strip() or "0"
        try:
            chunk = int(raw_index)
        except ValueError:
            raise batch_job.ConfigError(f"AWS_BATCH_JOB_ARRAY_INDEX must be a whole number, not {raw_index!r}") from None
        if chunk < 0:
            raise batch_job.ConfigError(f"AWS_BATCH_JOB_ARRAY_INDEX must not be negative, got {chunk}")
        prefix = environ["RESULTS_PREFIX"]
        return cls(
            manifest_bucket=environ["FRAME_MANIFEST_BUCKET"],
            manifest_key=environ["FRAME_MANIFEST_KEY"],
            results_bucket=environ.get("RESULTS_BUCKET") or environ["FRAME_MANIFEST_BUCKET"],
            results_prefix=prefix if prefix.endswith("/") else prefix + "/",
            chunk=chunk,
        )


def result_key(results_prefix: str, chunk: int) -> str:
    """Where chunk `chunk`'s results go: <prefix>chunk-00007.json (aggregate_frames reads the same)."""
    return f"{results_prefix}chunk-{chunk:05d}.json"


def analyze_chunk(config: WorkerConfig, s3, log=None) -> dict:
    """Analyse one chunk and write its results; returns the result document."""
    log = log or batch_job.log
    manifest = _read_manifest(s3, config)
    chunks = manifest.get("chunks") or []
    by_index = {chunk["index"]: chunk for chunk in chunks}
    if config.chunk >= len(chunks) and config.chunk >= 1 and len(chunks) <= 1:
        # AWS Batch arrays have at least two children; a one-chunk job's spare child has no work.
        log(f"chunk {config.chunk}: the manifest has {len(chunks)} chunk(s); nothing to do")
        return {"chunk": config.chunk, "frames": [], "spare": True}
    if config.chunk not in by_index:
        raise batch_job.InputError(
            f"chunk {config.chunk} is not in s3://{config.manifest_bucket}/{config.manifest_key} "
            f"({len(chunks)} chunk(s), indexes 0..{len(chunks) - 1})"
        )
    frames = sorted(by_index[config.chunk]["frames"], key=lambda frame: frame["index"])
    frames_bucket = manifest.get("bucket") or config.manifest_bucket
    previous_chunk = by_index.get(config.chunk - 1)
    before = max(previous_chunk["frames"], key=lambda frame: frame["index"]) if previous_chunk and \
        previous_chunk["frames"] else None

    started = time.monotonic()
    log(f"chunk {config.chunk}: {len(frames)} frames from s3://{frames_bucket}/"
        f"{frames[0]['key'].rsplit('/', 1)[0] + '/' if frames else ''}")
    wanted = ([before] if before else []) + frames
    previous_signature = previous_grid = None
    results = []
    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        downloads = pool.map(lambda frame: _download(s3, frames_bucket, frame["key"]), wanted)
        for position, (frame, data) in enumerate(zip(wanted, downloads, strict=True)):
            image = _decode(data, frames_bucket, frame["key"])
            grid = interest.small_gray(image)
            if before is not None and position == 0:
                previous_signature, previous_grid = analysis.signature(image), grid
                continue
            measured = analysis.analyze(image, previous_signature)
            centre = interest.centre_of_interest(grid, previous_grid)
            previous_signature, previous_grid = measured.signature, grid
            results.append({
                "index": frame["index"],
                "t_s": frame["t_s"],
                "key": frame["key"],
                "shot_change_score": measured.shot_change_score,
                "sharpness": measured.sharpness,
                "brightness": measured.brightness,
                "faces": [face.as_dict() for face in measured.faces],
                "interest": list(centre),
            })
            if len(results) % PROGRESS_EVERY_FRAMES == 0 and len(results) < len(frames):
                log(f"chunk {config.chunk}: {len(results)}/{len(frames)} frames")

    document = {
        "chunk": config.chunk,
        "job_id": manifest.get("job_id"),
        "analysis_version": analysis.ANALYSIS_VERSION,
        "face_model": analysis.FACE_MODEL,
        "frames": results,
    }
    if manifest.get("proxy"):
        document.update(find_cuts(s3, manifest["proxy"], by_index[config.chunk], config.chunk, log, results))
    key = result_key(config.results_prefix, config.chunk)
    batch_job.call_s3(lambda: s3.put_object(Bucket=config.results_bucket, Key=key, ContentType="application/json",
                                Body=json.dumps(document, separators=(",", ":")).encode()),
          f"writing s3://{config.results_bucket}/{key}")
    log(f"chunk {config.chunk}: {len(frames)}/{len(frames)} frames, "
        f"{sum(1 for frame in results if frame['faces'])} with faces, {time.monotonic() - started:.1f}s "
        f"-> s3://{config.results_bucket}/{key}")
    return document


def find_cuts(s3, video: dict, chunk: dict, number: int, log, results: list[dict] | None = None) -> dict:
    """The shot boundaries in the chunk's time range of the proxy: {"cuts": [...], "cut_detection": {...}}.

    When the chunk's sampled `results` have faces, the same pass over the proxy also reads their mouths
    (mouths.py, at the proxy's own size): each face gets its `speaking` score, and the document a
    "speaking" entry saying how they were read.
    """
    bucket, key = video["bucket"], video["key"]
    start_s, end_s = float(chunk.get("start_s") or 0.0), chunk.get("end_s")
    started = time.monotonic()
    source = proxy.S3RangeFile.for_object(s3, bucket, key, call=batch_job.call_s3)
    with_faces = [frame for frame in results or [] if frame["faces"]]
    samples = [mouths.Sample(t_s=float(frame["t_s"]), faces=frame["faces"]) for frame in with_faces]
    try:
        with proxy.Proxy(source) as opened:
            watch = mouths.MouthWatch(samples, opened.fps) if samples else None
            own = (opened.index_at(start_s), None if end_s is None else opened.index_at(float(end_s)))
            found, count = cuts.scan(
                opened.frames(max(0.0, start_s - cuts.CONTEXT_S), None if end_s is None else end_s + cuts.CONTEXT_S,
                              cuts.WORK_WIDTH_PX, full_size=watch),
                opened.fps, (own[0], own[1] if own[1] is not None else 2**62))
            fps = opened.fps
    except proxy.ProxyUnreadable as error:
        raise batch_job.InputError(f"the proxy s3://{bucket}/{key} cannot be read: {error}") from None
    seconds = time.monotonic() - started
    log(f"chunk {number}: {len(found)} cut(s) in frames {own[0]}..{'end' if own[1] is None else own[1] - 1} "
        f"({count} decoded at {fps:g} fps, {count / max(seconds, 1e-6):.0f} frames/s, "
        f"{source.requests} range read(s))")
    document = {
        "cuts": [transition.as_dict(fps) for transition in found],
        "cut_detection": {"detector_version": cuts.DETECTOR_VERSION, "fps": fps, "first_frame": own[0],
                          "end_frame": own[1], "frames_decoded": count},
    }
    if watch is not None:
        document["speaking"] = _speaking(with_faces, watch, number, log)
    return document


def _speaking(frames: list[dict], watch: mouths.MouthWatch, number: int, log) -> dict:
    """Each sampled face's `speaking` score, set on the faces in `frames`; returns how they were read."""
    scores = watch.scores()
    for frame, frame_scores in zip(frames, scores, strict=True):
        for face, score in zip(frame["faces"], frame_scores, strict=True):
            face["speaking"] = score
    faces_read = sum(1 for frame_scores in scores for score in frame_scores if score is not None)
    log(f"chunk {number}: mouths of {faces_read} sampled face(s) read in {watch.seconds:.1f} s of CPU")
    return {"model": mouths.LANDMARK_MODEL, "window_s": mouths.SPEAKING_WINDOW_S, "fps": mouths.MOUTH_FPS,
            "faces_read": faces_read, "seconds": round(watch.seconds, 2)}


def main(environ: Mapping[str, str] | None = None, s3=None) -> int:
    """The process entrypoint; returns the exit code (see the module docstring)."""
    environ = os.environ if environ is None else environ

    def job():
        config = WorkerConfig.from_env(environ)
        analyze_chunk(config, s3 or batch_job.s3_client())

    return batch_job.run(job)


def _read_manifest(s3, config: WorkerConfig) -> dict:
    where = f"s3://{config.manifest_bucket}/{config.manifest_key}"
    body = batch_job.call_s3(lambda: s3.get_object(Bucket=config.manifest_bucket, Key=config.manifest_key)["Body"].read(),
                 f"reading the frame manifest {where}")
    try:
        manifest = json.loads(body)
    except ValueError as error:
        raise batch_job.InputError(f"the frame manifest {where} is not JSON: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("chunks"), list):
        raise batch_job.InputError(f"the frame manifest {where} has no list of chunks")
    return manifest


def _download(s3, bucket: str, key: str) -> bytes:
    return batch_job.call_s3(lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(), f"reading frame s3://{bucket}/{key}")


def _decode(data: bytes, bucket: str, key: str):
    try:
        return analysis.decode(data)
    except ValueError:
        raise batch_job.InputError(f"frame s3://{bucket}/{key} is not a readable image ({len(data)} bytes)") from None


if __name__ == "__main__":
    sys.exit(main())
