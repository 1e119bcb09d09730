"""The Bedrock planner: one Converse call that must answer by calling the `submit_clip_plan` tool.

The prompt gives the model the video's length, its sentences with times, and its shots with
their face share and sharpness (the same signals the local planner scores), plus the rules
of a plan. The tool's JSON schema asks for the structured plan; `toolChoice` forces the
model to answer with it. The answer is a DraftPlan: validate_plan decides what survives.

The prompt is bounded: past `prompt_char_budget` characters the sentences are shortened,
then thinned evenly, so a four-hour talk never sends more than the job's budget allows.
"""

from __future__ import annotations

from bisect import bisect_left

from lambdas.check_budget.gateway import ModelGateway, tool_input
from lambdas.common.judgment import PLAN_MAX_OUTPUT_TOKENS, DraftPlan, ModelAnswerInvalid, PlanBounds
from lambdas.plan_clips.signals import Signals

PLAN_TOOL = "submit_clip_plan"
MAX_PROMPT_CHARS = 60_000
INSTRUCTION_TOKENS = 1_000  # the system text and the tool schema, generously
SHORT_SENTENCE_WORDS = 12
PURPOSE = "plan_clips"


def plan_tool_schema(bounds: PlanBounds, duration_s: float) -> dict:
    return {
        "type": "object",
        "properties": {
            "clips": {
                "type": "array",
                "maxItems": bounds.max_clips,
                "items": {
                    "type": "object",
                    "properties": {
                        "start_s": {"type": "number", "minimum": 0, "maximum": duration_s,
                                    "description": "clip start, seconds from the start of the video"},
                        "end_s": {"type": "number", "minimum": 0, "maximum": duration_s,
                                  "description": "clip end, seconds from the start of the video"},
                        "title": {"type": "string", "maxLength": 80, "description": "a short title for the clip"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1,
                                  "description": "how good a standalone clip this is, 0 to 1"},
                        "rationale": {"type": "string", "maxLength": 300,
                                      "description": "one sentence: why this clip, citing the signals"},
                    },
                    "required": ["start_s", "end_s", "title", "score", "rationale"],
                },
            },
        },
        "required": ["clips"],
    }


def plan_request(signals: Signals, bounds: PlanBounds, summary: str | None = None,
                 prompt_char_budget: int | None = None) -> dict:
    """The Converse request (without modelId) asking for a clip plan."""
    budget = prompt_char_budget or prompt_chars_for(bounds)
    system = (
        "You are a video editor choosing the best short clips of a longer video for social media. "
        f"Rules: each clip lasts between {bounds.min_clip_s:g} and {bounds.max_clip_s:g} seconds, lies inside "
        f"0 to {signals.duration_s:.1f} s, does not overlap another clip, and there are at most {bounds.max_clips} "
        "clips. Start and end clips on sentence boundaries when there is speech, preferably on cuts; prefer dense, "
        "self-contained speech, faces on screen and a sharp picture. Give each clip a short title, a score from "
        "0 to 1 and a rationale of exactly one sentence that cites these signals. "
        f"Answer only by calling the {PLAN_TOOL} tool."
    )
    facts = video_facts(signals, summary, budget)
    return {
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": facts}]}],
        "toolConfig": {
            "tools": [{"toolSpec": {
                "name": PLAN_TOOL,
                "description": "Submit the clip plan for this video.",
                "inputSchema": {"json": plan_tool_schema(bounds, signals.duration_s)},
            }}],
            "toolChoice": {"tool": {"name": PLAN_TOOL}},
        },
        "inferenceConfig": {"maxTokens": PLAN_MAX_OUTPUT_TOKENS, "temperature": 0.2},
    }


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


def plan_with_bedrock(gateway: ModelGateway, job_id: str, signals: Signals, bounds: PlanBounds,
                      summary: str | None = None) -> DraftPlan:
    """One budgeted Converse call; BudgetExceeded, ModelCallFailed or ModelAnswerInvalid when no plan came back."""
    response, _ = gateway.converse(job_id, PURPOSE, plan_request(signals, bounds, summary))
    return parse_plan(response)


def parse_plan(response: dict) -> DraftPlan:
    answer = tool_input(response, PLAN_TOOL)
    clips = answer.get("clips")
    if not isinstance(clips, list):
        raise ModelAnswerInvalid(f"The {PLAN_TOOL} input has no list of clips ({type(clips).__name__}).")
    return DraftPlan(planner="bedrock", clips=clips)
