"""summarize_video: a title, a two-to-three-sentence summary and the chapters of the video.

With BEDROCK_MODEL_ID set, one budgeted Converse call answers through the `submit_summary`
tool (same budget and event rules as plan_clips): the title, the summary and the chapters
(where each starts, a title, one sentence). Otherwise, or when the budget is spent or the
answer unusable, the summary is extractive: the most central sentences of the transcript
(each sentence's content-word overlap with all the others), in the order they were said,
titled by the first words of the most central one; and the chapters are local
(lambdas/common/chapters.py: topic shifts in the sentences' MiniLM embeddings, read from the
job's search index). Chapters the model gave that cannot be used fall back to the local ones
on their own (`judgment.fallback`, purpose `chapter_video`), keeping the model's summary. A
video without speech is described by its length, shots and faces, and chaptered by its shots.
Everything goes to analysis/<job>/summary.json; the workflow state gets the title, the summary
(plan_clips may give it to the model) and the number of chapters, not the chapters (a list that
grows with the video stays in S3; publish_results reads it there).
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field

from lambdas.common import storage
from lambdas.common.chapters import (
    MAX_CHAPTERS,
    MAX_TITLE_CHARS as CHAPTER_TITLE_CHARS,
    Chapter,
    Chapterer,
    index_rows,
    local_chapters,
    sentence_vectors,
)
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
from lambdas.common.models import AnalysisResults, JobRequest, MediaInfo, Model, ObjectRef
from lambdas.common.signals import Signals, load_signals
from lambdas.common.video_facts import prompt_chars_for, video_facts

SUMMARY_TOOL = "submit_summary"
PURPOSE = "summarize_video"
CHAPTERS_PURPOSE = "chapter_video"  # the fallback of the answer's chapters alone, in the judgment.fallback event
CHAPTERS_MAX_OUTPUT_TOKENS = 1_600  # the answer's chapters, beside the summary's SUMMARY_MAX_OUTPUT_TOKENS
CHAPTER_SNAP_S = 2.0  # a model's chapter start moves to the sentence start or shot cut this close
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
    chapters: list[Chapter] = Field(default_factory=list)
    chapterer: Chapterer | None = None
    chapters_fallback_reason: str | None = None


class SummarizeRequest(JobRequest):
    media: MediaInfo
    analysis: AnalysisResults
    search_index: ObjectRef | None = Field(None, description="keyframe_inference's index: the sentences' vectors")


class SummaryRef(Model):
    """What the workflow state carries: the summary without its chapters, and where the whole is."""

    bucket: str
    key: str
    summarizer: Literal["bedrock", "extractive"]
    title: str
    summary: str
    fallback_reason: str | None = None
    chapterer: Chapterer | None = None
    chapter_count: int = 0


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
              "three sentences in plain words, and divide the video into chapters that cover it from start to end, "
              "one per topic: where each begins (seconds, at the start of a sentence or a shot), a short title in "
              "the video's own words, and one sentence saying what it covers. "
              f"Answer only by calling the {SUMMARY_TOOL} tool.")
    return {
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": video_facts(signals, None, prompt_chars_for(bounds))}]}],
        "toolConfig": {
            "tools": [{"toolSpec": {
                "name": SUMMARY_TOOL,
                "description": "Submit the title and summary of this video.",
                "inputSchema": {"json": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "maxLength": MAX_TITLE_CHARS},
                        "summary": {"type": "string", "description": "two or three sentences"},
                        "chapters": {"type": "array", "maxItems": MAX_CHAPTERS,
                                     "description": "in order, the first starting at 0",
                                     "items": {"type": "object", "properties": {
                                         "start_s": {"type": "number"},
                                         "title": {"type": "string", "maxLength": CHAPTER_TITLE_CHARS},
                                         "summary": {"type": "string", "description": "one sentence"}},
                                         "required": ["start_s", "title", "summary"]}},
                    },
                    "required": ["title", "summary", "chapters"],
                }},
            }}],
            "toolChoice": {"tool": {"name": SUMMARY_TOOL}},
        },
        "inferenceConfig": {"maxTokens": SUMMARY_MAX_OUTPUT_TOKENS + CHAPTERS_MAX_OUTPUT_TOKENS, "temperature": 0.2},
    }


def parse_summary(response: dict) -> VideoSummary:
    return _summary_of(tool_input(response, SUMMARY_TOOL))


def _summary_of(answer: dict) -> VideoSummary:
    title = " ".join(answer.get("title", "").split()) if isinstance(answer.get("title"), str) else ""
    text = " ".join(answer.get("summary", "").split()) if isinstance(answer.get("summary"), str) else ""
    if not title or not text:
        raise ModelAnswerInvalid(f"The {SUMMARY_TOOL} input lacks a title or a summary.")
    sentences = _SENTENCE_END.split(text)[:SUMMARY_SENTENCES]
    return VideoSummary(summarizer="bedrock", title=_cap_chars(title, MAX_TITLE_CHARS), summary=" ".join(sentences))


def parse_chapters(answer: dict, signals: Signals) -> list[Chapter]:
    """The answer's chapters, in order and covering the video: starts clamped into it and moved onto the nearest
    sentence start or shot cut within CHAPTER_SNAP_S, the first at 0, each ending where the next begins."""
    raw = answer.get("chapters")
    if not isinstance(raw, list) or not raw:
        raise ModelAnswerInvalid(f"The {SUMMARY_TOOL} input has no chapters.")
    anchors = sorted({sentence.start_s for sentence in signals.sentences} | set(signals.cuts))
    found: dict[float, tuple[str, str]] = {}
    for item in raw[:MAX_CHAPTERS]:
        start = item.get("start_s") if isinstance(item, dict) else None
        if not isinstance(start, int | float) or isinstance(start, bool) or not math.isfinite(start):
            continue
        title = " ".join(item["title"].split()) if isinstance(item.get("title"), str) else ""
        text = " ".join(item["summary"].split()) if isinstance(item.get("summary"), str) else ""
        if not title or not text:
            continue
        start = min(max(0.0, float(start)), signals.duration_s)
        nearest = min(anchors, key=lambda anchor: abs(anchor - start), default=start)
        start = round(nearest if abs(nearest - start) <= CHAPTER_SNAP_S else start, 3)
        found.setdefault(start, (_cap_chars(title, CHAPTER_TITLE_CHARS), _cap_words(_SENTENCE_END.split(text)[0], MAX_SENTENCE_WORDS)))
    starts = [start for start in sorted(found) if start < signals.duration_s]
    if not starts:
        raise ModelAnswerInvalid(f"None of the {SUMMARY_TOOL} input's chapters has a start, a title and a summary.")
    edges = [0.0, *starts[1:], signals.duration_s]
    return [Chapter(start_s=edges[k], end_s=edges[k + 1], title=found[start][0], summary=found[start][1])
            for k, start in enumerate(starts)]


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def summarize(job_id: str, signals: Signals, bounds: PlanBounds, events: EventLog,
              gateway: ModelGateway | None, vectors: list | None = None) -> VideoSummary:
    """The summary and chapters: the model's (within the budget) where usable, else the local ones."""
    if gateway is not None:
        try:
            response, _ = gateway.converse(job_id, PURPOSE, summary_request(signals, bounds))
            answer = tool_input(response, SUMMARY_TOOL)
            summary = _summary_of(answer)
        except (BudgetExceeded, ModelCallFailed, ModelAnswerInvalid) as error:
            reason = record_fallback(events, job_id, "SummarizeVideo", PURPOSE, error)
            return _with_local_chapters(extractive_summary(signals).model_copy(update={"fallback_reason": reason}),
                                        signals, vectors)
        try:
            return summary.model_copy(update={"chapters": parse_chapters(answer, signals), "chapterer": "bedrock"})
        except ModelAnswerInvalid as error:
            reason = record_fallback(events, job_id, "SummarizeVideo", CHAPTERS_PURPOSE, error)
            return _with_local_chapters(summary, signals, vectors, reason)
    return _with_local_chapters(extractive_summary(signals), signals, vectors)


