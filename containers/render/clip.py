"""The render itself: one planned clip, cut from the original, reframed, captioned, loudness-normalized, checked.

It makes the clip the spec describes or raises a readable reason why not, and it checks the
result before anything is published (publish.py), so a bad clip never reaches the output key.
The Fargate task (render.py) and the render_short_clip Lambda (lambda_handler.py) both call
`render_clip`.

In order: HeadObject of the source (that version) and a disk-space check; the download;
ffprobe (a corrupt or truncated source fails here, with ffprobe's reason); the clip must lie
inside the source; the captions, shifted to the clip; ffmpeg (ffmpeg_plan.py) with -progress;
ffprobe of the clip (duration within 0.1 s of end - start, H.264, the target size, AAC when
the source has sound, a subtitle track when attached); the thumbnail; then publishing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__:
    from containers.render import ffmpeg_plan
    from containers.render.errors import RenderError, log as log_to_stderr, s3_call
    from containers.render.heartbeat import StopSignal
    from containers.render.publish import publish
    from containers.render.spec import Captions, RenderSpec
    from containers.render.thumbnail import make_thumbnail
else:  # run as a script inside the image: the modules sit beside this file
    import ffmpeg_plan  # type: ignore[no-redef]
    from errors import RenderError, log as log_to_stderr, s3_call  # type: ignore[no-redef]
    from heartbeat import StopSignal  # type: ignore[no-redef]
    from publish import publish  # type: ignore[no-redef]
    from spec import Captions, RenderSpec  # type: ignore[no-redef]
    from thumbnail import make_thumbnail  # type: ignore[no-redef]

DURATION_TOLERANCE_S = 0.1
# A clip may end this close past the source's reported end (container durations are rounded).
SOURCE_END_SLACK_S = 0.05
DISK_HEADROOM_BYTES = 256 * 1024 * 1024
PROGRESS_EVERY_S = 10.0
_PLAIN_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


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
    """Render the clip `spec` describes into spec.output and return the output document:

        {"bucket", "key", "duration_s", "width", "height", "bytes", "job_id", "clip_index", "captions",
         "thumbnail", "render_seconds"}

    ("captions" is the mode actually rendered: "none" when the clip's span had no cues.)
    Raises RenderError (readable cause), TaskLost when `stop` is set, Interrupted on SIGTERM.
    """
    log = log or log_to_stderr
    stop = stop or StopSignal()
    attempt_id = attempt_id or uuid.uuid4().hex[:16]
    name = f"clip {spec.clip_index}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="render-", dir=work_dir) as scratch:
        folder = Path(scratch)
        source = spec.source
        head = s3_call(lambda: s3.head_object(**_versioned(source.bucket, source.key, source.version_id)),
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
        s3_call(lambda: s3.download_file(source.bucket, source.key, str(source_path), ExtraArgs=extra),
                f"downloading the source {source.uri}")
        stop.check()

        try:
            video = ffmpeg_plan.source_from_probe(_ffprobe(ffprobe, source_path))
        except (ValueError, RuntimeError) as error:
            raise RenderError(f"the source {source.uri} is not readable media: {error}") from None
        if video.duration_s is not None and spec.end_s > video.duration_s + SOURCE_END_SLACK_S:
            raise RenderError(f"the clip {spec.start_s:.3f}-{spec.end_s:.3f} s ends after the source, "
                              f"which lasts {video.duration_s:.3f} s")

        captions_path = top_captions_path = None
        if spec.captions.mode != "none":
            vtt = spec.captions.vtt
            text = s3_call(
                lambda: s3.get_object(Bucket=vtt.bucket, Key=vtt.key)["Body"].read().decode("utf-8-sig"),
                f"reading the captions {vtt.uri}",
            )
            try:
                shifted = ffmpeg_plan.shift_vtt(text, spec.start_s, spec.end_s)
            except ValueError as error:
                raise RenderError(f"the captions {vtt.uri} are not usable WebVTT: {error}") from None
            if shifted.cue_count == 0:
                log(f"{name}: no caption cue falls inside {spec.start_s:.3f}-{spec.end_s:.3f} s; rendering without")
                spec = spec.model_copy(update={"captions": Captions()})
            elif spec.captions.mode == "burn" and spec.captions.top_spans:
                # Cues under a top span are drawn at the top of the frame, from a file of their own.
                bottom, top = ffmpeg_plan.split_captions(shifted, spec.captions.top_spans)
                captions_path = _write_cues(folder / "captions.vtt", bottom)
                top_captions_path = _write_cues(folder / "captions-top.vtt", top)
            else:
                captions_path = _write_cues(folder / "captions.vtt", shifted)

        measured = _measure_loudness(spec, source_path, ffmpeg, log) if video.has_audio else None
        stop.check()
        clip_path = folder / "clip.mp4"
        argv = ffmpeg_plan.plan(spec, video, source_path, clip_path, captions_path, preset=preset, ffmpeg=ffmpeg,
                                measured_loudness=measured, top_captions_path=top_captions_path)
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
            publish(s3, thumbnail_path, spec.thumbnail, "image/jpeg", metadata, attempt_id, stop, log)
        publish(s3, clip_path, spec.output, "video/mp4", metadata, attempt_id, stop, log)
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


def _write_cues(path: Path, captions: ffmpeg_plan.ShiftedCaptions) -> Path | None:
    """The captions written to `path`, or None (no file) when they hold no cue."""
    if captions.cue_count == 0:
        return None
    path.write_text(captions.text, encoding="utf-8")
    return path


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
            [ffprobe, "-v", "error", *ffmpeg_plan.SOURCE_GUARD, "-show_format", "-show_streams", "-of", "json",
             str(path)],
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


def _versioned(bucket: str, key: str, version_id: str | None) -> dict:
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}


def _ascii(text: str) -> str:
    """S3 user metadata travels as HTTP headers: ASCII only."""
    return text.encode("ascii", "replace").decode("ascii")


def _human_bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count} B"
