"""Shot boundaries at the video's own frame rate: pure functions over small decoded frames.

Every frame of a time range of the proxy is reduced to a few hundred numbers (`Features.push`):
a 128-px-wide picture gives an HSV colour histogram, a 32x18 luma layout, its brightness and spread,
and an edge map kept only until the next frame. From them `detect` finds three kinds of boundary:

- a hard cut at frame i: the step from frame i - 1 stands out from the steps around it (the
  ratio to their level, as PySceneDetect's AdaptiveDetector does, so a fast pan whose every
  step is large cuts nothing), and the picture does not come back within a few frames (a
  flash or a flash cut returns to the picture before it);
- a gradual transition (a dissolve, a fade to or from a colour): over 2k frames the picture
  changes a lot, much more than over the 2k frames before and after it, and the frames in
  between are blends of its two ends: frame c + j is close to A + alpha (B - A), alpha rising
  from 0 to 1. Motion changes a picture as much but never as a blend, so a pan is not a
  dissolve. It is placed on the first frame that is more the new shot than the old one;
- a fade through black: a run of black frames between two pictures is one boundary, on the
  first frame after the black (the new shot's first frame); a black leader or tail is none.

A step or a distance is 0 (the same picture) .. 1 (nothing in common). Frame counts scale
with the frame rate, so 25 and 60 fps footage behave alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

DETECTOR_VERSION = "1"
WORK_WIDTH_PX = 128  # frames are decoded to this width (height by the aspect ratio)
LAYOUT_SIZE_PX = (32, 18)  # the luma layout (width, height) that blends and distances compare
HSV_BINS = (8, 4, 4)
LAYOUT_FULL_SCALE = 0.25  # a mean luma change of a quarter of the range is a complete change

# A step: how different frame i is from frame i - 1.
STEP_WEIGHTS = (0.4, 0.3, 0.3)  # colour histogram, layout, edge change ratio
# A hard cut: the largest step around, at least CUT_MIN_STEP and CUT_RATIO times the mean of its
# neighbours' (CUT_NEIGHBOURS each side), or at least CUT_CERTAIN.
CUT_MIN_STEP = 0.2
CUT_RATIO = 3.0
CUT_RATIO_FLOOR = 0.03  # the neighbours' level never counts as lower than this (noise in a still shot)
CUT_CERTAIN = 0.55
CUT_MIN_DISTANCE = 0.08  # and the colours or the layout change too (edges alone appear as a dissolve begins)
CUT_NEIGHBOURS = 2
# A flash: within FLASH_S the picture comes back to within FLASH_RETURN of the change.
FLASH_S = 0.25
FLASH_RETURN = 0.4
# A gradual transition: half-lengths of GRADUAL_HALF_S, a change of at least GRADUAL_MIN over the
# transition, GRADUAL_RATIO times the change over the same span before and after it, and frames in
# between that are blends (residual under GRADUAL_RESIDUAL of the change, alpha near its place).
GRADUAL_HALF_S = (0.2, 0.4, 0.8)
GRADUAL_MIN = 0.25
GRADUAL_RATIO = 2.0
GRADUAL_RESIDUAL = 0.35
GRADUAL_ALPHA_TOLERANCE = 0.2
GRADUAL_CLOSE_RATIO = 1.4
GRADUAL_CLOSE_RESIDUAL = 0.2
# Black: mean brightness under BLACK_MEAN with a spread under BLACK_SPREAD. A black run longer than
# BLACK_SHOT_S is a shot of its own (a boundary where it starts too).
BLACK_MEAN = 0.07
BLACK_SPREAD = 0.04
BLACK_SHOT_S = 2.0
BLACK_FLOOR = 0.005  # frames this close to a black run's darkest are still the black
FADE_STEP = 0.004  # a fade changes the mean brightness by at least this much a frame
# The context a decision needs on each side: a time range is decoded with this much more.
CONTEXT_S = 3.0


@dataclass(frozen=True)
class Transition:
    frame: int  # the first frame of the new shot (the video's frame index)
    kind: str  # "cut", "dissolve" or "fade" (through black)
    score: float  # the step, the change over the transition, or the black run's contrast
    span: tuple[int, int]  # first and last frame of the transition (equal to frame for a cut)

    def as_dict(self, fps: float) -> dict:
        return {"frame": self.frame, "t_s": round(self.frame / fps, 3), "kind": self.kind,
                "score": round(self.score, 4), "span": list(self.span)}


@dataclass
class Features:
    """What `detect` needs of each frame, kept for a whole time range (about 3 KB a frame)."""

    indexes: list = field(default_factory=list)  # the video frame index of each position
    layout: list = field(default_factory=list)  # float32 (LAYOUT cells,) luma 0..1
    root_hist: list = field(default_factory=list)  # float32 sqrt of the normalized HSV histogram
    mean: list = field(default_factory=list)  # brightness (HSV value) 0..1
    spread: list = field(default_factory=list)  # its standard deviation
    steps: list = field(default_factory=list)  # the step from the frame before (0.0 for the first)
    _edges: tuple | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def push(self, bgr: np.ndarray, index: int | None = None) -> None:
        """Add the next frame (BGR, about WORK_WIDTH_PX wide) and its video frame index."""
        self.indexes.append(len(self.indexes) if index is None else index)
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HSV_BINS), [0, 180, 0, 256, 0, 256]).ravel()
        root_hist = np.sqrt(hist / max(1.0, float(hist.sum()))).astype(np.float32)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        layout = (cv2.resize(gray, LAYOUT_SIZE_PX, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0).ravel()
        edges = cv2.Canny(gray, 80, 160) > 0
        dilated = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if self.steps:
            histogram = _hellinger(self.root_hist[-1], root_hist)
            layout_change = min(1.0, float(np.abs(self.layout[-1] - layout).mean()) / LAYOUT_FULL_SCALE)
            step = (STEP_WEIGHTS[0] * histogram + STEP_WEIGHTS[1] * layout_change
                    + STEP_WEIGHTS[2] * _edge_change(self._edges, (edges, dilated)))
        else:
            step = 0.0
        self._edges = (edges, dilated)
        self.layout.append(layout)
        self.root_hist.append(root_hist)
        # Brightness as HSV's value (the brightest channel): black is dark in every channel, navy is not.
        mean, spread = cv2.meanStdDev(hsv[:, :, 2])
        self.mean.append(float(mean[0, 0]) / 255.0)
        self.spread.append(float(spread[0, 0]) / 255.0)
        self.steps.append(min(1.0, step))


def distance(features: Features, a: int, b: int) -> float:
    """How different positions a and b are (colour and layout; no edges, which motion moves)."""
    histogram = _hellinger(features.root_hist[a], features.root_hist[b])
    layout = min(1.0, float(np.abs(features.layout[a] - features.layout[b]).mean()) / LAYOUT_FULL_SCALE)
    return 0.5 * histogram + 0.5 * layout


def detect(features: Features, fps: float, own: tuple[int, int] | None = None, *, at_start: bool | None = None,
           at_end: bool = False) -> list[Transition]:
    """The boundaries whose frame lies in `own` (video frame indexes, end excluded; default: all).

    `at_start`: the first frame pushed is the video's first (default: its index is 0);
    `at_end`: the last frame pushed is the video's last. They tell a black leader or tail from a fade.
    """
    n = len(features)
    if n < 2:
        return []
    at_start = features.indexes[0] == 0 if at_start is None else at_start
    black, ends = _black_runs(features, fps, at_start, at_end)
    cuts = _hard_cuts(features, fps)
    gradual = _gradual(features, fps)
    found = [*black]
    covered = [(t.span[0], t.span[1]) for t in black] + ends
    for cut in cuts:
        if not any(start - 1 <= cut.frame <= end + 1 for start, end in covered):
            found.append(cut)
    covered_by_cuts = [(t.span[0], t.span[1]) for t in found] + ends
    for transition in gradual:
        start, end = transition.span
        if not any(s - 1 <= end and start <= e + 1 for s, e in covered_by_cuts):
            found.append(transition)
    at = features.indexes
    shifted = [Transition(at[t.frame], t.kind, t.score, (at[t.span[0]], at[min(n - 1, t.span[1])])) for t in found]
    low, high = own if own is not None else (at[0], at[-1] + 1)
    return sorted((t for t in shifted if low <= t.frame < high), key=lambda t: t.frame)


def scan(frames: Iterable[tuple[int, bool, np.ndarray]], fps: float, own: tuple[int, int] | None = None) -> tuple[
        list[Transition], int]:
    """`detect` over (index, is the last frame, picture) as `proxy.Proxy.frames` yields them; also the count.

    A frame whose index is not past the one before (a duplicate timestamp) is left out.
    """
    features, at_end = Features(), False
    for index, last, picture in frames:
        if features.indexes and index <= features.indexes[-1]:
            continue
        features.push(picture, index)
        at_end = last
    return detect(features, fps, own, at_end=at_end), len(features)


def _hard_cuts(features: Features, fps: float) -> list[Transition]:
    steps = np.asarray(features.steps, dtype=np.float64)
    n = len(steps)
    flash = max(2, _frames(FLASH_S, fps))
    cuts = []
    for i in range(1, n):
        step = steps[i]
        if step < CUT_MIN_STEP:
            continue
        window = [j for j in range(i - CUT_NEIGHBOURS, i + CUT_NEIGHBOURS + 1) if 1 <= j < n and j != i]
        if any(steps[j] > step or (steps[j] == step and j < i) for j in window):
            continue  # not the largest step around
        neighbours = [steps[j] for j in window] or [0.0]
        level = max(CUT_RATIO_FLOOR, sum(neighbours) / len(neighbours))
        if step < CUT_CERTAIN and step < CUT_RATIO * level:
            continue
        if distance(features, i - 1, i) < CUT_MIN_DISTANCE:
            continue  # only edges changed: the first faint frame of a dissolve into a texture, not a new picture
        if _flash(features, i, flash, step):
            continue
        cuts.append(Transition(i, "cut", float(step), (i, i)))
    return cuts


def _flash(features: Features, i: int, frames: int, step: float) -> bool:
    """Frame i begins or ends a flash: the picture before it comes back within `frames` frames.

    "Comes back" allows for motion: the gap's distance is compared with the distance the same
    number of frames makes on the other side (a flash in a fast pan returns to a moved picture).
    """
    n = len(features)
    for gap in range(2, frames + 2):
        before, after = i - 1, i - 1 + gap  # the flash starts at i
        if after < n:
            motion = _motion(features, before - gap, before, step)
            if distance(features, before, after) < _returned(step, motion):
                return True
        before, after = i - gap, i  # the flash ends at i
        if before >= 0:
            motion = _motion(features, after, after + gap, step)
            if distance(features, before, after) < _returned(step, motion):
                return True
    return False


def _motion(features: Features, a: int, b: int, step: float) -> float:
    """The change from a to b when it is motion (no step between them near `step`), else 0."""
    if a < 0 or b >= len(features) or max(features.steps[a + 1:b + 1]) >= 0.7 * step:
        return 0.0
    return distance(features, a, b)


def _returned(step: float, motion: float) -> float:
    return max(FLASH_RETURN * max(step, CUT_MIN_STEP), min(1.3 * motion, 0.5 * step))


def _gradual(features: Features, fps: float) -> list[Transition]:
    n = len(features)
    layout = np.asarray(features.layout, dtype=np.float32)
    root_hist = np.asarray(features.root_hist, dtype=np.float32)
    candidates = []
    for half_s in GRADUAL_HALF_S:
        k = max(2, _frames(half_s, fps))
        if n <= 2 * k:
            continue
        plateaus: set[tuple[int, int]] = set()
        changes = np.zeros(n)
        changes[k:n - k] = _distances(root_hist[:n - 2 * k], root_hist[2 * k:], layout[:n - 2 * k], layout[2 * k:])
        for c in range(k, n - k):
            change = changes[c]
            if change < GRADUAL_MIN or change < changes[max(k, c - 1)] or change < changes[min(n - k - 1, c + 1)]:
                continue
            around = [changes[c + d] for d in (-2 * k, 2 * k) if k <= c + d < n - k]
            if not around:
                continue
            # Much more change than around it; or, when a neighbouring transition is close (an edit of short
            # shots), more than on its quieter side and a near-perfect blend.
            clear = change >= GRADUAL_RATIO * max(0.02, sum(around) / len(around))
            if not clear and change < GRADUAL_CLOSE_RATIO * max(0.02, min(around)):
                continue
            # A transition longer than 2k changes as much wherever the span lies inside it: take the
            # middle of that plateau.
            left, right = c, c
            while left - 1 >= k and changes[left - 1] >= 0.97 * change:
                left -= 1
            while right + 1 < n - k and changes[right + 1] >= 0.97 * change:
                right += 1
            if (left, right) in plateaus:
                continue
            plateaus.add((left, right))
            centre = (left + right) // 2
            first, last = centre - k, centre + k
            alpha = _blend_fit(layout, first, last, GRADUAL_RESIDUAL if clear else GRADUAL_CLOSE_RESIDUAL)
            if alpha is None:
                continue
            # The frame where the new picture starts to dominate: the first whose alpha is at least 0.5.
            frame = next((j for j in range(first + 1, last + 1) if alpha[j - first] >= 0.5), centre)
            candidates.append(Transition(frame, "dissolve", float(change), (first, last)))
    # One transition per place: the largest change among overlapping candidates.
    chosen: list[Transition] = []
    for candidate in sorted(candidates, key=lambda t: -t.score):
        if all(candidate.span[1] < t.span[0] or candidate.span[0] > t.span[1] for t in chosen):
            chosen.append(candidate)
    return chosen


def _distances(hist_a: np.ndarray, hist_b: np.ndarray, layout_a: np.ndarray, layout_b: np.ndarray) -> np.ndarray:
    """`distance` for many pairs at once (rows of a against rows of b)."""
    histogram = np.sqrt(np.clip(1.0 - np.einsum("ij,ij->i", hist_a, hist_b), 0.0, 1.0))
    layout = np.minimum(1.0, np.abs(layout_a - layout_b).mean(axis=1) / LAYOUT_FULL_SCALE)
    return 0.5 * histogram + 0.5 * layout


def _blend_fit(layout: np.ndarray, a: int, b: int, tolerance: float) -> np.ndarray | None:
    """alpha of each frame a..b as a blend of frames a and b, or None when they are not blends.

    A frame between is fitted as A + alpha (B - A); the fit must leave little (`tolerance` of |B - A|), and alpha must rise with time: near (j - a) / (b - a) give or take the tolerance,
    allowing the transition to be shorter than the span (alpha 0 before it, 1 after it).
    """
    start, end = layout[a], layout[b]
    difference = end - start
    norm = float(np.dot(difference, difference))
    if norm <= 1e-9:
        return None
    middle = layout[a:b + 1] - start
    alpha = middle @ difference / norm
    residual = np.linalg.norm(middle - np.outer(alpha, difference), axis=1) / math.sqrt(norm)
    inner = slice(1, b - a)
    if float(residual[inner].max()) > tolerance:
        return None
    if np.any(np.diff(alpha) < -GRADUAL_ALPHA_TOLERANCE):
        return None
    centre = (b - a) // 2
    if abs(float(alpha[centre]) - 0.5) > 0.5 - GRADUAL_ALPHA_TOLERANCE:
        return None  # the middle frame is one of the two pictures: a cut, not a blend
    # A blend rises gradually: no single step carries most of it.
    if float(np.max(np.diff(alpha))) > 0.6:
        return None
    return alpha


def _black_runs(features: Features, fps: float, at_start: bool,
                at_end: bool) -> tuple[list[Transition], list[tuple[int, int]]]:
    """The boundaries black runs make, and the black leader and tail (no boundary, nor any next to them)."""
    n = len(features)
    black = [features.mean[i] < BLACK_MEAN and features.spread[i] < BLACK_SPREAD for i in range(n)]
    long_run = _frames(BLACK_SHOT_S, fps)
    found, ends = [], []
    i = 0
    while i < n:
        if not black[i]:
            i += 1
            continue
        start = i
        while i < n and black[i]:
            i += 1
        end = i  # first frame after the run
        # A run that reaches past the decoded range is longer than the context around a chunk's own range.
        reaches_start, reaches_end = start == 0 and not at_start, end == n and not at_end
        long = end - start > long_run or reaches_start or reaches_end
        leader = start == 0 and at_start and not long  # a long black opening is a shot of its own
        tail = end == n and at_end
        contrast = max(features.mean[end] if end < n else 0.0, features.mean[start - 1] if start else 0.0)
        # The fade out before the run and the fade in after it: frames darkening into it, brightening out of it.
        first, last, most = start, end, _frames(max(GRADUAL_HALF_S), fps)
        while first > 0 and start - first < most and features.mean[first - 1] > features.mean[first] + FADE_STEP:
            first -= 1
        while last < n - 1 and last - end < most and features.mean[last + 1] > features.mean[last] + FADE_STEP:
            last += 1
        if leader or tail:
            ends.append((first, min(n - 1, last)))
            continue
        if long and start > 0:
            found.append(Transition(start, "cut", contrast, (first, start)))
        if end < n:
            # The new shot begins after the run's last darkest frame: where a black hold ends, or where a
            # dip through black starts to brighten (its first frames may still count as black).
            darkest = min(features.mean[start:end])
            begins = end if long else 1 + max(j for j in range(start, end)
                                              if features.mean[j] <= darkest + BLACK_FLOOR)
            found.append(Transition(begins, "fade", contrast, (end - 1 if long else first, last)))
    return found, ends


def _edge_change(previous: tuple | None, current: tuple) -> float:
    """Share of edges that appeared or vanished, tolerant of a pixel of motion (Zabih et al.)."""
    if previous is None:
        return 0.0
    (before, before_dilated), (after, after_dilated) = previous, current
    before_count, after_count = int(before.sum()), int(after.sum())
    if before_count == 0 and after_count == 0:
        return 0.0
    if before_count == 0 or after_count == 0:
        return 1.0
    entering = 1.0 - float((after & before_dilated).sum()) / after_count
    exiting = 1.0 - float((before & after_dilated).sum()) / before_count
    return max(entering, exiting)


def _hellinger(first: np.ndarray, second: np.ndarray) -> float:
    return math.sqrt(max(0.0, 1.0 - min(1.0, float(np.dot(first, second)))))


def _frames(seconds: float, fps: float) -> int:
    return max(1, int(round(seconds * fps)))
