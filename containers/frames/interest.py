"""The centre of interest of a sampled frame without faces: where its sharpest detail and its motion are.

A clip's crop follows faces; a shot without one (a product on a table, a landscape, a screen
recording) still needs a place to look, and the middle is often empty. The picture is reduced
to a coarse grid (GRID_WIDTH_PX wide); each cell weighs its detail (the Laplacian's magnitude:
in focus, textured) and how much it changed since the frame sampled before (what moves draws the
eye). The strongest cells (the top TOP_SHARE) give the weighted centre, 0..1 across the width and
down the height. A flat frame (no detail, no change) gives the middle.
"""

from __future__ import annotations

import cv2
import numpy as np

GRID_WIDTH_PX = 64
TOP_SHARE = 0.1
MOTION_WEIGHT = 2.0  # a changed cell counts this much more than a still one of the same detail


def small_gray(image: np.ndarray) -> np.ndarray:
    """The frame as the grid's float luma (what `centre_of_interest` compares with the next frame)."""
    height, width = image.shape[:2]
    size = (GRID_WIDTH_PX, max(2, round(GRID_WIDTH_PX * height / width)))
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def centre_of_interest(current: np.ndarray, previous: np.ndarray | None = None) -> tuple[float, float]:
    """(x, y), 0..1, of the strongest detail and change in `current` (a `small_gray` grid)."""
    detail = np.abs(cv2.Laplacian(current, cv2.CV_32F, ksize=3))
    weight = detail
    if previous is not None and previous.shape == current.shape:
        weight = detail * (1.0 + MOTION_WEIGHT * np.abs(current - previous) / 0.1)
    weight = cv2.GaussianBlur(weight, (5, 5), 0)
    if float(weight.max()) <= 1e-6:
        return 0.5, 0.5
    floor = float(np.quantile(weight, 1.0 - TOP_SHARE))
    strong = np.where(weight >= floor, weight, 0.0)
    rows, columns = np.indices(strong.shape)
    total = float(strong.sum())
    height, width = strong.shape
    return (round(float((strong * (columns + 0.5)).sum()) / total / width, 4),
            round(float((strong * (rows + 0.5)).sum()) / total / height, 4))
