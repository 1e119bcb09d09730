"""The clip renderer: one planned clip, cut from the original, reframed to 9:16, captioned, loudness-normalized.

    python -m containers.render.render        (from the repository)
    python render.py                          (inside the image: ENTRYPOINT)

It runs as a Fargate task started by the workflow with `.waitForTaskToken` (long clips), or as
a plain process or in-process call without a token (short clips, the Lambda path:
`render_clip`).

Environment:
    RENDER_SPEC        the render spec as JSON (spec.py), or
    RENDER_SPEC_S3     where it is instead: s3://bucket/key (or bucket/key); one of the two is needed
    TASK_TOKEN         the Step Functions task token ($$.Task.Token); absent: no Step Functions calls,
                       the output JSON goes to stdout
    HEARTBEAT_S        seconds between SendTaskHeartbeat calls, default 30; the first is sent at start
    RENDER_ATTEMPT_ID  names this attempt's temporary object; default: a random id per process
    RENDER_PRESET      the x264 preset, default veryfast
    RENDER_WORK_DIR    where the source and the clip are written locally (default: the temp folder);
                       it needs room for the whole source and the clip
    FFMPEG, FFPROBE    the programs, default from PATH
    AWS_ENDPOINT_URL   optional; boto3 honours it (the local runner points it at moto)

What it does, in order: reads the spec; HeadObject of the source (that version) and a disk-space
check; downloads it; ffprobe (a corrupt or truncated source fails here, with ffprobe's reason);
checks that the clip lies inside the source; fetches the captions and shifts them to the clip;
runs ffmpeg (ffmpeg_plan.py) with -progress; checks the clip with ffprobe (duration within
0.1 s of end - start, H.264, the target size, AAC when the source has sound, a subtitle track
when attached); uploads it to `<output key>.partial-<attempt id>`; copies that object (by its
ETag) to the output key; deletes the partial and any partial an earlier attempt left; then
SendTaskSuccess. The output key therefore only ever holds a whole, checked clip, and a retried
render rewrites the same key with the same clip: there are never two copies.

While it works, a background thread sends SendTaskHeartbeat at least every HEARTBEAT_S. When
Step Functions answers a heartbeat with TaskTimedOut, InvalidToken or TaskDoesNotExist, the
workflow has stopped waiting for this attempt (a retry may already be running): the render
stops ffmpeg, deletes its partial and exits without publishing anything.

Output (SendTaskSuccess's output, or stdout without a token), one JSON object:
    {"bucket", "key", "duration_s", "width", "height", "bytes", "job_id", "clip_index", "captions"}
("captions" is the mode actually rendered: "none" when the clip's span had no cues.)

Failures: SendTaskFailure(error="RenderFailed", cause=<one readable line>) and exit 1. SIGTERM
(ECS StopTask, a Spot reclaim) stops ffmpeg, deletes the partial and sends
SendTaskFailure(error="RenderInterrupted"), which the workflow may retry; exit 143.
Progress and errors go to stderr, one line each ("clip 2: 40% (4.0/10.0 s)").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from pydantic import ValidationError

if __package__:
    from containers.render import ffmpeg_plan
    from containers.render.spec import Captions, RenderSpec
    from containers.render.thumbnail import make_thumbnail
else:  # run as a script inside the image: the modules sit beside this file
    import ffmpeg_plan  # type: ignore[no-redef]
    from spec import Captions, RenderSpec  # type: ignore[no-redef]
    from thumbnail import make_thumbnail  # type: ignore[no-redef]

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 143
ERROR_FAILED = "RenderFailed"
ERROR_INTERRUPTED = "RenderInterrupted"
DEFAULT_HEARTBEAT_S = 30.0
DURATION_TOLERANCE_S = 0.1
# A clip may end this close past the source's reported end (container durations are rounded).
SOURCE_END_SLACK_S = 0.05
DISK_HEADROOM_BYTES = 256 * 1024 * 1024
MAX_CAUSE_CHARS = 1000
PROGRESS_EVERY_S = 10.0
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Step Functions' answers that mean nobody waits for this token any more.
TOKEN_GONE_CODES = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
_MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"}
_DENIED_CODES = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
_ATTEMPT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PLAIN_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


class RenderError(Exception):
    """A render that cannot succeed; the message is the readable cause."""

    error = ERROR_FAILED


class Interrupted(RenderError):
    """SIGTERM: the task is being stopped. Not the clip's fault; a retry can succeed."""

    error = ERROR_INTERRUPTED


