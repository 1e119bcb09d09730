"""The reframing window's moving offsets, as ffmpeg expressions of the frame time `t`. Pure: no I/O.

The crop filter evaluates its x and y expressions on every frame, so one crop follows the
whole path (spec.crop_path). Along each axis the window's offset is piecewise linear in t:

    v(t) = v0 + sum over slides  slope * (clip(t, a, b) - a)      (a key at a, the next at b > a)
              + sum over jumps   step * gte(t, a)                 (two keys at the same a)

so it holds v0 before the first key and the last value after the last key, slides between
keys and jumps on the frame at a cut. The sum is clamped inside the frame and made even
(4:2:0 chroma): trunc(clip(v(t), 0, room) / 2) * 2.

Limits of ffmpeg's expression evaluator (libavutil/eval.c, measured with ffmpeg 5.1): it refuses
an expression nested about 100 deep, and a flat `a+b+c+...` chain counts one level a term, so
the terms are summed in parenthesised groups of GROUP_TERMS (a tree: 1000 terms are 3 levels).
The filter graph travels as one argv string, which Linux caps at 128 KiB, so a path is first
simplified (keys that straight lines through their neighbours reproduce within 1 px are dropped)
and, when it still has more than MAX_TERMS, the tolerance is doubled up to MAX_TOLERANCE_PX; a
path that does not fit even then (hundreds of cuts) is resampled at MAX_TERMS even times, which
turns its cuts into short slides.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

GROUP_TERMS = 16
# About 45 characters a term: ~45 KB, well inside the 128 KiB argv string limit with the rest of -vf.
MAX_TERMS = 1000
TOLERANCE_PX = 1.0
MAX_TOLERANCE_PX = 16.0

Key = tuple[float, float]  # (t_s, offset in source pixels along one axis)


def axis_keys(path: Sequence, along_x: bool, frame_size: int, window_size: int) -> list[Key]:
    """The window's unclamped offset (left or top edge, source pixels) at each key of `path` (spec.CropKey)."""
    return [(key.t_s, (key.x if along_x else key.y) * frame_size - window_size / 2) for key in path]


def offset_expression(keys: Sequence[Key], room: int, tolerance_px: float = TOLERANCE_PX,
                      max_terms: int = MAX_TERMS) -> str:
    """The ffmpeg expression (unescaped) of the window's even offset, within 0..room, at frame time `t`;
    a plain number when the window does not move."""
    if room < 2:
        return "0"
    # Times as written (microseconds): keys closer than that are one time, a jump, never a slide of no length.
    keys = [(round(t_s, 6), value) for t_s, value in keys]
    kept = simplify(keys, tolerance_px)
    while len(kept) > max_terms + 1 and tolerance_px < MAX_TOLERANCE_PX:
        tolerance_px *= 2
        kept = simplify(keys, tolerance_px)
    if len(kept) > max_terms + 1:
        kept = simplify(_resampled(kept, max_terms), tolerance_px)
    if _clamped_constant(kept, room):
        return str(_even_clamped(kept[0][1], room))
    terms = []
    for (start, before), (end, after) in pairwise(kept):
        if after == before:
            continue
        if end > start:
            a = _number(start)
            terms.append(f"{_number((after - before) / (end - start))}*(clip(t,{a},{_number(end)})-{a})")
        else:
            terms.append(f"{_number(after - before)}*gte(t,{_number(start)})")
    return f"trunc(clip({_number(kept[0][1])}{''.join('+' + term for term in _grouped(terms))},0,{room})/2)*2"