def _with_local_chapters(summary: VideoSummary, signals: Signals, vectors: list | None,
                         reason: str | None = None) -> VideoSummary:
    chapters, chapterer = local_chapters(signals, vectors)
    return summary.model_copy(update={"chapters": chapters, "chapterer": chapterer,
                                      "chapters_fallback_reason": reason})


def sentence_vectors_from_index(index: ObjectRef | None, signals: Signals) -> list | None:
    """The sentences' vectors from keyframe_inference's search index; None without an index or when it cannot be read
    (the chapters then come from the sentences' words)."""
    if index is None or not signals.sentences:
        return None
    try:
        return sentence_vectors(signals.sentences, index_rows(storage.get_json(index.bucket, index.key)))
    except (KeyError, TypeError, ValueError):
        return None


def summarize_video(request: SummarizeRequest, bounds: PlanBounds, output_bucket: str, events: EventLog,
                    gateway: ModelGateway | None = None) -> SummaryRef:
    signals = load_signals(request.analysis, request.media.duration_s)
    vectors = sentence_vectors_from_index(request.search_index, signals)
    summary = summarize(request.job_id, signals, bounds, events, gateway, vectors)
    key = summary_key(request.job_id)
    storage.put_json(output_bucket, key, {"job_id": request.job_id, **summary.model_dump(mode="json")})
    events.append(request.job_id, "summary.written", "SummarizeVideo", summarizer=summary.summarizer,
                  title=summary.title, fallback_reason=summary.fallback_reason, summary_key=key,
                  chapterer=summary.chapterer, chapters=len(summary.chapters),
                  **({"chapters_fallback_reason": summary.chapters_fallback_reason}
                     if summary.chapters_fallback_reason else {}))
    return SummaryRef(bucket=output_bucket, key=key, chapter_count=len(summary.chapters),
                      **summary.model_dump(include={"summarizer", "title", "summary", "fallback_reason", "chapterer"}))
