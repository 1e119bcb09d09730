"""Odd but legitimate media, made on the spot with ffmpeg: what cameras, phones, broadcast and screen recorders write.

Each function writes one short, small file at `path` and returns it. The picture is a known
SDR pattern (SMPTE HD bars, or testsrc2 where motion matters), so a test can compare what
the pipeline made of it against the pattern itself:

- make_hdr: HEVC Main 10 in HDR10 (PQ, with mastering metadata) or HLG, BT.2020; 4:2:0 or 4:2:2.
- make_interlaced: H.264 25i, top field first, real combing (fields from a 50p source), BT.601.
- make_vfr: H.264 at 30 fps for the first half, 10 fps for the second (a phone's variable rate).
- make_prores_422: ProRes 422 LT, 10-bit 4:2:2, PCM audio, in QuickTime (an editor's export).
- make_surround: 5.1 AAC with a different tone in each channel (C 1 kHz, LFE 50 Hz...).
- make_tracks: several audio tracks, each silent, a tone or a speech recording (alone or as the
  centre of a 5.1 track), and which one is flagged default.
- make_long: hours of a tiny, still picture in a few seconds of encoding (for probe-level tests).

`reference_stats` gives the signalstats of the pattern itself, as SDR BT.709.
"""

import json
import subprocess
from pathlib import Path

from tests.media import _ffmpeg

BARS = "smptehdbars"
# SDR BT.709 -> linear light (100 nits = 1.0) -> HDR: the pattern keeps its look once tone-mapped back.
_TO_LINEAR = ("format=yuv444p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,"
              "zscale=t=linear:npl=100,format=gbrpf32le")
_HDR = {
    "pq": ("smpte2084", "hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
                        "L(10000000,1):max-cll=1000,400"),
    "hlg": ("arib-std-b67", ""),
}
_CONTAINER = {"mp4": ["-f", "mp4"], "ts": ["-f", "mpegts"], "mov": ["-f", "mov"]}


def make_hdr(path, transfer: str = "pq", seconds: float = 1, size: str = "320x180", chroma: str = "420",
             container: str = "mp4", audio: list[str] | None = None) -> Path:
    """HEVC 10-bit HDR bars; `audio` as in make_tracks (none by default)."""
    path = Path(path)
    trc, extra = _HDR[transfer]
    pixel_format = {"420": "yuv420p10le", "422": "yuv422p10le"}[chroma]
    video_filter = (f"{_TO_LINEAR},zscale=p=bt2020:t={trc}:m=bt2020nc:r=tv:npl=100,format={pixel_format}")
    x265 = f"log-level=error:colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc" + (f":{extra}" if extra else "")
    inputs, maps, codecs = _audio_tracks(audio or [], seconds, first_input=1)
    _ffmpeg("-f", "lavfi", "-i", f"{BARS}=size={size}:rate=25:duration={seconds}", *inputs,
            "-vf", video_filter, "-map", "0:v", *maps,
            "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", x265,
            "-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc", *codecs,
            *(["-tag:v", "hvc1"] if container in ("mp4", "mov") else []),  # as Apple devices write HEVC
            "-t", str(seconds), *_CONTAINER[container], str(path))
    return path


def make_interlaced(path, seconds: float = 2, size: str = "960x540", container: str = "ts") -> Path:
    """25i, top field first: each frame woven from two moments 1/50 s apart, so motion combs.

    Labelled BT.601 (SMPTE 170M), as broadcast SD and many cameras' files are.
    """
    path = Path(path)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=50:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-vf", "tinterlace=mode=interleave_top,setfield=tff,scale=out_color_matrix=bt601,format=yuv420p",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme",
            "-x264-params", "tff=1", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-colorspace", "smpte170m", "-c:a", "aac", "-t", str(seconds), *_CONTAINER[container], str(path))
    return path


def make_vfr(path, seconds: float = 2, size: str = "320x180") -> Path:
    """30 fps for the first half, every third frame (10 fps) after: timestamps kept, rate varies."""
    path = Path(path)
    half = seconds / 2
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-vf", f"select='lt(t\\,{half})+not(mod(n\\,3))'", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-fps_mode", "vfr",
            "-c:a", "aac", "-f", "mp4", str(path))
    return path


def make_prores_422(path, seconds: float = 1, size: str = "320x180") -> Path:
    path = Path(path)
    _ffmpeg("-f", "lavfi", "-i", f"{BARS}=size={size}:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v", "prores_ks", "-profile:v", "1", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s24le",
            "-t", str(seconds), "-f", "mov", str(path))
    return path


