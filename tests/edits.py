"""Edited footage with known transitions: shots of real photographs, moving as a camera would, joined by
hard cuts, dissolves and fades through black, with flashes and fast motion that are not cuts.

The pictures are scikit-image's sample photographs (they ship inside its wheel); every frame is drawn with
numpy and OpenCV and piped to ffmpeg (libx264), so nothing binary is committed and the truth is exact:
`transitions(shots, fps)` says on which frame each new shot begins. Used by the cut detector's tests and by
bench/shots.py.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

PICTURES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
            "colorwheel", "camera", "brick", "grass", "moon", "clock", "coins", "cell", "gravel")
MOTIONS = ("still", "pan", "zoom", "fast_pan", "object", "handheld")


@dataclass(frozen=True)
class Shot:
    picture: str  # one of PICTURES
    seconds: float
    motion: str = "still"  # one of MOTIONS: "fast_pan" sweeps the frame's width in about a second, with blur
    into: str = "cut"  # how the shot begins: "cut", "dissolve" or "fade" (out to black and in again)
    into_s: float = 0.0  # the length of a dissolve or fade
    view: tuple[float, float, float] = (0.5, 0.5, 1.0)  # centre x, centre y (0..1) and zoom of the framing
    flashes: tuple[float, ...] = ()  # seconds into the shot: a camera flash (two bright frames)
    tone: float = 1.0  # gain on the picture (a darker or brighter grade)


@dataclass(frozen=True)
class Truth:
    frame: int  # the first frame of the new shot
    kind: str
    span: tuple[int, int]  # first and last frame of the transition


def transitions(shots: list[Shot], fps: int) -> list[Truth]:
    """Where each shot after the first begins: a cut on its first frame, a dissolve or fade on its middle."""
    found, start = [], 0
    for shot in shots:
        if start:
            length = max(1, round(shot.into_s * fps)) if shot.into != "cut" else 0
            span = (start - length // 2, start + length - length // 2 - 1) if length else (start, start)
            found.append(Truth(start, shot.into, span))
        start += round(shot.seconds * fps)
    return found


def make_edit(path, shots: list[Shot], fps: int = 25, width: int = 640, height: int = 360, crf: int = 20,
              seed: int = 7) -> Path:
    """The shots as one H.264 MP4 (a keyframe every 2 s, as the proxy has); see `transitions` for the truth."""
    path = Path(path)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed; the media tests need it")
    process = subprocess.Popen(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
         "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
         "-crf", str(crf), "-pix_fmt", "yuv420p", "-g", str(2 * fps), "-movflags", "+faststart", str(path)],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        for frame in _frames(shots, fps, width, height, np.random.default_rng(seed)):
            process.stdin.write(frame.tobytes())
        process.stdin.close()
        error = process.stderr.read().decode(errors="replace")
        if process.wait(timeout=120) != 0:
            raise RuntimeError(f"ffmpeg failed: {error.strip()}")
    finally:
        if process.poll() is None:
            process.kill()
    return path


def _frames(shots: list[Shot], fps: int, width: int, height: int, rng: np.random.Generator):
    starts = np.cumsum([0] + [round(shot.seconds * fps) for shot in shots]).tolist()
    grain = [rng.normal(0, 2.5, (height, width, 1)).astype(np.float32) for _ in range(8)]
    number = 0
    for g in range(starts[-1]):
        while g >= starts[number + 1]:
            number += 1
        shot = shots[number]
        picture = _render(shot, g - starts[number], fps, width, height)
        # A transition into shot k covers its frames around starts[k]; the outgoing shot runs on under it.
        for k in (number, number + 1):
            if 0 < k < len(shots) and shots[k].into != "cut":
                length = max(1, round(shots[k].into_s * fps))
                first = starts[k] - length // 2
                if first <= g < first + length:
                    alpha = (g - first + 1) / (length + 1)
                    outgoing = _render(shots[k - 1], g - starts[k - 1], fps, width, height)
                    entering = _render(shots[k], g - starts[k], fps, width, height)
                    if shots[k].into == "fade":
                        picture = outgoing * max(0.0, 1 - 2 * alpha) if alpha < 0.5 else entering * (2 * alpha - 1)
                    else:
                        picture = outgoing * (1 - alpha) + entering * alpha
        for flash in shot.flashes:
            at = starts[number] + round(flash * fps)
            if at <= g < at + 2:
                picture = picture * 0.35 + 255 * 0.65
        yield np.clip(picture + grain[g % len(grain)], 0, 255).astype(np.uint8)


def _render(shot: Shot, position: int, fps: int, width: int, height: int) -> np.ndarray:
    """The picture of frame `position` of the shot, as float32 BGR."""
    source = _picture(shot.picture)
    t = position / fps
    cx, cy, zoom = shot.view
    if shot.motion == "pan":
        cx += 0.03 * t
    elif shot.motion == "zoom":
        zoom *= 1 + 0.08 * t
    elif shot.motion == "fast_pan":
        cx += 0.6 * t
    elif shot.motion == "handheld":
        cx += 0.006 * np.sin(7.1 * t) + 0.004 * np.sin(13.3 * t)
        cy += 0.006 * np.cos(5.3 * t)
    frame = _crop(source, cx, cy, zoom, width, height)
    if shot.motion == "fast_pan":  # motion blur over the frame's travel
        frame = cv2.blur(frame, (max(1, int(0.6 / fps * width * 1.2)), 1))
    if shot.motion == "object":  # another picture crosses the frame in about a second
        patch = cv2.resize(_picture(PICTURES[(PICTURES.index(shot.picture) + 5) % len(PICTURES)]),
                           (width // 3, height // 2))
        x = int((t * 0.9 % 1.4 - 0.4) * width)
        y = height // 4
        left, right = max(0, x), min(width, x + patch.shape[1])
        if right > left:
            frame[y:y + patch.shape[0], left:right] = patch[:, left - x:right - x]
    return frame.astype(np.float32) * shot.tone


def _crop(source: np.ndarray, cx: float, cy: float, zoom: float, width: int, height: int) -> np.ndarray:
    """A width x height view of `source` (which wraps around), centred at cx, cy, `zoom` times closer than
    the view that covers it."""
    rows, cols = source.shape[:2]
    scale = max(width / cols, height / rows) * 1.25 * zoom
    matrix = np.array([[scale, 0, width / 2 - scale * cx * cols], [0, scale, height / 2 - scale * cy * rows]])
    return cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


@cache
def _picture(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)
