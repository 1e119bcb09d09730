"""Where burned captions go: inside the platform's safe area, at the bottom or, to keep off a face, the top.

Pure: no I/O. The `subtitles` filter (libass) draws a WebVTT file on a 384x288 "script canvas"
scaled to the picture, which only suits one frame shape. The style forces the canvas to the
output frame (PlayResX/PlayResY), so every size and margin below is in output pixels, worked
out from the frame's own width and height: a 1:1 or 16:9 clip gets text as readable as 9:16.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SafeArea:
    """Fractions of the frame that captions keep clear of, per side, and the text size (fraction of height)."""

    top: float
    bottom: float
    left: float
    right: float
    font_height: float


# The margins platforms' own overlays need, rounded. Based on the safe-zone guides TikTok, Instagram/Facebook
# Reels and YouTube Shorts publish for full-screen vertical video (caption, account name and buttons over the
# bottom, a column of action icons on the right, the top bar), on the ~5% margin long used for title-safe
# text on square feed posts, and on the control bar a 16:9 player lays over its bottom. The guides differ
# between platforms and change with app versions: these keep text clear of the usual overlays, no more.
SAFE_AREAS: dict[str, SafeArea] = {
    "9:16": SafeArea(top=0.12, bottom=0.20, left=0.06, right=0.12, font_height=0.031),
    "1:1": SafeArea(top=0.05, bottom=0.05, left=0.05, right=0.05, font_height=0.05),
    "16:9": SafeArea(top=0.05, bottom=0.10, left=0.05, right=0.05, font_height=0.05),
}
# The look tuned on 1080x1920: white DejaVu Sans with a black outline about an eighth of the text size.
OUTLINE_PER_FONT = 0.13
MIN_FONT_PX = 8
# force_style's Alignment reaches libass as is, in its internal (SSA legacy) numbering, not the ASS numpad
# one a [V4+ Styles] line uses: 2 is bottom centre in both, but top centre is 6 (numpad 8 lands mid-frame).
# libass has always done so (ass_process_force_style: INTVAL(Alignment), no numpad2align).
BOTTOM_CENTRE, TOP_CENTRE = 2, 6


def aspect_of(width: int, height: int) -> str:
    """The SAFE_AREAS aspect nearest the frame's (in ratio terms: 4:5 is 1:1, 21:9 is 16:9)."""
    def distance(name: str) -> float:
        ratio_width, ratio_height = (int(part) for part in name.split(":"))
        return abs(math.log((width / height) / (ratio_width / ratio_height)))

    return min(SAFE_AREAS, key=distance)


@dataclass(frozen=True)
class CaptionBox:
    """Where captions may be drawn, in output pixels: the frame minus the safe-area margins, and the text size."""

    left: int
    top: int
    right: int
    bottom: int
    font_px: int


def caption_box(width: int, height: int) -> CaptionBox:
    area = SAFE_AREAS[aspect_of(width, height)]
    return CaptionBox(left=round(area.left * width), top=round(area.top * height),
                      right=width - round(area.right * width), bottom=height - round(area.bottom * height),
                      font_px=max(MIN_FONT_PX, round(area.font_height * height)))


def caption_style(width: int, height: int, at_top: bool = False) -> str:
    """The force_style for captions on a width x height frame: bottom centre, or top centre with `at_top`."""
    box = caption_box(width, height)
    margin_v = box.top if at_top else height - box.bottom
    return (f"PlayResX={width},PlayResY={height},FontName=DejaVu Sans,FontSize={box.font_px},"
            "PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,BorderStyle=1,"
            f"Outline={round(box.font_px * OUTLINE_PER_FONT, 1):g},Shadow=0,"
            f"Alignment={TOP_CENTRE if at_top else BOTTOM_CENTRE},MarginV={margin_v},"
            f"MarginL={box.left},MarginR={width - box.right},WrapStyle=0")


_CUE_TIMING = re.compile(r"^(\d+):(\d{2}):(\d{2})\.(\d{3}) --> (\d+):(\d{2}):(\d{2})\.(\d{3})")


def split_top(text: str, top_spans: list[tuple[float, float]]) -> tuple[str, int, str, int]:
    """(bottom VTT, its cue count, top VTT, its cue count): the cues of a shifted VTT (ffmpeg_plan.shift_vtt's
    output, clip time) that overlap a top span go to the top file, the rest to the bottom one. Both keep the
    header and the STYLE/REGION blocks."""
    blocks = text.strip().split("\n\n")
    bottom, top = [blocks[0]], [blocks[0]]
    bottom_count = top_count = 0
    for block in blocks[1:]:
        timing = next((_CUE_TIMING.match(line) for line in block.split("\n")[:2] if "-->" in line), None)
        if timing is None:
            bottom.append(block)
            top.append(block)
            continue
        numbers = [int(number) for number in timing.groups()]
        start_s = numbers[0] * 3600 + numbers[1] * 60 + numbers[2] + numbers[3] / 1000
        end_s = numbers[4] * 3600 + numbers[5] * 60 + numbers[6] + numbers[7] / 1000
        if any(start_s < span_end and span_start < end_s for span_start, span_end in top_spans):
            top.append(block)
            top_count += 1
        else:
            bottom.append(block)
            bottom_count += 1
    return "\n\n".join(bottom) + "\n", bottom_count, "\n\n".join(top) + "\n", top_count
