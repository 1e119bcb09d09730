"""The local `mediaconvert:createJob.sync`: the job run to completion, as the workflow's task sees it.

The request is checked as CreateJob checks it, the input comes from S3 (moto's, locally), the
one ffmpeg command does the work, and the outputs go back under MediaConvert's names. What
returns is what the `.sync` integration returns, the finished job; a job that fails raises
TaskFailed with the job, its MediaConvert ErrorCode and ffmpeg's own words.
"""

from __future__ import annotations

import json
import math
import mimetypes
import random
import string
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from videoflow.local.mediaconvert import source as input_facts
from videoflow.local.mediaconvert.errors import ERROR_TITLES, JobError, TaskFailed, unsupported
from videoflow.local.mediaconvert.ffmpeg import FfmpegPlan, PlannedOutput, build_ffmpeg_command, normalized_audio
from videoflow.local.mediaconvert.settings import check_create_job
from videoflow.local.mediaconvert.sound import loudness_command
from videoflow.local.mediaconvert.source import SourceFacts

ACCOUNT_ID = "123456789012"
_STDERR_TAIL_CHARS = 2000

ProgressCallback = Callable[[float], None]


def create_job_sync(parameters: dict, on_progress: ProgressCallback | None = None, *,
                    s3=None, workdir: str | Path | None = None) -> dict:
    """Run a CreateJob request to completion with ffmpeg; return the `.sync` result shape."""
    check_create_job(parameters)
    s3 = s3 or boto3.client("s3")
    region = s3.meta.region_name or "us-east-1"
    job_id = f"{int(time.time() * 1000)}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=6))}"
    submitted_ms = int(time.time() * 1000)
    job = {
        "Id": job_id,
        "Arn": f"arn:aws:mediaconvert:{region}:{ACCOUNT_ID}:jobs/{job_id}",
        "Role": parameters["Role"],
        "Settings": parameters["Settings"],
        "UserMetadata": parameters.get("UserMetadata", {}),
        "Queue": parameters.get("Queue", f"arn:aws:mediaconvert:{region}:{ACCOUNT_ID}:queues/Default"),
        "CreatedAt": submitted_ms,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="mediaconvert-", dir=workdir) as scratch:
            details = _run(parameters["Settings"], Path(scratch), s3, on_progress)
    except JobError as error:
        title = ERROR_TITLES.get(error.code, "Error")
        message = error.message if error.message.startswith(title) else f"{title}: {error.message}"
        raise TaskFailed({**job, "Status": "ERROR", "ErrorCode": error.code, "ErrorMessage": message,
                          "Timing": {"SubmitTime": submitted_ms, "FinishTime": int(time.time() * 1000)}}) from None
    job.update(Status="COMPLETE", JobPercentComplete=100, OutputGroupDetails=details,
               Timing={"SubmitTime": submitted_ms, "StartTime": submitted_ms, "FinishTime": int(time.time() * 1000)})
    return {"Job": job}


def _run(settings: dict, scratch: Path, s3, on_progress: ProgressCallback | None) -> list[dict]:
    file_input = (settings.get("Inputs") or [{}])[0].get("FileInput", "")
    bucket, key = _split_s3(file_input)
    input_path = scratch / "input" / (key.rsplit("/", 1)[-1] or "input")
    # Settings the stand-in cannot honour fail before anything is transferred.
    build_ffmpeg_command(settings, input_path, scratch / "out")
    _download(bucket, key, input_path, s3)

    # What MediaConvert finds in the input itself: colour space, interlacing, frame rate, loudness.
    facts = input_facts.describe(input_path)
    if facts is not None:
        facts = _with_loudness(facts, settings, input_path)
    plan = build_ffmpeg_command(settings, input_path, scratch / "out", source=facts)
    for output in plan.outputs:
        output.local_path.parent.mkdir(parents=True, exist_ok=True)
    duration_s = facts.duration_s if facts else None
    # In messages, name the input by its S3 URL rather than by the scratch copy.
    redactions = {str(input_path): file_input, f"{scratch}/": ""}
    _execute(plan, duration_s, scratch / "ffmpeg.stderr", on_progress, facts, redactions)

    groups: dict[int, list[dict]] = {}
    uploads: list[tuple[Path, str]] = []
    for output in plan.outputs:
        produced = output.produced_files()
        if not produced:
            raise JobError(1999, f"ffmpeg produced nothing for output {output.output_index} "
                                  f"of group {output.group_index} ({output.local_path.name})")
        groups.setdefault(output.group_index, []).append(_output_detail(output, produced, duration_s))
        uploads += [(path, output.destination_url(path)) for path in produced]
    for path, url in uploads:
        _upload(path, url, s3)
    if on_progress:
        on_progress(1.0)
    return [{"OutputDetails": groups[index]} for index in sorted(groups)]


