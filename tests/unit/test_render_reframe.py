"""The moving window and the caption placement, rendered by real ffmpeg and measured in the output's pixels.

Tiny generated sources (320x180, 20 fps, 3 s) and 2 s clips at small targets keep each render
well under a second. The window's position is read back from a horizontal gradient: a frame's
mean brightness says which source columns it shows. Captions are read back as the bright pixels
on a black source.
"""

import random
import subprocess
from pathlib import Path

import pytest

from containers.render import clip
from containers.render.caption_layout import caption_box
from containers.render.crop_path import value_at
from containers.render.ffmpeg_plan import SourceVideo, crop_window, plan
from containers.render.spec import RenderSpec
from tests.media import put_source

INGEST, OUTPUT = "videoflow-ingest", "videoflow-output"
SOURCE_W, SOURCE_H, FPS = 320, 180, 20
START_S, END_S = 0.5, 2.5  # source time; clip time t is source time - 0.5
PORTRAIT = (180, 320)
WINDOW = crop_window(SourceVideo(SOURCE_W, SOURCE_H), *PORTRAIT, 0.5)  # 102x180: the window's left edge moves
ROOM = SOURCE_W - WINDOW.width


def _ffmpeg(*arguments: str) -> bytes:
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *arguments],
                          capture_output=True, check=True, timeout=60).stdout


def _source(path: Path, picture: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"{picture}:size={SOURCE_W}x{SOURCE_H}:rate={FPS}:duration=3",
            "-vf", "format=yuv420p", "-c:v", "libx264", "-crf", "4", "-g", "20", str(path))
    return path


def _frames(path: Path, width: int, height: int) -> list[bytes]:
    """Every frame of a video as 8-bit gray, width x height."""
    raw = _ffmpeg("-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-")
    size = width * height
    return [raw[offset:offset + size] for offset in range(0, len(raw), size)]


@pytest.fixture(scope="module")
def gradient_source(tmp_path_factory) -> tuple[Path, list[float]]:
    """(a video black at the left edge to white at the right in every frame, each column's decoded brightness)."""
    path = tmp_path_factory.mktemp("reframe") / "gradient.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"nullsrc=size={SOURCE_W}x{SOURCE_H}:rate={FPS}:duration=3",
            "-vf", "geq=lum='X*255/W':cb=128:cr=128,format=yuv420p", "-c:v", "libx264", "-crf", "4", str(path))
    first = _frames(path, SOURCE_W, SOURCE_H)[0]
    columns = [sum(first[row * SOURCE_W + column] for row in range(SOURCE_H)) / SOURCE_H for column in range(SOURCE_W)]
    return path, columns


def _window_left(frame: bytes, columns: list[float]) -> int:
    """The source column the window starts at: the one whose window of columns is as bright as the frame."""
    brightness = sum(frame) / len(frame)
    return min(range(ROOM + 1), key=lambda left: abs(sum(columns[left:left + WINDOW.width]) / WINDOW.width
                                                      - brightness))


def _render_path(source: Path, folder: Path, path: list[dict]) -> tuple[list[bytes], str]:
    spec = RenderSpec.model_validate({
        "job_id": "job-reframe", "clip_index": 0, "source": {"bucket": INGEST, "key": "s.mp4", "version_id": None},
        "start_s": START_S, "end_s": END_S, "output": {"bucket": OUTPUT, "key": "c.mp4"},
        "target": {"width": PORTRAIT[0], "height": PORTRAIT[1]}, "crop_path": path})
    output = folder / "clip.mp4"
    argv = plan(spec, SourceVideo(SOURCE_W, SOURCE_H, has_audio=False), source, output, progress=False)
    subprocess.run(argv, check=True, timeout=60, capture_output=True)
    return _frames(output, *PORTRAIT), argv[argv.index("-vf") + 1]


def test_given_a_path_that_slides_then_cuts_when_rendered_then_the_window_moves_and_jumps_on_the_cut_frame(
        gradient_source, tmp_path):
    source, columns = gradient_source
    path = [{"t_s": 0.0, "x": 0.25, "y": 0.5}, {"t_s": 1.0, "x": 0.75, "y": 0.5},
            {"t_s": 1.5, "x": 0.75, "y": 0.5}, {"t_s": 1.5, "x": 0.1, "y": 0.5}]  # clip time

    frames, _ = _render_path(source, tmp_path, path)

    assert len(frames) == 40
    measured = {n: _window_left(frames[n], columns) for n in (0, 10, 20, 29, 30, 39)}
    # left = x * 320 - 51, made even: 29 -> 28 at 0 s, 109 -> 108 at 0.5 s, 189 -> 188 from 1 s;
    # the cut's 0.1 puts the left edge at -19: clamped to 0 from the frame at 1.5 s (frame 30) on.
    expected = {0: 28, 10: 108, 20: 188, 29: 188, 30: 0, 39: 0}
    assert all(abs(measured[n] - expected[n]) <= 2 for n in expected), measured


