"""The Bedrock planner: one Converse call that must answer by calling the `submit_clip_plan` tool.

The prompt gives the model the video's length, its sentences with times, and its shots with
their face share and sharpness (the same signals the local planner scores), plus the rules
of a plan. The tool's JSON schema asks for the structured plan; `toolChoice` forces the
model to answer with it. The answer is a DraftPlan: validate_plan decides what survives.

The prompt is bounded: past `prompt_char_budget` characters the sentences are shortened,
then thinned evenly, so a four-hour talk never sends more than the job's budget allows.
"""

from __future__ import annotations

from lambdas.common.judgment import PLAN_MAX_OUTPUT_TOKENS, DraftPlan, ModelAnswerInvalid, PlanBounds
from lambdas.common.model_gateway import ModelGateway, tool_input
from lambdas.common.signals import Signals
from lambdas.common.video_facts import prompt_chars_for, video_facts

PLAN_TOOL = "submit_clip_plan"
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
