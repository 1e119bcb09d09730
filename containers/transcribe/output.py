"""Amazon Transcribe's output document, written from what the engine recognized.

normalize_transcript reads this one document whichever transcriber made it (Amazon Transcribe,
the whisper Batch job, the local stand-in), so the shape is the service's: results.transcripts,
results.items with pronunciation and separate punctuation items, times as strings,
results.audio_segments. When speakers were asked for (ShowSpeakerLabels), each pronunciation item
carries its `speaker_label` (spk_0, spk_1, ... in order of first speech) and results.speaker_labels
{channel_label, speakers, segments: [{start_time, end_time, speaker_label, items: [...]}]} groups
the words into turns, as the service writes them. Copied flat into the transcribe image beside engine.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: in the image this file sits flat beside engine.py
    from containers.transcribe.engine import RecognizedSegment

ACCOUNT_ID = "123456789012"

# Kept whole: the period belongs to the word and ends no sentence.
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "prof.", "vs.", "e.g.", "i.e.",
                            "a.m.", "p.m."})
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.){2,}$")  # U.S., U.K.
_PUNCTUATION_ITEMS = ".,?!;:"
_DROPPED = "\"'“”‘’()[]{}«»-–—…"


def split_punctuation(text: str) -> tuple[str, list[str]]:
    """'them.' -> ('them', ['.']); '"Hello,"' -> ('Hello', [',']); 'Mr.' -> ('Mr.', []).

    Transcribe emits punctuation as separate items of . , ? ! (and rarely ; :); quotes and
    brackets do not appear in its output, so they are dropped. An ellipsis becomes one '.'.
    """
    text = text.replace("…", "...").strip().lstrip(_DROPPED + _PUNCTUATION_ITEMS)
    if text.lower() in _ABBREVIATIONS or _INITIALISM.match(text):
        return text, []
    marks: list[str] = []
    while text and text[-1] in _PUNCTUATION_ITEMS + _DROPPED:
        mark, text = text[-1], text[:-1]
        if mark in _PUNCTUATION_ITEMS and not (marks and marks[0] == mark == "."):
            marks.insert(0, mark)
    return text, marks


def transcribe_output(job_name: str, language_code: str, segments: Sequence[RecognizedSegment],
                      account_id: str = ACCOUNT_ID, speaker_labels: bool = False) -> dict:
    """Segments of words -> the JSON document Amazon Transcribe writes for a finished job.

    `speaker_labels`: the job asked for speakers (the words carry them): speaker_label on each word's
    item and results.speaker_labels."""
    labels = _speaker_labels(segments) if speaker_labels else {}
    items: list[dict] = []
    audio_segments: list[dict] = []
    for segment in segments:
        first_item = len(items)
        for word in segment.words:
            content, marks = split_punctuation(word.text)
            if content:
                items.append({
                    "id": len(items),
                    "type": "pronunciation",
                    "alternatives": [{"confidence": _confidence(word.confidence), "content": content}],
                    "start_time": _seconds(word.start_s),
                    "end_time": _seconds(max(word.end_s, word.start_s)),
                })
                if speaker_labels:
                    items[-1]["speaker_label"] = labels.get(word.speaker, "spk_0")
            if not any(item["type"] == "pronunciation" for item in items[first_item:]):
                continue  # punctuation before any word of the segment has nothing to follow
            for mark in marks:
                items.append({"id": len(items), "type": "punctuation",
                              "alternatives": [{"confidence": "0.0", "content": mark}]})
        segment_items = items[first_item:]
        spoken = [item for item in segment_items if item["type"] == "pronunciation"]
        if spoken:
            audio_segments.append({
                "id": len(audio_segments),
                "transcript": _join(segment_items),
                "start_time": spoken[0]["start_time"],
                "end_time": spoken[-1]["end_time"],
                "items": [item["id"] for item in segment_items],
            })
    results = {
        "language_code": language_code,
        "transcripts": [{"transcript": _join(items)}],
        "items": items,
        "audio_segments": audio_segments,
    }
    if speaker_labels:
        results["speaker_labels"] = speaker_turns(items)
    return {"jobName": job_name, "accountId": account_id, "status": "COMPLETED", "results": results}


def _speaker_labels(segments: Sequence[RecognizedSegment]) -> dict:
    """The engine's speaker numbers -> spk_0, spk_1, ... in the order they first say a word."""
    labels: dict = {}
    for segment in segments:
        for word in segment.words:
            labels.setdefault(word.speaker, f"spk_{len(labels)}")
    return labels


def speaker_turns(items: list[dict]) -> dict:
    """results.speaker_labels: one segment per run of words by one speaker, listing its words' times."""
    turns: list[dict] = []
    for item in items:
        if item["type"] != "pronunciation":
            continue
        entry = {"start_time": item["start_time"], "speaker_label": item["speaker_label"],
                 "end_time": item["end_time"]}
        if turns and turns[-1]["speaker_label"] == item["speaker_label"]:
            turns[-1]["items"].append(entry)
            turns[-1]["end_time"] = item["end_time"]
        else:
            turns.append({"start_time": item["start_time"], "speaker_label": item["speaker_label"],
                          "end_time": item["end_time"], "items": [entry]})
    return {"channel_label": "ch_0", "speakers": len({turn["speaker_label"] for turn in turns}), "segments": turns}


def _join(items: list[dict]) -> str:
    text = ""
    for item in items:
        content = item["alternatives"][0]["content"]
        text += content if item["type"] == "punctuation" or not text else " " + content
    return text


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def _confidence(value: float) -> str:
    return str(round(min(1.0, max(0.0, float(value))), 4))
