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
- `faces`: MediaPipe's BlazeFace full-range detector run by OpenCV's DNN module (faces.py), on
  the frame at the working size: boxes, a 0..1 score and six keypoints (eyes, nose tip, mouth
  centre, ears), normalized to 0..1 of the frame's width and height, best first. Its model file
  ships in a pinned wheel, checked by SHA-256; nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

if __package__:
    from containers.frames import faces
else:  # inside the image: faces.py sits beside this file (see worker.py)
    import faces  # type: ignore[no-redef]

# 2: faces by BlazeFace (boxes of the whole face, with keypoints) instead of the Haar cascades.
ANALYSIS_VERSION = "2"
FACE_MODEL = faces.FACE_MODEL
Face = faces.Face

# Working sizes (the shorter side, in pixels).
MEASURE_SHORT_SIDE_PX = 540  # sharpness, brightness, faces (the size the face detector was measured at)
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
        faces=faces.detect_faces(working),
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