class TaskLost(RenderError):
    """Step Functions no longer waits for this attempt; nothing may be published."""


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderConfig:
    spec_json: str | None
    spec_s3: tuple[str, str] | None
    task_token: str | None
    heartbeat_s: float
    attempt_id: str
    preset: str
    work_dir: str | None
    ffmpeg: str
    ffprobe: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RenderConfig:
        spec_json = environ.get("RENDER_SPEC", "").strip() or None
        spec_s3 = _parse_s3_uri(environ["RENDER_SPEC_S3"]) if environ.get("RENDER_SPEC_S3", "").strip() else None
        if spec_json is None and spec_s3 is None:
            raise RenderError("no render spec: set RENDER_SPEC (JSON) or RENDER_SPEC_S3 (s3://bucket/key)")
        raw_heartbeat = environ.get("HEARTBEAT_S", "").strip() or str(DEFAULT_HEARTBEAT_S)
        try:
            heartbeat_s = float(raw_heartbeat)
        except ValueError:
            raise RenderError(f"HEARTBEAT_S must be a number of seconds, not {raw_heartbeat!r}") from None
        if not 0 < heartbeat_s <= 3600:
            raise RenderError(f"HEARTBEAT_S must be within (0, 3600] seconds, not {heartbeat_s:g}")
        attempt_id = environ.get("RENDER_ATTEMPT_ID", "").strip() or uuid.uuid4().hex[:16]
        if not _ATTEMPT_ID.match(attempt_id):
            raise RenderError(f"RENDER_ATTEMPT_ID may hold only letters, digits, - and _ (1-64), not {attempt_id!r}")
        preset = environ.get("RENDER_PRESET", "").strip() or ffmpeg_plan.DEFAULT_PRESET
        if preset not in X264_PRESETS:
            raise RenderError(f"RENDER_PRESET must be one of {', '.join(X264_PRESETS)}, not {preset!r}")
        return cls(
            spec_json=spec_json,
            spec_s3=spec_s3,
            task_token=environ.get("TASK_TOKEN", "").strip() or None,
            heartbeat_s=heartbeat_s,
            attempt_id=attempt_id,
            preset=preset,
            work_dir=environ.get("RENDER_WORK_DIR", "").strip() or None,
            ffmpeg=environ.get("FFMPEG", "").strip() or shutil.which("ffmpeg") or "ffmpeg",
            ffprobe=environ.get("FFPROBE", "").strip() or shutil.which("ffprobe") or "ffprobe",
        )


def load_spec(config: RenderConfig, s3) -> RenderSpec:
    if config.spec_json is not None:
        text, where = config.spec_json, "RENDER_SPEC"
    else:
        bucket, key = config.spec_s3
        where = f"s3://{bucket}/{key}"
        text = _call(lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"),
                     f"reading the render spec {where}")
    try:
        return RenderSpec.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'spec'}: {item['msg']}"
                             for item in error.errors())
        raise RenderError(f"the render spec in {where} is invalid: {problems}") from None


# ---------------------------------------------------------------------------------------------
# Heartbeats
# ---------------------------------------------------------------------------------------------


