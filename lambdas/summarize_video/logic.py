"""summarize_video: a title and a two-to-three-sentence summary of the video.

With BEDROCK_MODEL_ID set, one budgeted Converse call answers through the `submit_summary`
tool (same budget and event rules as plan_clips). Otherwise, or when the budget is spent or
the answer unusable, the summary is extractive: the most central sentences of the transcript
(each sentence's content-word overlap with all the others), in the order they were said,
titled by the first words of the most central one. A video without speech is described by
its length, shots and faces. The summary goes to analysis/<job>/summary.json and into the
workflow state, where plan_clips may give it to the model.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import (
    SUMMARY_MAX_OUTPUT_TOKENS,
    BudgetExceeded,
    ModelAnswerInvalid,
    ModelCallFailed,
    PlanBounds,
    summary_key,
)
from lambdas.common.model_gateway import ModelGateway, record_fallback, tool_input
from lambdas.common.models import AnalysisResults, JobRequest, MediaInfo, Model
from lambdas.common.signals import Signals, load_signals
from lambdas.common.video_facts import prompt_chars_for, video_facts

SUMMARY_TOOL = "submit_summary"
PURPOSE = "summarize_video"
SUMMARY_SENTENCES = 3
MAX_SENTENCE_WORDS = 40
TITLE_WORDS = 8
MAX_TITLE_CHARS = 100
_TOKEN = re.compile(r"[a-z][a-z']+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
STOPWORDS = frozenset("""a about after again all also am an and any are as at be because been before being
between both but by can could did do does doing down during each few for from further had has have having he her
here hers him his how i if in into is it its itself just let me more most my no nor not now of off on once only or
other our ours out over own really same she should so some such than that the their theirs them then there these
they this those through to too under until up very was we were what when where which while who whom why will with
would you your yours yeah okay oh um uh like going get got one thing things""".split())


class VideoSummary(Model):
    summarizer: Literal["bedrock", "extractive"]
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    summary: str = Field(min_length=1)
    fallback_reason: str | None = None


class SummarizeRequest(JobRequest):
    media: MediaInfo
    analysis: AnalysisResults


class SummaryRef(VideoSummary):
    bucket: str
    key: str


# ---------------------------------------------------------------------------------------
# Extractive (pure)
# ---------------------------------------------------------------------------------------


def extractive_summary(signals: Signals, count: int = SUMMARY_SENTENCES) -> VideoSummary:
    sentences = [s.text.strip() for s in signals.sentences if s.text.strip()]
    if not sentences:
        return _silent_summary(signals)
    tokens = [set(_TOKEN.findall(text.lower())) - STOPWORDS for text in sentences]
    centrality = [sum(_similarity(tokens[i], tokens[j]) for j in range(len(sentences)) if j != i)
                  for i in range(len(sentences))]
    ranked = sorted(range(len(sentences)), key=lambda i: (-centrality[i], i))
    chosen = sorted(ranked[:count])
    summary = " ".join(_cap_words(sentences[i], MAX_SENTENCE_WORDS) for i in chosen)
    return VideoSummary(summarizer="extractive", title=_title(sentences[ranked[0]]), summary=summary)


def _similarity(a: set[str], b: set[str]) -> float:
    """Shared content words, normalized by length (TextRank's sentence similarity)."""
    if not a or not b:
        return 0.0
    return len(a & b) / (math.log(len(a) + 1) + math.log(len(b) + 1))


def _silent_summary(signals: Signals) -> VideoSummary:
    shots = max(1, len(signals.shots))
    parts = [f"A {_length(signals.duration_s)} video without speech, in {shots} shot{'s' if shots > 1 else ''}."]
    if signals.frames:
        share = sum(frame.has_face for frame in signals.frames) / len(signals.frames)
        parts.append(f"Faces appear in {share * 100:.0f} % of its frames." if share else "No faces appear in it.")
    return VideoSummary(summarizer="extractive", title=f"Video without speech ({_length(signals.duration_s)})",
                        summary=" ".join(parts))


def _title(sentence: str) -> str:
    words = sentence.split()
    title = " ".join(words[:TITLE_WORDS]).rstrip(".,;:!?")
    return _cap_chars(title + ("…" if len(words) > TITLE_WORDS else ""), MAX_TITLE_CHARS)


def _cap_words(text: str, limit: int) -> str:
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]).rstrip(".,;:") + "…"


def _cap_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _length(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole} s" if whole < 60 else f"{whole // 60}:{whole % 60:02d} min"


# ---------------------------------------------------------------------------------------
# Bedrock
# ---------------------------------------------------------------------------------------


def summary_request(signals: Signals, bounds: PlanBounds) -> dict:
    system = ("You summarize videos from their transcript and shots. Give a short title and a summary of two or "
              f"three sentences in plain words. Answer only by calling the {SUMMARY_TOOL} tool.")
    return {
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": video_facts(signals, None, prompt_chars_for(bounds))}]}],
        "toolConfig": {
            "tools": [{"toolSpec": {
                "name": SUMMARY_TOOL,
                "description": "Submit the title and summary of this video.",
                "inputSchema": {"json": {
                    "type": "object",
                    "properties": {"title": {"type": "string", "maxLength": MAX_TITLE_CHARS},
                                   "summary": {"type": "string", "description": "two or three sentences"}},
                    "required": ["title", "summary"],
                }},
            }}],
            "toolChoice": {"tool": {"name": SUMMARY_TOOL}},
        },
        "inferenceConfig": {"maxTokens": SUMMARY_MAX_OUTPUT_TOKENS, "temperature": 0.2},
    }


def parse_summary(response: dict) -> VideoSummary:
    answer = tool_input(response, SUMMARY_TOOL)
    title = " ".join(answer.get("title", "").split()) if isinstance(answer.get("title"), str) else ""
    text = " ".join(answer.get("summary", "").split()) if isinstance(answer.get("summary"), str) else ""
    if not title or not text:
        raise ModelAnswerInvalid(f"The {SUMMARY_TOOL} input lacks a title or a summary.")
    sentences = _SENTENCE_END.split(text)[:SUMMARY_SENTENCES]
    return VideoSummary(summarizer="bedrock", title=_cap_chars(title, MAX_TITLE_CHARS), summary=" ".join(sentences))


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def summarize(job_id: str, signals: Signals, bounds: PlanBounds, events: EventLog,
              gateway: ModelGateway | None) -> VideoSummary:
    if gateway is not None:
        try:
            response, _ = gateway.converse(job_id, PURPOSE, summary_request(signals, bounds))
            return parse_summary(response)
        except (BudgetExceeded, ModelCallFailed, ModelAnswerInvalid) as error:
            reason = record_fallback(events, job_id, "SummarizeVideo", PURPOSE, error)
            return extractive_summary(signals).model_copy(update={"fallback_reason": reason})
    return extractive_summary(signals)


def summarize_video(request: SummarizeRequest, bounds: PlanBounds, output_bucket: str, events: EventLog,
                    gateway: ModelGateway | None = None) -> SummaryRef:
    signals = load_signals(request.analysis, request.media.duration_s)
    summary = summarize(request.job_id, signals, bounds, events, gateway)
    key = summary_key(request.job_id)
    storage.put_json(output_bucket, key, {"job_id": request.job_id, **summary.model_dump(mode="json")})
    events.append(request.job_id, "summary.written", "SummarizeVideo", summarizer=summary.summarizer,
                  title=summary.title, fallback_reason=summary.fallback_reason, summary_key=key)
    return SummaryRef(bucket=output_bucket, key=key, **summary.model_dump())