def _with_loudness(facts: SourceFacts, settings: dict, input_path: Path) -> SourceFacts:
    """Each normalized output's loudness, measured first as MediaConvert measures before it corrects."""
    if not facts.has_audio:
        return facts
    selectors = (settings.get("Inputs") or [{}])[0].get("AudioSelectors") or {}
    measured = {}
    for name, description in normalized_audio(settings).items():
        loudness = input_facts.measure_loudness(loudness_command(description, selectors, str(input_path)))
        if loudness is not None:
            measured[name] = loudness
    return replace(facts, loudness=measured)


def _split_s3(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise unsupported(f"input or destination {url!r} (only s3:// is)")
    return parsed.netloc, parsed.path.lstrip("/")


def _download(bucket: str, key: str, path: Path, s3) -> None:
    url = f"s3://{bucket}/{key}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(path))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise JobError(1404, f"File Open Error: {url} does not exist") from None
        if code in ("403", "AccessDenied"):
            raise JobError(1401, f"Permissions Issue: access to {url} was denied") from None
        raise


def _upload(path: Path, url: str, s3) -> None:
    bucket, key = _split_s3(url)
    content_type = {".mp4": "video/mp4", ".wav": "audio/wav", ".jpg": "image/jpeg"}.get(
        path.suffix, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})


def _probe(path: Path) -> dict | None:
    """Duration and picture size of an output file, or None when ffprobe cannot read it."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,width,height",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    try:
        duration_s = float(data.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        duration_s = None
    return {
        "duration_s": duration_s,
        "width": (video or {}).get("width"),
        "height": (video or {}).get("height"),
    }


def _execute(plan: FfmpegPlan, duration_s: float | None, stderr_path: Path,
             on_progress: ProgressCallback | None, facts: SourceFacts | None, redactions: dict[str, str]) -> None:
    argv = [*plan.argv[:1], "-progress", "pipe:1", "-nostats", *plan.argv[1:]]
    with open(stderr_path, "w+b") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        reported = -1.0
        for line in process.stdout:
            if on_progress and duration_s and line.startswith("out_time_us="):
                value = line.split("=", 1)[1].strip()
                if value.lstrip("-").isdigit():
                    # Below 1.0 until the outputs are uploaded.
                    fraction = max(0.0, min(0.99, int(value) / 1e6 / duration_s))
                    if fraction > reported:
                        reported = fraction
                        on_progress(fraction)
        returncode = process.wait()
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace").strip()
    for local, shown in redactions.items():
        tail = tail.replace(local, shown)
    tail = tail[-_STDERR_TAIL_CHARS:]
    if returncode == 0:
        return
    detail = f"ffmpeg exited with {returncode}: {tail or '(no output)'}"
    if facts is None:
        raise JobError(1010, f"Input Error: the input could not be opened or decoded. {detail}")
    if not facts.has_video and plan.reads_video:
        raise JobError(1020, f"Video Error: the input has no video stream. {detail}")
    if not facts.has_audio and plan.reads_audio:
        raise JobError(1021, f"Audio Error: the input has no audio stream. {detail}")
    raise JobError(1999, detail)


def _output_detail(output: PlannedOutput, produced: list[Path], input_duration_s: float | None) -> dict:
    probe = _probe(produced[0]) or {}
    if output.kind == "frames":
        duration_s = input_duration_s or 0.0
    else:
        duration_s = probe.get("duration_s") or 0.0
    detail: dict = {"DurationInMs": int(math.floor(duration_s * 1000))}
    if output.kind in ("video", "frames") and probe.get("width"):
        detail["VideoDetails"] = {"WidthInPx": probe["width"], "HeightInPx": probe["height"]}
    return detail
