"""Per-frame analysis for the vision workers: pure functions over decoded images.

Every measure is computed at a fixed working size, so a score means the same thing
whatever the size of the frame (MediaConvert writes frames whose shorter side is 540 px).

- `shot_change_score` (0..1): how different a frame is from the one before it, 2 s
  earlier. Frames that far apart differ a lot inside one shot (people move, the camera
  pans), so the score is led by what motion leaves alone, the colour distribution (an
  HSV histogram distance), and corrected by layout: a coarse luma layout difference and
  an edge change ratio with a motion tolerance. Each term alone fails somewhere (two
  shots of one room share colours; a pan moves every edge); together a hard cut scores
  high and gradual motion stays low.
- `sharpness` (0..1): the variance of the Laplacian of the luma (focus measure),
  mapped by v / (v + 100): the customary "blurry below 100" point is 0.5.
- `brightness` (0..1): mean luma (BT.601), 0 black, 1 white.
- `faces`: OpenCV's frontal-face Haar cascades, which ship inside the opencv-python-headless
  4.x wheel (`cv2.data.haarcascades`; OpenCV 5 dropped them); nothing is downloaded. Two
  cascades must agree (see `detect_faces`). Boxes are normalized to 0..1 of the frame's
  width and height.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

ANALYSIS_VERSION = "1"
FACE_MODEL = "opencv-haarcascade-frontalface-alt2+default"

# Working sizes (the shorter side, in pixels).
MEASURE_SHORT_SIDE_PX = 540  # sharpness, brightness, faces
HISTOGRAM_SHORT_SIDE_PX = 90  # colour histograms: a small image is enough, and fast
LAYOUT_SIZE_PX = (16, 9)  # the coarse luma layout (width, height), about one cell per 7% of the frame
EDGE_SHORT_SIDE_PX = 135  # edge maps for the edge change ratio
EDGE_MOTION_TOLERANCE_PX = 5  # an edge that moved this far (at EDGE_SHORT_SIDE_PX) still counts as kept

# How the three distances make one shot-change score (weights sum to 1).
HISTOGRAM_WEIGHT = 0.5
LAYOUT_WEIGHT = 0.25
EDGE_WEIGHT = 0.25
LAYOUT_FULL_SCALE = 0.25  # a mean luma change of a quarter of the range counts as a complete change

SHARPNESS_HALF_POINT = 100.0  # Laplacian variance that maps to sharpness 0.5

FACE_PROPOSER = "alt2"  # haarcascade_frontalface_alt2.xml
FACE_CONFIRMER = "default"  # haarcascade_frontalface_default.xml
FACE_MIN_SIZE_FRACTION = 0.06  # smallest face: 6% of the shorter side (32 px at 540)
FACE_MIN_NEIGHBOURS = 5  # both cascades need this many merged detections
FACE_MIN_IOU = 0.4  # the confirming box must overlap the proposal this much
FACE_SCALE_FACTOR = 1.1
FACE_SCORE_SCALE = 12.0  # neighbour count that maps to score 1 - 1/e (0.63)


@dataclass(frozen=True)
class Face:
    x: float
    y: float
    w: float
    h: float
    score: float

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": self.score}


@dataclass(frozen=True)
class Signature:
    """What the shot-change score compares: small, so only the previous frame's is kept."""

    hue_saturation: np.ndarray  # normalized 2-D histogram
    value: np.ndarray  # normalized 1-D histogram
    layout: np.ndarray  # coarse luma, float32 0..1
    edges: np.ndarray  # binary edge map (uint8 0/1)
    edges_dilated: np.ndarray  # the same, dilated by the motion tolerance


@dataclass(frozen=True)
class FrameAnalysis:
    shot_change_score: float
    sharpness: float
    brightness: float
    faces: list[Face]
    signature: Signature