class StopSignal:
    """Set when the render must stop: the task token is gone (or the caller wants it stopped)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def check(self) -> None:
        if self.event.is_set():
            raise TaskLost(self.reason)


class Heartbeat:
    """SendTaskHeartbeat now and then at least every `interval_s`, from a daemon thread, while in the `with`.

    Throttling and network errors are logged and the next beat goes out on time; a token that
    Step Functions no longer knows sets `stop`.
    """

    def __init__(self, sfn, token: str | None, interval_s: float, log: Callable[[str], None] | None = None):
        self.sfn, self.token, self.interval_s = sfn, token, interval_s
        self.log = log or _log
        self.stop = StopSignal()
        self.sent = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.token:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 10)

    def _run(self) -> None:
        next_beat = time.monotonic()
        while not self._done.is_set():
            next_beat += self.interval_s
            self._beat()
            if self.stop.is_set():
                return
            # Scheduled from the previous beat's start, so a slow call does not stretch the gap.
            self._done.wait(max(0.0, next_beat - time.monotonic()))

    def _beat(self) -> None:
        try:
            self.sfn.send_task_heartbeat(taskToken=self.token)
            self.sent += 1
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in TOKEN_GONE_CODES:
                self.stop.set(f"Step Functions no longer waits for this render ({code}); stopped without publishing")
                self.log(f"heartbeat: {code}: the workflow stopped waiting; stopping")
            else:
                self.log(f"heartbeat failed ({code or error}); the next one is due in {self.interval_s:g} s")
        except Exception as error:  # noqa: BLE001 - a missed beat must not kill the render
            self.log(f"heartbeat failed ({type(error).__name__}: {error}); the next one is due in {self.interval_s:g} s")


# ---------------------------------------------------------------------------------------------
# The render
# ---------------------------------------------------------------------------------------------


def partial_key(output_key: str, attempt_id: str) -> str:
    """Where an attempt uploads its clip before the check: <output key>.partial-<attempt id>."""
    return f"{output_key}.partial-{attempt_id}"


def render_clip(
    spec: RenderSpec,
    s3,
    *,
    attempt_id: str | None = None,
    work_dir: str | None = None,
    preset: str = ffmpeg_plan.DEFAULT_PRESET,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    stop: StopSignal | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Render the clip `spec` describes into spec.output and return the output document (module docstring).

    Raises RenderError (readable cause), TaskLost when `stop` is set, Interrupted on SIGTERM.
    """
    log = log or _log
    stop = stop or StopSignal()
    attempt_id = attempt_id or uuid.uuid4().hex[:16]
    name = f"clip {spec.clip_index}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="render-", dir=work_dir) as scratch:
        folder = Path(scratch)
        source = spec.source
        head = _call(lambda: s3.head_object(**_versioned(source.bucket, source.key, source.version_id)),
                     f"reading the source {source.uri}")
        source_bytes = int(head.get("ContentLength", 0))
        free = shutil.disk_usage(folder).free
        if source_bytes + DISK_HEADROOM_BYTES > free:
            raise RenderError(f"not enough disk space in {folder.parent} for the source: it is "
                              f"{_human_bytes(source_bytes)}, {_human_bytes(free)} free "
                              "(raise the task's ephemeral storage)")
        stop.check()
        # Keep a plain extension: it helps ffmpeg with the few formats it cannot recognise by content.
        suffix = Path(source.key).suffix.lower()
        source_path = folder / ("source" + (suffix if _PLAIN_SUFFIX.fullmatch(suffix) else ""))
        log(f"{name}: downloading {source.uri} ({_human_bytes(source_bytes)})")
        extra = {"VersionId": source.version_id} if source.version_id else None
        _call(lambda: s3.download_file(source.bucket, source.key, str(source_path), ExtraArgs=extra),
              f"downloading the source {source.uri}")
        stop.check()

        try:
            video = ffmpeg_plan.source_from_probe(_ffprobe(ffprobe, source_path))
        except (ValueError, RuntimeError) as error:
            raise RenderError(f"the source {source.uri} is not readable media: {error}") from None
        if video.duration_s is not None and spec.end_s > video.duration_s + SOURCE_END_SLACK_S:
            raise RenderError(f"the clip {spec.start_s:.3f}-{spec.end_s:.3f} s ends after the source, "
                              f"which lasts {video.duration_s:.3f} s")

        captions_path = None
        if spec.captions.mode != "none":
            vtt = spec.captions.vtt
            text = _call(lambda: s3.get_object(Bucket=vtt.bucket, Key=vtt.key)["Body"].read().decode("utf-8-sig"),
                         f"reading the captions {vtt.uri}")
            try:
                shifted = ffmpeg_plan.shift_vtt(text, spec.start_s, spec.end_s)
            except ValueError as error:
                raise RenderError(f"the captions {vtt.uri} are not usable WebVTT: {error}") from None
            if shifted.cue_count == 0:
                log(f"{name}: no caption cue falls inside {spec.start_s:.3f}-{spec.end_s:.3f} s; rendering without")
                spec = spec.model_copy(update={"captions": Captions()})
            else:
                captions_path = folder / "captions.vtt"
                captions_path.write_text(shifted.text, encoding="utf-8")

        measured = _measure_loudness(spec, source_path, ffmpeg, log) if video.has_audio else None
        stop.check()
        clip_path = folder / "clip.mp4"
        argv = ffmpeg_plan.plan(spec, video, source_path, clip_path, captions_path, preset=preset, ffmpeg=ffmpeg,
                                measured_loudness=measured)
        log(f"{name}: rendering {spec.start_s:.3f}-{spec.end_s:.3f} s of {video.display_width}x"
            f"{video.display_height} to {spec.target.width}x{spec.target.height}, captions {spec.captions.mode}")
        _run_ffmpeg(argv, spec.duration_s, stop, lambda message: log(f"{name}: {message}"))
        stop.check()

        facts = probe_output(ffprobe, clip_path)
        check_output(facts, spec, expect_audio=video.has_audio, expect_subtitles=spec.captions.mode == "attach")
        size = clip_path.stat().st_size  # the clip's bytes from here on

        thumbnail_path = None
        if spec.thumbnail is not None:
            thumbnail_path = folder / "thumbnail.jpg"
            at_s = spec.thumbnail_at_s if spec.thumbnail_at_s is not None else facts.duration_s / 2
            try:
                make_thumbnail(ffmpeg, clip_path, min(at_s, max(0.0, facts.duration_s - 0.1)), thumbnail_path)
            except RuntimeError as error:
                raise RenderError(f"the thumbnail could not be made: {error}") from None

        metadata = {"job-id": _ascii(spec.job_id), "clip-index": str(spec.clip_index),
                    "source-version": _ascii(source.version_id or ""), "attempt": attempt_id}
        # The thumbnail first: a published clip always has its thumbnail beside it.
        if thumbnail_path is not None:
            _publish(s3, thumbnail_path, spec.thumbnail, "image/jpeg", metadata, attempt_id, stop, log)
        _publish(s3, clip_path, spec.output, "video/mp4", metadata, attempt_id, stop, log)
        output = spec.output

    document = {
        "bucket": output.bucket,
        "key": output.key,
        "duration_s": round(facts.duration_s, 3),
        "width": facts.width,
        "height": facts.height,
        "bytes": size,
        "job_id": spec.job_id,
        "clip_index": spec.clip_index,
        "captions": spec.captions.mode,
        "thumbnail": {"bucket": spec.thumbnail.bucket, "key": spec.thumbnail.key} if spec.thumbnail else None,
        "render_seconds": round(time.monotonic() - started, 3),
    }
    log(f"{name}: {facts.duration_s:.3f} s {facts.width}x{facts.height} {_human_bytes(size)} -> {output.uri} "
        f"in {time.monotonic() - started:.1f}s")
    return document


