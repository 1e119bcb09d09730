"""What a model is told about a video: its length, shots and sentences, bounded in characters.

Both model prompts (plan_clips' plan, summarize_video's summary) describe the video the same
way; past the budget, sentences are shortened and then thinned evenly, so a four-hour talk
never sends more than the job's tokens allow.
"""

from __future__ import annotations

from bisect import bisect_left

from lambdas.common.judgment import PLAN_MAX_OUTPUT_TOKENS, PlanBounds
from lambdas.common.signals import Signals

MAX_PROMPT_CHARS = 60_000
INSTRUCTION_TOKENS = 1_000  # the system text and the tool schema, generously
SHORT_SENTENCE_WORDS = 12


def prompt_chars_for(bounds: PlanBounds) -> int:
    """Characters of video facts such that one call (prompt and answer) takes at most half the job's tokens."""
    tokens = bounds.max_tokens_per_job // 2 - PLAN_MAX_OUTPUT_TOKENS - INSTRUCTION_TOKENS
    return max(2_000, min(MAX_PROMPT_CHARS, tokens * 3))


def video_facts(signals: Signals, summary: str | None, char_budget: int) -> str:
    head = [f"Video length: {signals.duration_s:.1f} s."]
    if summary:
        head.append(f"Summary: {summary}")
    head.append(f"Speech: {len(signals.words)} words in {len(signals.sentences)} sentences"
                + (f" ({signals.language})." if signals.language else "."))
    times = [frame.t_s for frame in signals.frames]
    shot_lines = [_shot_line(number, start_s, end_s, signals, times)
                  for number, (start_s, end_s) in enumerate(signals.shots, start=1)]
    shot_lines, shot_note = _thin(shot_lines, char_budget // 3, "shots")
    fixed = ("\n".join(head) + f"\nShots (start-end s: faces, sharpness){shot_note}:\n" + "\n".join(shot_lines)
             + "\n")
    room = max(0, char_budget - len(fixed) - 100)
    lines = [f"[{s.start_s:.1f}-{s.end_s:.1f}] {s.text}" for s in signals.sentences]
    note = ""
    if sum(len(line) + 1 for line in lines) > room:
        lines = [f"[{s.start_s:.1f}-{s.end_s:.1f}] {_first_words(s.text)}" for s in signals.sentences]
        lines, thinned = _thin(lines, room, "sentences")
        note = f" (each cut to its first {SHORT_SENTENCE_WORDS} words{'; ' + thinned[2:-1] if thinned else ''})"
    transcript = ("Sentences (start-end s: text)" + note + ":\n" + "\n".join(lines)) if lines else "No speech."
    return fixed + transcript


def _thin(lines: list[str], room: int, name: str) -> tuple[list[str], str]:
    """Evenly spread lines that fit in `room` characters, and a note saying so (empty when all fit)."""
    size = sum(len(line) + 1 for line in lines)
    if size <= room or not lines:
        return lines, ""
    keep = max(1, int(room // (size / len(lines))))
    step = len(lines) / keep
    return [lines[int(index * step)] for index in range(keep)], f" ({keep} of {len(lines)} {name}, evenly spread)"


def _shot_line(number: int, start_s: float, end_s: float, signals: Signals, times: list[float]) -> str:
    frames = signals.frames[bisect_left(times, start_s):bisect_left(times, end_s)]
    if not frames:
        return f"[{start_s:.1f}-{end_s:.1f}] shot {number}"
    faces = sum(frame.has_face for frame in frames) / len(frames)
    sharpness = sum(frame.sharpness for frame in frames) / len(frames)
    return f"[{start_s:.1f}-{end_s:.1f}] shot {number}: faces in {faces * 100:.0f} % of frames, sharpness {sharpness:.2f}"


def _first_words(text: str) -> str:
    words = text.split()
    return " ".join(words[:SHORT_SENTENCE_WORDS]) + (" …" if len(words) > SHORT_SENTENCE_WORDS else "")