# 5.1 in ffmpeg's order: FL FR FC LFE BL BR (the centre carries the dialogue).
SURROUND_TONES_HZ = {"FL": 300, "FR": 300, "FC": 1000, "LFE": 50, "BL": 2500, "BR": 2500}


def make_surround(path, seconds: float = 1, size: str = "320x180") -> Path:
    path = Path(path)
    inputs = [arg for tone in SURROUND_TONES_HZ.values()
              for arg in ("-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={seconds}")]
    joined = "".join(f"[{n + 1}:a]" for n in range(6)) + "join=inputs=6:channel_layout=5.1[a]"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}", *inputs,
            "-filter_complex", joined, "-map", "0:v", "-map", "[a]",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "256k",
            "-t", str(seconds), "-f", "mp4", str(path))
    return path


def make_tracks(path, tracks: list[str], default: int = 1, seconds: float = 2, size: str = "320x180",
                container: str = "mp4") -> Path:
    """A video with one audio track per entry of `tracks` ("silent", "tone:<Hz>", a WAV's path, "5.1:<any of those>").

    `default` (1-based) is the track flagged default; the others are not.
    """
    path = Path(path)
    inputs, maps, codecs = _audio_tracks(tracks, seconds, first_input=1, default=default)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}", *inputs,
            "-map", "0:v", *maps, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *codecs,
            "-t", str(seconds), *_CONTAINER[container], str(path))
    return path


def make_long(path, hours: float = 3, size: str = "32x32") -> Path:
    """A still, tiny picture at 1 fps, no sound: hours of video in about a second of encoding."""
    path = Path(path)
    _ffmpeg("-f", "lavfi", "-i", f"color=c=gray:size={size}:rate=1:duration={hours * 3600:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-f", "mp4", str(path))
    return path


def picture_stats(path, frame: int = 0) -> dict[str, float]:
    """signalstats of one decoded frame: YAVG and YMAX (luma), SATAVG (saturation)..."""
    completed = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
         "-vf", f"select=eq(n\\,{frame}),signalstats,metadata=print:file=-", "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60)
    return _stats(completed.stdout)


def reference_stats(size: str = "960x540") -> dict[str, float]:
    """The bars themselves, as SDR BT.709 at `size`: what a correct tone mapping comes close to."""
    completed = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi",
         "-i", f"{BARS}=size={size}:rate=25:duration=1",
         "-vf", "format=yuv420p,signalstats,metadata=print:file=-", "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60)
    return _stats(completed.stdout)


def interlace_counts(path) -> dict[str, int]:
    """idet's multi-frame verdicts over the whole video: {"TFF": n, "BFF": n, "Progressive": n, ...}."""
    completed = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-vf", "idet", "-an", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60)
    line = next(line for line in completed.stderr.splitlines() if "Multi frame detection" in line)
    words = line.split("Multi frame detection:")[1].replace(":", " ").split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}


def ffprobe(path) -> dict:
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60)
    return json.loads(completed.stdout)


def _stats(printed: str) -> dict[str, float]:
    return {name: float(value) for name, _, value in (
        line.removeprefix("lavfi.signalstats.").partition("=") for line in printed.splitlines()
        if line.startswith("lavfi.signalstats."))}


def _audio_tracks(tracks: list[str], seconds: float, *, first_input: int, default: int = 1):
    """ffmpeg inputs, maps and per-track options: "silent", "tone:<Hz>" or a WAV's path, each optionally
    prefixed "5.1:" to become the centre channel (the dialogue) of a 5.1 track whose other channels are silent."""
    inputs, maps, codecs = [], [], []
    for number, kind in enumerate(tracks, start=1):
        position = number - 1
        surround = kind.startswith("5.1:")
        kind = kind.removeprefix("5.1:")
        if kind == "silent":
            inputs += ["-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={seconds}"]
        elif kind.startswith("tone:"):
            inputs += ["-f", "lavfi", "-i", f"sine=frequency={kind[5:]}:sample_rate=48000:duration={seconds}"]
        else:
            inputs += ["-i", str(kind)]
        maps += ["-map", f"{first_input + position}:a"]
        codecs += [f"-c:a:{position}", "aac", f"-disposition:a:{position}", "default" if number == default else "0"]
        if surround:
            codecs += [f"-filter:a:{position}", "pan=5.1|FC=c0", f"-b:a:{position}", "256k"]
    return inputs, maps, codecs
