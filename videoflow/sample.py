"""A sample video for `make demo`: four scenes with hard cuts, over real read speech when it is there.

The speech is LibriVox's "Sense and Sensibility" read aloud, as shipped by Debian's
pocketsphinx-testdata package (the Makefile installs it); without it the sample has a tone,
and the demo still runs every step (the transcript is then empty).
"""

import math
import subprocess
import wave
from pathlib import Path

SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
PAUSE_S = 1.5


def speech_clips() -> list[Path]:
    return sorted(SPEECH_DIR.glob("sense_and_sensibility_*.wav")) if SPEECH_DIR.is_dir() else []


def make_sample(path: Path, seconds: int = 20, width: int = 1280, height: int = 720) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    clips = speech_clips()
    if clips:
        seconds = math.ceil(sum(_duration(clip) + PAUSE_S for clip in clips))
    scene = max(math.ceil(seconds / 4), 1)
    sources = [f"testsrc2=size={width}x{height}:rate=25:duration={scene}",
               f"smptebars=size={width}x{height}:rate=25:duration={scene}",
               f"life=size={width}x{height}:rate=25:mold=10:ratio=0.1:death_color=#C83232:life_color=#00FF00",
               f"rgbtestsrc=size={width}x{height}:rate=25:duration={scene}"]
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    graph = "".join(f"[{i}:v]trim=duration={scene},setpts=PTS-STARTPTS[v{i}];" for i in range(4))
    graph += "".join(f"[v{i}]" for i in range(4)) + "concat=n=4:v=1:a=0[v]"
    if clips:
        inputs += [arg for clip in clips for arg in ("-i", str(clip))]
        graph += ";" + "".join(f"[{4 + i}:a]aresample=44100,apad=pad_dur={PAUSE_S}[a{i}];" for i in range(len(clips)))
        graph += "".join(f"[a{i}]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[a]"
        audio = "[a]"
    else:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=1.5:duration={scene * 4}"]
        audio = "4:a"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", "-map", audio,
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def _duration(clip: Path) -> float:
    with wave.open(str(clip)) as audio:
        return audio.getnframes() / audio.getframerate()
