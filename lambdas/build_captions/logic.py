"""build_captions: the canonical transcript -> WebVTT and SRT captions that players accept.

Rules (the common broadcast/streaming ones):
- a cue holds at most 2 lines of at most 42 characters, split between words where the two
  lines are closest in length; a word longer than a line is cut into line-sized pieces;
- a cue never spans a sentence end, a pause longer than 0.8 s, or more than 7 s of speech;
  once its first line is full, a clause end (",", ";", ":") also closes it;
- every cue lasts at least 1 s and at most 7 s, and no two cues overlap: a short cue is
  lengthened into the silence after it (then before it); when there is no room, it joins a
  neighbour; as a last resort the cues after it move later (never more than needed);
- times are milliseconds: SRT `00:00:01,000 --> 00:00:02,500`, WebVTT
  `00:00:01.000 --> 00:00:02.500` after the `WEBVTT` header; WebVTT text escapes & < >;
- speakers (a transcript with two or more): a cue never holds two speakers (sentences end where
  the speaker changes, and cues of different speakers never merge); the first cue of each new
  speaker starts with "- " (the subtitling convention for a change of speaker, plain text in
  both formats; its lines are wrapped 2 characters narrower to keep 42), and in WebVTT every cue
  is a voice span, `<v spk_1>...`, naming its speaker as the transcript does.

Writes `captions/<job_id>/captions.vtt` and `captions/<job_id>/captions.srt`. A transcript
with no words (no speech, no audio) gives no captions: both keys are None, cue_count is 0,
and the step succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from lambdas.common import aws, storage
from lambdas.common.events import EventLog
from lambdas.common.keys import captions_keys
from lambdas.common.models import JobRequest, Model, Transcript, TranscriptRef, Word
from lambdas.common.sentences import ends_sentence

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_MS = 1000
MAX_CUE_MS = 7000
CUE_PAUSE_MS = 800
CLAUSE_END_MARKS = ",;:"


class CaptionsRequest(JobRequest):
    transcript: TranscriptRef


class CaptionsResult(Model):
    bucket: str
    vtt_key: str | None
    srt_key: str | None
    cue_count: int = Field(ge=0)


SPEAKER_CHANGE = "- "


@dataclass
class Cue:
    start_ms: int
    end_ms: int
    words: list[str]
    speaker: str | None = None
    new_speaker: bool = False  # the first cue of a speaker after another's: marked with SPEAKER_CHANGE

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def lines(self) -> list[str]:
        if self.new_speaker:
            marked = wrap(self.text, MAX_LINE_CHARS - len(SPEAKER_CHANGE))
            if marked is not None:  # (a line-long piece of one word leaves no room for the mark: unmarked)
                return [SPEAKER_CHANGE + marked[0], *marked[1:]]
        lines = wrap(self.text)
        assert lines is not None, self.text
        return lines


# ---------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------


def wrap(text: str, width: int = MAX_LINE_CHARS, max_lines: int = MAX_LINES) -> list[str] | None:
    """The text as at most `max_lines` lines of at most `width` characters, or None when it does not fit.

    Two lines are split at the word boundary that makes them closest in length (a tie goes
    to the longer bottom line, which covers less of the picture's centre).
    """
    if len(text) <= width:
        return [text]
    if max_lines < 2:
        return None
    words = text.split(" ")
    best: tuple[int, int] | None = None
    for split in range(1, len(words)):
        top, bottom = " ".join(words[:split]), " ".join(words[split:])
        if len(top) <= width and len(bottom) <= width:
            rank = (abs(len(top) - len(bottom)), len(top) - len(bottom))
            if best is None or rank < best:
                best, chosen = rank, split
    if best is None:
        return None
    return [" ".join(words[:chosen]), " ".join(words[chosen:])]


def _fits(words: list[str], width: int = MAX_LINE_CHARS) -> bool:
    return wrap(" ".join(words), width) is not None


def _pieces(word: Word) -> list[tuple[str, int, int]]:
    """A word as (text, start ms, end ms); one longer than a line becomes line-sized pieces sharing its time."""
    start, end = _ms(word.start_s), max(_ms(word.start_s), _ms(word.end_s))
    text = word.text
    if len(text) <= MAX_LINE_CHARS:
        return [(text, start, end)]
    chunks = [text[i:i + MAX_LINE_CHARS] for i in range(0, len(text), MAX_LINE_CHARS)]
    step = (end - start) / len(chunks)
    return [(chunk, round(start + i * step), round(start + (i + 1) * step)) for i, chunk in enumerate(chunks)]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# ---------------------------------------------------------------------------------------
# Cues
# ---------------------------------------------------------------------------------------


def build_cues(transcript: Transcript) -> list[Cue]:
    cues: list[Cue] = []
    speakers = len({word.speaker for word in transcript.words} - {None}) >= 2
    for sentence in transcript.sentences:
        current: Cue | None = None
        speaker = sentence.speaker if speakers else None
        for word in transcript.words[sentence.first_word:sentence.last_word + 1]:
            for text, start, end in _pieces(word):
                if current is not None and (
                    not _fits(current.words + [text], _width(current))
                    or end - current.start_ms > MAX_CUE_MS
                    or start - current.end_ms > CUE_PAUSE_MS
                ):
                    cues.append(current)
                    current = None
                if current is None:
                    previous = cues[-1].speaker if cues else speaker
                    current = Cue(start, end, [text], speaker, new_speaker=speaker != previous)
                else:
                    current.words.append(text)
                    current.end_ms = max(current.end_ms, end)
            if (current is not None and word.text[-1:] in CLAUSE_END_MARKS
                    and len(current.text) >= MAX_LINE_CHARS and not ends_sentence(word)):
                cues.append(current)
                current = None
        if current is not None:
            cues.append(current)
    return fix_timing(cues)


def fix_timing(cues: list[Cue]) -> list[Cue]:
    """Apply the duration and overlap rules (see the module docstring), in place and returned."""
    for cue in cues:
        cue.end_ms = min(max(cue.end_ms, cue.start_ms), cue.start_ms + MAX_CUE_MS)
    # Words that overlap in time (two speakers at once) never make cues that do.
    for previous, cue in zip(cues, cues[1:], strict=False):
        if previous.end_ms > cue.start_ms:
            previous.end_ms = max(previous.start_ms, cue.start_ms)
    index = 0
    while index < len(cues):
        cue = cues[index]
        previous = cues[index - 1] if index else None
        following = cues[index + 1] if index + 1 < len(cues) else None
        if cue.end_ms - cue.start_ms < MIN_CUE_MS:
            limit = following.start_ms if following else cue.start_ms + MIN_CUE_MS
            cue.end_ms = max(cue.end_ms, min(cue.start_ms + MIN_CUE_MS, limit))
        if cue.end_ms - cue.start_ms < MIN_CUE_MS:
            floor = previous.end_ms if previous else 0
            cue.start_ms = max(floor, min(cue.start_ms, cue.end_ms - MIN_CUE_MS))
        if cue.end_ms - cue.start_ms < MIN_CUE_MS:
            if previous and _mergeable(previous, cue):
                previous.words += cue.words
                previous.end_ms = cue.end_ms
                del cues[index]
                index -= 1  # look at the merged cue again
                continue
            if following and _mergeable(cue, following):
                cue.words += following.words
                cue.end_ms = following.end_ms
                del cues[index + 1]
                continue
        index += 1
    # Last resort: a cue that is still short takes its second, and the cues after it move on.
    for previous, cue in zip([None, *cues], cues, strict=False):
        if previous is not None and cue.start_ms < previous.end_ms:
            shift = previous.end_ms - cue.start_ms
            cue.start_ms, cue.end_ms = cue.start_ms + shift, cue.end_ms + shift
        if cue.end_ms - cue.start_ms < MIN_CUE_MS:
            cue.end_ms = cue.start_ms + MIN_CUE_MS
    return cues


def _width(cue: Cue) -> int:
    """The line width a cue's words must fit: narrower by the mark when it starts a new speaker."""
    return MAX_LINE_CHARS - (len(SPEAKER_CHANGE) if cue.new_speaker else 0)


def _mergeable(first: Cue, second: Cue) -> bool:
    return (first.speaker == second.speaker and _fits(first.words + second.words, _width(first))
            and second.end_ms - first.start_ms <= MAX_CUE_MS)


# ---------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------


def timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _clean(line: str) -> str:
    return line.replace("-->", "->")


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{number}\n{timestamp(cue.start_ms, ',')} --> {timestamp(cue.end_ms, ',')}\n"
        + "\n".join(_clean(line) for line in cue.lines)
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def to_webvtt(cues: list[Cue]) -> str:
    blocks = ["WEBVTT"] + [
        f"{number}\n{timestamp(cue.start_ms, '.')} --> {timestamp(cue.end_ms, '.')}\n"
        + (f"<v {_escape_vtt(cue.speaker)}>" if cue.speaker else "")
        + "\n".join(_escape_vtt(_clean(line)) for line in cue.lines)
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def _escape_vtt(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def build_captions(request: CaptionsRequest, output_bucket: str, events: EventLog) -> CaptionsResult:
    ref = request.transcript
    transcript = Transcript.model_validate(storage.get_json(ref.bucket, ref.key))
    cues = build_cues(transcript) if transcript.words else []
    if not cues:
        events.append(request.job_id, "captions.built", "BuildCaptions", cues=0,
                      reason="The transcript has no words: no captions.")
        return CaptionsResult(bucket=output_bucket, vtt_key=None, srt_key=None, cue_count=0)
    vtt_key, srt_key = captions_keys(request.job_id)
    s3 = aws.client("s3")
    s3.put_object(Bucket=output_bucket, Key=vtt_key, Body=to_webvtt(cues).encode(),
                  ContentType="text/vtt; charset=utf-8")
    s3.put_object(Bucket=output_bucket, Key=srt_key, Body=to_srt(cues).encode(),
                  ContentType="application/x-subrip; charset=utf-8")
    events.append(request.job_id, "captions.built", "BuildCaptions", cues=len(cues), vtt_key=vtt_key,
                  srt_key=srt_key)
    return CaptionsResult(bucket=output_bucket, vtt_key=vtt_key, srt_key=srt_key, cue_count=len(cues))
