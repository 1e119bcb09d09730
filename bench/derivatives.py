"""Benchmark: the three derivatives in one ffmpeg pass vs the 540p proxy transcode alone.

    .venv/bin/python bench/derivatives.py [--seconds 60] [--repetitions 3]

Generates a 1080p30 H.264 + AAC stereo test file (lavfi testsrc2 + sine), then times, in
alternation so that both see the same machine state:

  A  the local derivatives step: the ffmpeg command that videoflow.local.mediaconvert builds
     from build_mediaconvert_job's settings (proxy + mono 16 kHz WAV + a JPEG every 2 s),
     exactly as create_job_sync runs it, minus the S3 transfers;
  B  a plain 540p transcode, `ffmpeg -i in.mp4 -vf scale=-2:540 ...`, with the same x264 and
     AAC options as the proxy in A (the same functions produce them).

Prints the median seconds of each and the ratio A/B, and writes bench/results/derivatives.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lambdas.build_mediaconvert_job.logic import MediaConvertJobRequest, plan_job  # noqa: E402
from lambdas.common import constants  # noqa: E402
from lambdas.common.models import MediaInfo, SourceObject  # noqa: E402
from videoflow.local.mediaconvert import (  # noqa: E402
    X264_PRESET,
    audio_codec_args,
    build_ffmpeg_command,
    video_codec_args,
)

TARGET_RATIO = 1.10
WIDTH, HEIGHT, FPS = 1920, 1080, 30


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-ac", "2", "-b:a", "128k", str(path)],
        check=True,
    )


def job_settings(source: Path, seconds: int) -> dict:
    request = MediaConvertJobRequest(
        job_id="bench-derivatives",
        source=SourceObject(bucket="bench", key=f"uploads/{source.name}", size_bytes=source.stat().st_size),
        media=MediaInfo(container="mp4", duration_s=seconds, size_bytes=source.stat().st_size, video_codec="h264",
                        coded_width=WIDTH, coded_height=HEIGHT, width=WIDTH, height=HEIGHT, frame_rate=FPS,
                        has_audio=True, audio_codec="aac", audio_channels=2, audio_sample_rate_hz=48_000),
    )
    return plan_job(request, output_bucket="bench", max_duration_s=constants.DEFAULT_MAX_DURATION_S).settings


def derivatives_command(settings: dict, source: Path, out_dir: Path) -> list[str]:
    plan = build_ffmpeg_command(settings, source, out_dir)
    for output in plan.outputs:
        output.local_path.parent.mkdir(parents=True, exist_ok=True)
    return plan.argv


def baseline_command(settings: dict, source: Path, out_dir: Path) -> list[str]:
    proxy = settings["OutputGroups"][0]["Outputs"][0]
    out_dir.mkdir(parents=True, exist_ok=True)
    return ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(source),
            "-vf", f"scale=-2:{constants.PROXY_SHORT_SIDE_PX}",
            *video_codec_args(proxy["VideoDescription"]),
            *audio_codec_args(proxy["AudioDescriptions"][0]),
            "-movflags", "+faststart", str(out_dir / "proxy.mp4")]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `argv`."""
    start = time.perf_counter()
    process = subprocess.Popen(argv)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the generated 1080p source")
    parser.add_argument("--repetitions", type=int, default=3, help="runs of each command, alternating")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "derivatives.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-derivatives-") as scratch:
        scratch = Path(scratch)
        source = scratch / "source.mp4"
        print(f"generating a {args.seconds} s {WIDTH}x{HEIGHT} H.264 source ...", flush=True)
        make_source(source, args.seconds)
        settings = job_settings(source, args.seconds)
        times: dict[str, list[float]] = {"derivatives": [], "proxy_only": []}
        cpu: dict[str, list[float]] = {"derivatives": [], "proxy_only": []}
        commands = {}
        load_before = os.getloadavg()[0]
        for run in range(args.repetitions):
            for name, build in (("derivatives", derivatives_command), ("proxy_only", baseline_command)):
                out_dir = scratch / f"{name}-{run}"
                argv = build(settings, source, out_dir)
                commands[name] = argv
                wall, cpu_s = timed(argv)
                times[name].append(wall)
                cpu[name].append(cpu_s)
                shutil.rmtree(out_dir, ignore_errors=True)
                print(f"  run {run + 1}: {name:<12} {wall:6.2f} s wall {cpu_s:6.2f} s cpu", flush=True)
        load_after = os.getloadavg()[0]

    a = statistics.median(times["derivatives"])
    b = statistics.median(times["proxy_only"])
    ratio = a / b
    a_cpu = statistics.median(cpu["derivatives"])
    b_cpu = statistics.median(cpu["proxy_only"])
    result = {
        "source": {"seconds": args.seconds, "width": WIDTH, "height": HEIGHT, "fps": FPS, "audio": "aac stereo"},
        "repetitions": args.repetitions,
        "x264_preset": X264_PRESET,
        "median_s": {"derivatives": round(a, 3), "proxy_only": round(b, 3)},
        "min_s": {name: round(min(values), 3) for name, values in times.items()},
        "runs_s": {name: [round(t, 3) for t in values] for name, values in times.items()},
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
        # CPU time (user + system) is far less sensitive than wall time to other work on the machine.
        "median_cpu_s": {"derivatives": round(a_cpu, 3), "proxy_only": round(b_cpu, 3)},
        "runs_cpu_s": {name: [round(t, 3) for t in values] for name, values in cpu.items()},
        "cpu_ratio": round(a_cpu / b_cpu, 3),
        "commands": {name: shlex.join(argv) for name, argv in commands.items()},
        "machine": {"cpus": _cpus(), "load_average_1m": [round(load_before, 2), round(load_after, 2)],
                    "python": platform.python_version(), "ffmpeg": _ffmpeg_version()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"A derivatives (proxy + audio + frames): median {a:.2f} s wall, {a_cpu:.2f} s cpu")
    print(f"B proxy-only 540p transcode:            median {b:.2f} s wall, {b_cpu:.2f} s cpu")
    print(f"A/B = {ratio:.3f} wall (target <= {TARGET_RATIO}), {a_cpu / b_cpu:.3f} cpu; "
          f"load average {load_before:.1f} -> {load_after:.1f} -> {args.output}")
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _ffmpeg_version() -> str:
    return subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]


if __name__ == "__main__":
    sys.exit(main())
