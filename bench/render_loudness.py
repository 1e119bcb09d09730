"""Benchmark: the clip render with two-pass loudness vs one pass, time and loudness side by side.

    .venv/bin/python bench/render_loudness.py [--repetitions 3]

Renders the same 19 s span of the generated sample talk (videoflow/sample.py: real read speech
with pauses) to a 1080x1920 clip without captions, exactly as
containers/render builds its ffmpeg commands, in alternation:

  A  two passes: the clip's audio measured (loudnorm, print_format=json), then the render with
     a linear gain from those measurements (what render.py does);
  B  one pass: the render with loudnorm's dynamic mode alone.

Prints the median seconds of each, the ratio A/B, and the integrated loudness each output
reaches against the -14 LUFS target; writes bench/results/render_loudness.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from derivatives import _cpus, _ffmpeg_version, timed  # noqa: E402

from containers.render import ffmpeg_plan  # noqa: E402
from containers.render.spec import RenderSpec  # noqa: E402
from videoflow.sample import make_sample  # noqa: E402

TARGET_LUFS = -14.0


def spec() -> RenderSpec:
    return RenderSpec.model_validate({
        "job_id": "bench", "clip_index": 0, "source": {"bucket": "bench", "key": "talk.mp4", "version_id": None},
        "start_s": 0.0, "end_s": 19.0, "output": {"bucket": "bench", "key": "clip.mp4"},
        "loudness_lufs": TARGET_LUFS,
    })


def integrated_lufs(path: Path) -> float:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "render_loudness.json")
    args = parser.parse_args()
    clip = spec()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        scratch = Path(scratch)
        source_path = make_sample(scratch / "talk.mp4")
        source = ffmpeg_plan.source_from_probe(json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(source_path)],
            capture_output=True, text=True, check=True).stdout))
        measure = ffmpeg_plan.measure_loudness_argv(clip, source_path)
        times: dict[str, list[float]] = {"two_pass": [], "one_pass": []}
        cpu: dict[str, list[float]] = {"two_pass": [], "one_pass": []}
        loudness: dict[str, float] = {}
        for run in range(args.repetitions):
            for name in ("two_pass", "one_pass"):
                out = scratch / f"{name}-{run}.mp4"
                wall = cpu_s = 0.0
                measured = None
                if name == "two_pass":
                    done = subprocess.run(measure, capture_output=True, text=True, check=True)
                    measured = ffmpeg_plan.parse_loudness(done.stderr)
                    wall, cpu_s = timed(measure)  # timed again without capture: the cost of the first pass
                argv = ffmpeg_plan.plan(clip, source, source_path, out, progress=False, measured_loudness=measured)
                render_wall, render_cpu = timed(argv)
                times[name].append(wall + render_wall)
                cpu[name].append(cpu_s + render_cpu)
                loudness[name] = integrated_lufs(out)
                print(f"  run {run + 1}: {name:<9} {times[name][-1]:6.2f} s wall {cpu[name][-1]:6.2f} s cpu "
                      f"{loudness[name]:6.1f} LUFS", flush=True)
    a, b = statistics.median(times["two_pass"]), statistics.median(times["one_pass"])
    a_cpu, b_cpu = statistics.median(cpu["two_pass"]), statistics.median(cpu["one_pass"])
    result = {
        "clip": {"seconds": clip.duration_s, "width": clip.target.width, "height": clip.target.height,
                 "source": "videoflow.sample.make_sample (LibriVox speech, 1280x720)"},
        "repetitions": args.repetitions,
        "median_s": {"two_pass": round(a, 3), "one_pass": round(b, 3)},
        "median_cpu_s": {"two_pass": round(a_cpu, 3), "one_pass": round(b_cpu, 3)},
        "ratio": round(a / b, 3), "cpu_ratio": round(a_cpu / b_cpu, 3),
        "integrated_lufs": {name: round(value, 1) for name, value in loudness.items()},
        "target_lufs": TARGET_LUFS,
        "commands": {"measure": shlex.join(measure)},
        "machine": {"cpus": _cpus(), "ffmpeg": _ffmpeg_version()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"A two-pass: median {a:.2f} s wall, {a_cpu:.2f} s cpu, {loudness['two_pass']:.1f} LUFS")
    print(f"B one-pass: median {b:.2f} s wall, {b_cpu:.2f} s cpu, {loudness['one_pass']:.1f} LUFS")
    print(f"A/B = {a / b:.3f} wall, {a_cpu / b_cpu:.3f} cpu (target {TARGET_LUFS:g} LUFS) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