def _measure_loudness(spec: RenderSpec, source_path: Path, ffmpeg: str, log: Callable[[str], None]) -> dict | None:
    """The first of two loudnorm passes (audio only, seconds); None falls back to a single pass."""
    argv = ffmpeg_plan.measure_loudness_argv(spec, source_path, ffmpeg)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=max(60.0, spec.duration_s))
    except subprocess.TimeoutExpired:
        done = None
    measured = ffmpeg_plan.parse_loudness(done.stderr) if done and done.returncode == 0 else None
    log(f"clip {spec.clip_index}: loudness " + (f"measured {measured['input_i']} LUFS, normalizing to "
                                                f"{spec.loudness_lufs:g} in a second pass" if measured
                                                else "not measurable (silence?), single-pass normalization"))
    return measured


def _publish(s3, path: Path, location, content_type: str, metadata: dict, attempt_id: str, stop: StopSignal,
             log: Callable[[str], None]) -> None:
    """Upload to <key>.partial-<attempt>, check its size, copy it (by ETag) to the key, delete the partials.

    The key therefore only ever holds a whole, checked file; a retry rewrites the same key.
    """
    size = path.stat().st_size
    temporary = partial_key(location.key, attempt_id)
    try:
        stop.check()
        _call(lambda: s3.upload_file(str(path), location.bucket, temporary,
                                     ExtraArgs={"ContentType": content_type, "Metadata": metadata}),
              f"uploading to s3://{location.bucket}/{temporary}")
        landed = _call(lambda: s3.head_object(Bucket=location.bucket, Key=temporary),
                       f"checking s3://{location.bucket}/{temporary}")
        if int(landed.get("ContentLength", -1)) != size:
            raise RenderError(f"s3://{location.bucket}/{temporary} holds {landed.get('ContentLength')} bytes, "
                              f"the file has {size}")
        stop.check()
        _call(lambda: s3.copy({"Bucket": location.bucket, "Key": temporary}, location.bucket, location.key,
                              ExtraArgs={"ContentType": content_type, "Metadata": metadata,
                                         "MetadataDirective": "REPLACE", "CopySourceIfMatch": landed["ETag"]}),
              f"publishing {location.uri}")
    except BaseException:
        # Whatever stopped it (an error, TaskLost, SIGTERM), the partial goes; deleting a key that
        # was never written is a no-op.
        _delete_quietly(s3, location.bucket, temporary, log)
        raise
    _delete_quietly(s3, location.bucket, temporary, log)
    _delete_stale_partials(s3, location.bucket, location.key, log)