def test_given_a_200_key_path_when_rendered_then_ffmpeg_takes_the_expression_and_follows_every_frame(
        gradient_source, tmp_path):
    source, columns = gradient_source
    chooser = random.Random(11)
    path = [{"t_s": index / 100, "x": round(chooser.uniform(0.2, 0.8), 3), "y": 0.5} for index in range(200)]

    frames, video_filter = _render_path(source, tmp_path, path)

    assert video_filter.count("clip(t") > 150  # beyond the ~100 terms a flat sum may hold in ffmpeg
    keys = [(key["t_s"], key["x"] * SOURCE_W - WINDOW.width / 2) for key in path]
    for n in range(0, 40, 3):
        expected = int(min(max(value_at(keys, n / FPS), 0), ROOM) / 2) * 2
        assert abs(_window_left(frames[n], columns) - expected) <= 2, n


# --- captions --------------------------------------------------------------------------------------

# Source time: the clip (0.5-2.5 s) shows the first cue from clip time 0.0 to 1.0 s, the second from 1.2 to 2.0 s.
CAPTIONS = """WEBVTT

00:00:00.500 --> 00:00:01.500
UP HERE

00:00:01.700 --> 00:00:02.500
WORDS THAT WRAP ACROSS THE FRAME
"""


@pytest.fixture(scope="module")
def black(tmp_path_factory) -> Path:
    return _source(tmp_path_factory.mktemp("captions") / "black.mp4", "color=c=black")


def _bright_box(frame: bytes, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels brighter than mid-grey."""
    rows = [y for y in range(height) if max(frame[y * width:(y + 1) * width]) > 128]
    columns = [x for x in range(width) if any(frame[y * width + x] > 128 for y in rows)]
    assert rows and columns, "no caption pixels"
    return columns[0], rows[0], columns[-1], rows[-1]


@pytest.mark.parametrize("size", [(270, 480), (360, 360), (480, 270)], ids=["9:16", "1:1", "16:9"])
def test_given_a_top_span_when_burned_then_its_cue_is_at_the_top_the_other_at_the_bottom_inside_the_safe_area(
        aws_state, black, tmp_path, size):
    width, height = size
    source = put_source(aws_state, black, "uploads/black.mp4", bucket=INGEST)
    aws_state.put_object(Bucket=OUTPUT, Key="captions/job/captions.vtt", Body=CAPTIONS.encode())
    spec = RenderSpec.model_validate({
        "job_id": "job-captions", "clip_index": 0,
        "source": {"bucket": INGEST, "key": source.key, "version_id": source.version_id},
        "start_s": START_S, "end_s": END_S, "output": {"bucket": OUTPUT, "key": "clips/job/clip-00.mp4"},
        "target": {"width": width, "height": height},
        "captions": {"mode": "burn", "vtt": {"bucket": OUTPUT, "key": "captions/job/captions.vtt"},
                     "top_spans": [[0.0, 0.8]]}})

    document = clip.render_clip(spec, aws_state, work_dir=str(tmp_path), log=lambda message: None)

    (tmp_path / "clip.mp4").write_bytes(aws_state.get_object(Bucket=OUTPUT, Key=spec.output.key)["Body"].read())
    frames = _frames(tmp_path / "clip.mp4", width, height)
    box = caption_box(width, height)
    top = _bright_box(frames[10], width, height)  # clip time 0.5 s: the first cue, under the top span
    bottom = _bright_box(frames[30], width, height)  # 1.5 s: the second, wrapped onto lines of the safe width
    assert document["captions"] == "burn"
    assert box.top <= top[1] and top[3] < height / 3, (top, box)
    assert bottom[1] > height / 2 and bottom[3] <= box.bottom, (bottom, box)
    for left, _, right, _ in (top, bottom):
        assert box.left <= left and right <= box.right, (left, right, box)
    assert 0.5 * box.font_px <= top[3] - top[1] + 1 <= 1.2 * box.font_px  # capitals: the text's size, in pixels

