"""A sample video for `make demo`: moving pictures with hard cuts and a tone, made by ffmpeg."""

import subprocess
from pathlib import Path


def make_sample(path: Path, seconds: int = 20, width: int = 1280, height: int = 720) -> Path:
    """Four scenes (so shot changes are visible in the frames) over a 440 Hz / 660 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scene = max(seconds // 4, 1)
    sources = [f"testsrc2=size={width}x{height}:rate=25:duration={scene}",
               f"smptebars=size={width}x{height}:rate=25:duration={scene}",
               f"life=size={width}x{height}:rate=25:mold=10:ratio=0.1:death_color=#C83232:life_color=#00FF00",
               f"rgbtestsrc=size={width}x{height}:rate=25:duration={scene}"]
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    concat = "".join(f"[{i}:v]trim=duration={scene},setpts=PTS-STARTPTS[v{i}];" for i in range(4))
    concat += "".join(f"[v{i}]" for i in range(4)) + "concat=n=4:v=1:a=0[v]"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *inputs,
         "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=1.5:duration={scene * 4}",
         "-filter_complex", concat, "-map", "[v]", "-map", "4:a",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path