@dataclass(frozen=True)
class OutputFacts:
    duration_s: float
    video_codec: str | None
    profile: str | None
    width: int
    height: int
    audio_codec: str | None
    subtitle_codec: str | None


def probe_output(ffprobe: str, path: Path) -> OutputFacts:
    try:
        probe = _ffprobe(ffprobe, path)
    except RuntimeError as error:
        raise RenderError(f"the rendered clip is not readable: {error}") from None
    streams = probe.get("streams") or []

    def first(kind: str) -> dict:
        return next((stream for stream in streams if stream.get("codec_type") == kind), {})

    video, audio, subtitle = first("video"), first("audio"), first("subtitle")
    duration = ffmpeg_plan._float(video.get("duration")) or ffmpeg_plan._float(
        (probe.get("format") or {}).get("duration")) or 0.0
    return OutputFacts(duration_s=duration, video_codec=video.get("codec_name"), profile=video.get("profile"),
                       width=int(video.get("width") or 0), height=int(video.get("height") or 0),
                       audio_codec=audio.get("codec_name"), subtitle_codec=subtitle.get("codec_name"))


def check_output(facts: OutputFacts, spec: RenderSpec, expect_audio: bool, expect_subtitles: bool) -> None:
    """RenderError naming every way the clip differs from the spec."""
    problems = []
    if abs(facts.duration_s - spec.duration_s) > DURATION_TOLERANCE_S:
        problems.append(f"it lasts {facts.duration_s:.3f} s, not {spec.duration_s:.3f} s (± {DURATION_TOLERANCE_S} s)")
    if facts.video_codec != "h264":
        problems.append(f"its video is {facts.video_codec or 'missing'}, not H.264")
    if (facts.width, facts.height) != (spec.target.width, spec.target.height):
        problems.append(f"it is {facts.width}x{facts.height}, not {spec.target.width}x{spec.target.height}")
    if expect_audio and facts.audio_codec != "aac":
        problems.append(f"its audio is {facts.audio_codec or 'missing'}, not AAC")
    if expect_subtitles and facts.subtitle_codec != "mov_text":
        problems.append(f"its subtitle track is {facts.subtitle_codec or 'missing'}, not mov_text")
    if problems:
        raise RenderError("the rendered clip failed its check: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# The process
# ---------------------------------------------------------------------------------------------


def main(environ: Mapping[str, str] | None = None, s3=None, sfn=None, stdout=None) -> int:
    """The process entrypoint; returns the exit code (see the module docstring)."""
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    token = (environ.get("TASK_TOKEN") or "").strip() or None
    restore = _handle_sigterm()
    try:
        if token and sfn is None:
            sfn = boto3.client("stepfunctions", config=_client_config())
        try:
            config = RenderConfig.from_env(environ)
            s3 = s3 or boto3.client("s3", config=_client_config())
            with Heartbeat(sfn, token, config.heartbeat_s) as heartbeat:
                spec = load_spec(config, s3)
                document = render_clip(spec, s3, attempt_id=config.attempt_id, work_dir=config.work_dir,
                                       preset=config.preset, ffmpeg=config.ffmpeg, ffprobe=config.ffprobe,
                                       stop=heartbeat.stop)
            if token:
                _send(sfn, "send_task_success", taskToken=token, output=json.dumps(document))
            print(json.dumps(document), file=stdout, flush=True)
            return EXIT_OK
        except TaskLost as lost:
            _log(f"error: {lost}")
            return EXIT_FAILED
        except RenderError as error:
            return _fail(sfn, token, error.error, str(error),
                         EXIT_INTERRUPTED if isinstance(error, Interrupted) else EXIT_FAILED)
        except Exception as error:  # noqa: BLE001 - the workflow must hear why, in one line
            return _fail(sfn, token, ERROR_FAILED, f"unexpected {type(error).__name__}: {error}", EXIT_FAILED)
    finally:
        restore()


def _fail(sfn, token: str | None, error: str, cause: str, code: int) -> int:
    cause = one_line(cause)
    _log(f"error: {cause}")
    if token:
        _send(sfn, "send_task_failure", taskToken=token, error=error, cause=cause)
    return code


def _send(sfn, method: str, **arguments) -> None:
    try:
        getattr(sfn, method)(**arguments)
    except Exception as error:  # noqa: BLE001 - nothing more can be done; the heartbeat timeout will tell
        _log(f"{method} failed: {type(error).__name__}: {error}")


def one_line(text: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """Whitespace and line breaks collapsed to single spaces, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _handle_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into Interrupted in the main thread (python is PID 1 in the container: without a
    handler the signal would be ignored until SIGKILL). Returns a function that restores the old one."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupted(signum, frame):
        raise Interrupted("the render was stopped (SIGTERM) before it finished")

    previous = signal.signal(signal.SIGTERM, interrupted)
    return lambda: signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _run_ffmpeg(argv: list[str], duration_s: float, stop: StopSignal, log: Callable[[str], None]) -> None:
    """Run ffmpeg with -progress on stdout, logging progress; killed when `stop` is set."""
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", bufsize=1)
    except OSError as error:
        raise RenderError(f"cannot start ffmpeg ({argv[0]}): {error}") from None
    errors: deque[str] = deque(maxlen=40)
    reader = threading.Thread(target=lambda: errors.extend(line.rstrip() for line in process.stderr), daemon=True)
    reader.start()

    def watch() -> None:
        while process.poll() is None:
            if stop.event.wait(0.2):
                process.kill()
                return

    threading.Thread(target=watch, daemon=True).start()
    last_logged, last_percent = time.monotonic(), -1
    try:
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                done_s = min(int(value) / 1e6, duration_s)
                percent = int(100 * done_s / duration_s) if duration_s else 100
                if percent // 10 > last_percent // 10 or time.monotonic() - last_logged >= PROGRESS_EVERY_S:
                    log(f"{percent}% ({done_s:.1f}/{duration_s:.1f} s)")
                    last_logged, last_percent = time.monotonic(), percent
        returncode = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    stop.check()
    if returncode != 0:
        detail = _ffmpeg_messages("\n".join(errors), Path(argv[-1]).parent) or "no message"
        raise RenderError(f"ffmpeg failed (exit {returncode}): {detail}")
    if last_percent < 100:
        log(f"100% ({duration_s:.1f}/{duration_s:.1f} s)")


def _ffprobe(ffprobe: str, path: Path) -> dict:
    """ffprobe's JSON for `path`; RuntimeError with ffprobe's own reason when it cannot read it."""
    try:
        completed = subprocess.run(
            [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
            capture_output=True, text=True, errors="replace", timeout=120, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"ffprobe could not run: {error}") from None
    if completed.returncode != 0:
        raise RuntimeError(_ffmpeg_messages(completed.stderr, path.parent) or f"ffprobe exit {completed.returncode}")
    try:
        return json.loads(completed.stdout or "{}")
    except ValueError:
        raise RuntimeError("ffprobe printed something that is not JSON") from None


def _ffmpeg_messages(stderr: str, folder: Path, keep: int = 3) -> str:
    """ffmpeg's or ffprobe's last few distinct messages on one line, without the "[mov,mp4,... @ 0x55d1]"
    prefixes and the local paths, which mean nothing upstream: "moov atom not found; Invalid data found ..."."""
    local_path = re.compile(re.escape(str(folder)) + r"/[\w.-]+:\s*")
    messages: list[str] = []
    for line in stderr.splitlines():
        text = local_path.sub("", re.sub(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*", "", line.strip())).strip()
        if text and text not in messages:
            messages.append(text)
    return "; ".join(messages[-keep:])


def _call(action, what: str):
    try:
        return action()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _MISSING_CODES:
            raise RenderError(f"{what}: it does not exist ({code})") from None
        if code in _DENIED_CODES:
            raise RenderError(f"{what}: {code} (check the task role)") from None
        message = error.response.get("Error", {}).get("Message", "")
        raise RenderError(f"{what}: {code or 'error'}{': ' + message if message else ''}") from None
    except NoCredentialsError:
        raise RenderError(f"{what}: no AWS credentials (the task role is missing)") from None
    except BotoCoreError as error:
        raise RenderError(f"{what}: {error}") from None


def _delete_quietly(s3, bucket: str, key: str, log: Callable[[str], None]) -> None:
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception as error:  # noqa: BLE001 - best effort; compensate removes what is left
        log(f"could not delete s3://{bucket}/{key}: {error}")


def _delete_stale_partials(s3, bucket: str, output_key: str, log: Callable[[str], None]) -> None:
    """Partials an earlier, killed attempt left beside the clip: the clip is published, they are garbage."""
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=partial_key(output_key, ""))
    except Exception as error:  # noqa: BLE001 - best effort
        log(f"could not list partials of s3://{bucket}/{output_key}: {error}")
        return
    for item in listed.get("Contents") or []:
        _delete_quietly(s3, bucket, item["Key"], log)


def _versioned(bucket: str, key: str, version_id: str | None) -> dict:
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}


def _parse_s3_uri(value: str) -> tuple[str, str]:
    text = value.strip().removeprefix("s3://")
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        raise RenderError(f"RENDER_SPEC_S3 must be s3://bucket/key, not {value!r}")
    return bucket, key


def _client_config() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _human_bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count} B"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
