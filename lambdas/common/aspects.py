"""The aspect ratios a clip is rendered in, and the frame size of each.

Every planned clip is rendered once per configured aspect (render_aspects, RENDER_ASPECTS).
One number sets every size: the short side (render_short_side, RENDER_SHORT_SIDE), so 1080
gives 9:16 -> 1080x1920, 1:1 -> 1080x1080, 16:9 -> 1920x1080. A long side that is not a whole
even number of pixels (short side 1000: 1777.8) is rounded to the nearest even one, as H.264
4:2:0 needs, so a frame may be off its ratio by at most that one pixel.
"""

from __future__ import annotations

from typing import Literal, get_args

Aspect = Literal["9:16", "1:1", "16:9"]
ASPECTS: tuple[Aspect, ...] = get_args(Aspect)
DEFAULT_ASPECTS: tuple[Aspect, ...] = ("9:16",)
DEFAULT_SHORT_SIDE = 1080
MAX_SIDE = 4096  # the render spec's bound on either side (containers/render/spec.py, Target)
MAX_SHORT_SIDE = MAX_SIDE * 9 // 16  # 2304: its 16:9 long side is 4096


def ratio(aspect: Aspect) -> tuple[int, int]:
    """(width, height) of the ratio: (9, 16) for "9:16"."""
    width, height = aspect.split(":")
    return int(width), int(height)


def slug(aspect: Aspect) -> str:
    """The aspect as it appears in keys and file names ("9x16"): no colon, which some file systems refuse."""
    return aspect.replace(":", "x")


def frame_size(aspect: Aspect, short_side: int) -> tuple[int, int]:
    """(width, height) of a frame of this aspect whose short side is `short_side` (the long side rounded to even)."""
    width, height = ratio(aspect)
    if width == height:
        return short_side, short_side
    long_side = 2 * round(short_side * max(width, height) / min(width, height) / 2)
    return (short_side, long_side) if width < height else (long_side, short_side)


def matches(width: int, height: int, aspect: Aspect) -> bool:
    """Whether a width x height frame has this aspect: the right orientation, the long side within the one pixel
    rounding to even may cost."""
    ratio_width, ratio_height = ratio(aspect)
    if width <= 0 or height <= 0 or (width > height, width < height) != (ratio_width > ratio_height,
                                                                         ratio_width < ratio_height):
        return False
    return abs(width * ratio_height - height * ratio_width) <= min(ratio_width, ratio_height)


def parse_aspects(value: object) -> object:
    """A comma-separated string (an environment variable: "9:16,1:1") as a list; a list as it is. Each must be one
    of ASPECTS (the model's type checks it), named once, at least one."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"name at least one aspect ({', '.join(ASPECTS)})")
        repeated = sorted({aspect for aspect in value if list(value).count(aspect) > 1})
        if repeated:
            raise ValueError(f"each aspect once: {', '.join(map(str, repeated))} is named more than once")
    return value