def simplify(keys: Sequence[Key], tolerance_px: float = TOLERANCE_PX) -> list[Key]:
    """The keys that straight lines need to stay within `tolerance_px` of every key given.

    Keys at one time keep only the first and the last (a jump); a jump no bigger than the
    tolerance becomes its later key (the path may then be off by twice the tolerance just
    before it: 2 px, nothing a viewer sees). Between jumps, a key is kept only when the line from the
    last kept key to the next one would miss a key in between by more than the tolerance
    (a slope window per anchor: one pass, O(n)).
    """
    merged: list[Key] = []
    for index, (t_s, value) in enumerate(keys):
        last_at_time = index + 1 == len(keys) or keys[index + 1][0] != t_s
        if merged and merged[-1][0] == t_s and not last_at_time:
            continue  # the middle of three or more keys at one time never shows
        if merged and merged[-1][0] == t_s and abs(value - merged[-1][1]) <= tolerance_px:
            merged[-1] = (t_s, value)
            continue
        merged.append((t_s, value))
    runs: list[list[Key]] = [[]]
    for key in merged:
        if runs[-1] and runs[-1][-1][0] == key[0]:
            runs.append([])
        runs[-1].append(key)
    kept: list[Key] = []
    for run in runs:
        kept += _simplify_run(run, tolerance_px)
    # Two keys in a row with one value at one time are the same key (a small jump dropped in a run's ends).
    return [key for index, key in enumerate(kept) if index == 0 or key != kept[index - 1]]


def _simplify_run(run: list[Key], tolerance_px: float) -> list[Key]:
    """One stretch without jumps (strictly increasing times): greedy, with the feasible slopes from the anchor."""
    if len(run) <= 2:
        return list(run)
    kept = [run[0]]
    anchor_t, anchor_v = run[0]
    low, high = float("-inf"), float("inf")
    for index in range(1, len(run)):
        t_s, value = run[index]
        slope = (value - anchor_v) / (t_s - anchor_t)
        if not low <= slope <= high:
            kept.append(run[index - 1])  # the line must end on a key: the last one that fitted
            anchor_t, anchor_v = run[index - 1]
            low, high = float("-inf"), float("inf")
        span = t_s - anchor_t
        low = max(low, (value - tolerance_px - anchor_v) / span)
        high = min(high, (value + tolerance_px - anchor_v) / span)
    if kept[-1] != run[-1]:
        kept.append(run[-1])
    return kept


def _resampled(keys: list[Key], count: int) -> list[Key]:
    """The path at `count` evenly spaced times (jumps become slides one step long): the last resort."""
    start, end = keys[0][0], keys[-1][0]
    resampled, index = [], 0
    for step in range(count):
        t_s = start + (end - start) * step / (count - 1)
        while index + 1 < len(keys) and keys[index + 1][0] <= t_s:
            index += 1  # the last key at or before t_s: at a jump, the one after it
        if index + 1 == len(keys):
            resampled.append((t_s, keys[-1][1]))
            continue
        (before_t, before), (after_t, after) = keys[index], keys[index + 1]
        resampled.append((t_s, before + (after - before) * (t_s - before_t) / (after_t - before_t)))
    return resampled


def value_at(keys: Sequence[Key], t_s: float) -> float:
    """The path's unclamped value at t_s (at a jump, the value after it), as the expression computes it."""
    value = keys[0][1]
    for (start, before), (end, after) in pairwise(keys):
        if t_s >= end:
            value += after - before
        elif t_s > start:
            value += (after - before) * (t_s - start) / (end - start)
    return value


def _clamped_constant(keys: list[Key], room: int) -> bool:
    """Whether the window never moves: one value, or every key pushed past the same edge."""
    values = [value for _, value in keys]
    return len(set(values)) == 1 or all(value <= 0 for value in values) or all(value >= room for value in values)


def _even_clamped(value: float, room: int) -> int:
    return int(min(max(value, 0), room) / 2) * 2


def _grouped(terms: list[str]) -> list[str]:
    """The terms summed in parenthesised groups, a tree of GROUP_TERMS per level (ffmpeg's nesting limit)."""
    while len(terms) > GROUP_TERMS:
        terms = ["(" + "+".join(terms[index:index + GROUP_TERMS]) + ")" for index in range(0, len(terms), GROUP_TERMS)]
    return terms


def _number(value: float) -> str:
    """Fixed-point (never an exponent), microsecond / micro-pixel precision, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
