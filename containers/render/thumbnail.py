"""make_thumbnails: one JPEG per clip, taken from the rendered clip itself (9:16, captions and all).

The frame comes from the clip already on the renderer's disk, so a thumbnail costs one
decoded frame, not a second download of the source. build_render_specs chooses the moment
(the sharpest sampled frame inside the clip, a face preferred); the middle otherwise.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

JPEG_QUALITY = 3  # ffmpeg's -q:v for mjpeg: 2 (best) .. 31
WIDTH_PX = 540  # half a 1080-wide clip: sharp in a list or a player's poster, a fraction of the bytes
TIMEOUT_S = 60


def make_thumbnail(ffmpeg: str, clip: Path, at_s: float, out: Path) -> Path:
    """Write the frame of `clip` at `at_s` seconds to `out` (JPEG); RuntimeError with ffmpeg's reason."""
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-ss", f"{max(0.0, at_s):.3f}",
            "-i", str(clip), "-frames:v", "1",
            "-vf", f"scale='min({WIDTH_PX},iw)':-2", "-q:v", str(JPEG_QUALITY), str(out)]
    # ffmpeg leaves an existing `out` untouched when it decodes no frame (a time past the end): an old
    # file there would pass the check below as this frame.
    out.unlink(missing_ok=True)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        reason = (done.stderr.strip().splitlines() or ["no frame written"])[-1]
        raise RuntimeError(f"ffmpeg could not take the frame at {at_s:.3f} s: {reason}")
    return out
