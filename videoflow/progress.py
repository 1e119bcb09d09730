"""What a person sees while a job runs: one line per step, with how long it took."""

import sys
import time
from typing import TextIO

from videoflow.local.runner import Progress


class ProgressDisplay:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced
        self.started = time.monotonic()
        self._interactive = self.stream.isatty()
        self._last_percent = -1

    def __call__(self, progress: Progress) -> None:
        clock = f"{time.monotonic() - self.started:6.1f}s" + (f"  [{progress.branch}]" if progress.branch else "")
        if progress.kind == "entered":
            self._write(f"{clock}  ▶ {progress.state}")
        elif progress.kind == "exited":
            self._write(f"{clock}  ✓ {progress.state} ({progress.seconds:.1f}s)")
        elif progress.kind == "failed":
            self._write(f"{clock}  ✗ {progress.detail or 'error'}")
        elif progress.kind == "finished":
            self._write(f"{clock}  ■ workflow {progress.state.lower()}")

    def transcode(self, fraction: float) -> None:
        """ffmpeg's progress inside the Derivatives step, every 10 % (every 1 % on a terminal)."""
        percent = int(fraction * 100)
        step = 1 if self._interactive else 10
        if percent // step == self._last_percent // step:
            return
        self._last_percent = percent
        if self._interactive:
            self.stream.write(f"\r           derivatives {percent:3d}%")
            self.stream.flush()
            if percent >= 100:
                self.stream.write("\n")
        else:
            self._write(f"           derivatives {percent:3d}%")

    def _write(self, line: str) -> None:
        if self._interactive and 0 <= self._last_percent < 100:
            self.stream.write("\n")
            self._last_percent = -1
        self.stream.write(line + "\n")
        self.stream.flush()
