"""The app synthesized with `transcriber: whisper`, shared by tests/infra/test_transcriber.py and
tests/workflow/test_whisper_transcriber.py.

videoflow.local.synth caches a synthesis by its sources and overrides; the lock makes a second pytest
worker wait for the first one's synthesis and read it from the cache instead of making its own.
"""

import fcntl
from pathlib import Path

from videoflow.local.synth import ROOT, synthesize

# transcript_required false too: the infra tests check the branch's Catch on the same synthesis.
WHISPER = {"transcriber": "whisper", "transcript_required": False}


def whisper_synthesis() -> Path:
    lock_path = ROOT / "build" / "whisper-synth.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return synthesize(overrides=WHISPER)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