def decode(data: bytes) -> np.ndarray:
    """A JPEG (or PNG) as a BGR image; ValueError when the bytes are not a readable image."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def analyze(image: np.ndarray, previous: Signature | None) -> FrameAnalysis:
    """Everything the timeline needs about one BGR frame; `previous` is the frame before it, if any."""
    working = _resize_short_side(image, MEASURE_SHORT_SIDE_PX)
    gray = cv2.cvtColor(working, cv2.COLOR_BGR2GRAY)
    current = signature(image)
    return FrameAnalysis(
        shot_change_score=0.0 if previous is None else shot_change_score(previous, current),
        sharpness=_sharpness(gray),
        brightness=round(float(gray.mean()) / 255.0, 4),
        faces=detect_faces(gray),
        signature=current,
    )


def signature(image: np.ndarray) -> Signature:
    small = _resize_short_side(image, HISTOGRAM_SHORT_SIDE_PX)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hue_saturation = cv2.calcHist([hsv], [0, 1], None, [18, 8], [0, 180, 0, 256])
    value = cv2.calcHist([hsv], [2], None, [16], [0, 256])
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    layout = cv2.resize(gray, LAYOUT_SIZE_PX, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    edge_gray = cv2.GaussianBlur(_resize_short_side(gray, EDGE_SHORT_SIDE_PX), (3, 3), 0)
    edges = (cv2.Canny(edge_gray, 60, 150) > 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_MOTION_TOLERANCE_PX + 1,) * 2)
    return Signature(
        hue_saturation=_normalized(hue_saturation),
        value=_normalized(value),
        layout=layout,
        edges=edges,
        edges_dilated=cv2.dilate(edges, kernel),
    )


def shot_change_score(previous: Signature, current: Signature) -> float:
    """0 (the same picture) .. 1 (nothing in common): high at a hard cut, low under gradual motion."""
    histogram = 0.5 * _hellinger(previous.hue_saturation, current.hue_saturation) + 0.5 * _hellinger(
        previous.value, current.value
    )
    layout = min(1.0, float(np.abs(previous.layout - current.layout).mean()) / LAYOUT_FULL_SCALE)
    score = HISTOGRAM_WEIGHT * histogram + LAYOUT_WEIGHT * layout + EDGE_WEIGHT * _edge_change_ratio(previous, current)
    return round(min(1.0, max(0.0, score)), 4)


def detect_faces(gray: np.ndarray) -> list[Face]:
    """Frontal faces in a grayscale frame, as boxes normalized to the frame, best first.

    Two of OpenCV's cascades must agree: `alt2` proposes (it has the fewest false alarms on
    texture), `default` confirms within the proposal's neighbourhood. A cascade's evidence is
    its neighbour count (overlapping detections merged into the box); the score maps the
    weaker of the two counts n to 1 - exp(-n / 12): 5 neighbours (the customary minimum)
    give 0.34, 12 give 0.63, a clear face (30 or more) 0.9 and above.
    """
    height, width = gray.shape[:2]
    min_side = max(24, int(round(min(height, width) * FACE_MIN_SIZE_FRACTION)))
    equalized = cv2.equalizeHist(gray)
    proposals, proposal_counts = _cascade(FACE_PROPOSER).detectMultiScale2(
        equalized, scaleFactor=FACE_SCALE_FACTOR, minNeighbors=FACE_MIN_NEIGHBOURS, minSize=(min_side, min_side)
    )
    faces = []
    for (x, y, w, h), proposed in zip(np.asarray(proposals).reshape(-1, 4), np.asarray(proposal_counts).ravel(),
                                      strict=True):
        confirmed = _confirmation(equalized, (int(x), int(y), int(w), int(h)), min_side)
        if confirmed < FACE_MIN_NEIGHBOURS:
            continue
        score = 1.0 - math.exp(-min(int(proposed), confirmed) / FACE_SCORE_SCALE)
        faces.append(Face(x=round(float(x) / width, 4), y=round(float(y) / height, 4), w=round(float(w) / width, 4),
                          h=round(float(h) / height, 4), score=round(score, 4)))
    return sorted(faces, key=lambda face: -face.score)


def _confirmation(equalized: np.ndarray, box: tuple[int, int, int, int], min_side: int) -> int:
    """Neighbour count of the confirming cascade for a box overlapping the proposal (0 when none)."""
    x, y, w, h = box
    margin = w // 2
    left, top = max(0, x - margin), max(0, y - margin)
    crop = equalized[top:y + h + margin, left:x + w + margin]
    boxes, counts = _cascade(FACE_CONFIRMER).detectMultiScale2(
        crop, scaleFactor=FACE_SCALE_FACTOR, minNeighbors=1, minSize=(min_side, min_side)
    )
    best = 0
    for (cx, cy, cw, ch), count in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(counts).ravel(), strict=True):
        if _iou(box, (int(cx) + left, int(cy) + top, int(cw), int(ch))) >= FACE_MIN_IOU:
            best = max(best, int(count))
    return best


def _iou(first: tuple[int, int, int, int], second: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    overlap_w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_h = max(0, min(ay + ah, by + bh) - max(ay, by))
    overlap = overlap_w * overlap_h
    return overlap / float(aw * ah + bw * bh - overlap)


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, f"haarcascade_frontalface_{name}.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"the face model did not load from {path}")
    return cascade


def _sharpness(gray: np.ndarray) -> float:
    variance = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    return round(variance / (variance + SHARPNESS_HALF_POINT), 4)


def _edge_change_ratio(previous: Signature, current: Signature) -> float:
    """Share of edges that appeared or vanished (Zabih et al.), tolerant of motion up to a few pixels.

    Two frames without edges (flat colour) have not changed; one with and one without have.
    """
    current_edges, current_dilated = current.edges, current.edges_dilated
    if current_edges.shape != previous.edges.shape:  # frames of different sizes: compare on the earlier grid
        size = (previous.edges.shape[1], previous.edges.shape[0])
        current_edges = cv2.resize(current_edges, size, interpolation=cv2.INTER_NEAREST)
        current_dilated = cv2.resize(current_dilated, size, interpolation=cv2.INTER_NEAREST)
    previous_count, current_count = int(previous.edges.sum()), int(current_edges.sum())
    if previous_count == 0 and current_count == 0:
        return 0.0
    if previous_count == 0 or current_count == 0:
        return 1.0
    entering = 1.0 - float((current_edges & previous.edges_dilated).sum()) / current_count
    exiting = 1.0 - float((previous.edges & current_dilated).sum()) / previous_count
    return max(entering, exiting)


def _hellinger(first: np.ndarray, second: np.ndarray) -> float:
    """Hellinger (Bhattacharyya) distance between two normalized histograms: 0 same, 1 disjoint."""
    coefficient = float(np.sqrt(first * second).sum())
    return math.sqrt(max(0.0, 1.0 - min(1.0, coefficient)))


def _normalized(histogram: np.ndarray) -> np.ndarray:
    total = float(histogram.sum())
    flat = histogram.astype(np.float64).ravel()
    return flat / total if total > 0 else flat


def _resize_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    if abs(scale - 1.0) < 1e-6:
        return image
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
