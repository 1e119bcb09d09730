"""The deterministic local planner: the clip plan from the video's own signals, with no model.

Used locally and whenever Bedrock is not configured, and as the fallback when the model's
answer is unusable or the job's budget is spent. Same plan shape as the Bedrock planner.

Candidates. A clip starts at a sentence start, a cut or the beginning of the video, and ends
at a sentence end, a cut or the end of the video; in long stretches with none of these (a
silent single shot), points of a GRID_S-second grid fill the gaps. Every
(start, end) pair between min_clip_s and max_clip_s long is a candidate window.

Score. Each window gets five components in 0..1, and its score is their weighted mean over
the signals the video has (no speech: the speech and sentence weights drop out; no frame
timeline: the face and sharpness weights drop out):

    speech       words per second inside the window, SPEECH_FULL_WPS or more counting 1
    sentences    starts on a sentence start (1), in a pause (0.5) or mid-sentence (0); the
                 same for the end; the mean of the two
    cuts         starts on a cut or the beginning (1) or not (0); the same for the end
    faces        the share of the window's frames with at least one face
    sharpness    the mean sharpness of the window's frames (0..1, 0.5 at the blur point)

A start at most LEAD_S before a sentence, in the pause before it, counts as starting on the
sentence (the clip gets a breath of lead-in); likewise an end at most LEAD_S after one.
In a video with speech, a window where almost nothing is said (under MIN_SPEECH_WPS) is
not offered: a talk's silent stretches make poor clips.

Pick. The best windows that do not overlap, at most max_clips, in time order. Each clip's
rationale is one sentence written from those same numbers. A video shorter than two minimum
clips is itself the one clip (when at least min_clip_s long); a shorter one gets no clip,
with the reason.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate

from lambdas.common.judgment import MAX_TITLE_CHARS, ClipPlan, PlanBounds, PlannedClip
from lambdas.common.models import Model
from lambdas.common.signals import Signals

GRID_S = 5.0
LEAD_S = 1.0  # a start this far before a sentence, in the pause before it, counts as on the sentence (and an end after one)
MIN_SPEECH_WPS = 0.2  # in a video with speech, a window where (almost) nothing is said is not offered
SPEECH_FULL_WPS = 3.0  # brisk conversational speech; denser counts no more
WEIGHTS = {"speech": 0.30, "sentences": 0.25, "cuts": 0.15, "faces": 0.15, "sharpness": 0.15}
SPEECH_COMPONENTS = ("speech", "sentences")
VISION_COMPONENTS = ("faces", "sharpness")
BLURRY_BELOW = 0.35  # the same words as keyframe_inference's descriptions
SHARP_FROM = 0.55
TITLE_WORDS = 8
_EPS = 1e-6


class LocalPlan(Model):
    plan: ClipPlan
    reason: str | None = None
    candidate_count: int = 0
    components: list[dict] = []


@dataclass(frozen=True)
class _Window:
    start_s: float
    end_s: float
    score: float
    components: dict[str, float]
    facts: dict


def plan_locally(signals: Signals, bounds: PlanBounds) -> LocalPlan:
    duration_s = signals.duration_s
    if duration_s < bounds.min_clip_s:
        return LocalPlan(plan=ClipPlan(planner="local"),
                         reason=f"The video lasts {duration_s:.1f} s, shorter than the {bounds.min_clip_s:g} s "
                                "minimum clip length: no clip.")
    scorer = _Scorer(signals)
    if duration_s < 2 * bounds.min_clip_s and duration_s <= bounds.max_clip_s:
        window = scorer.score(0.0, duration_s)
        clip = _clip(window, scorer, whole_video=True)
        return LocalPlan(plan=ClipPlan(planner="local", clips=[clip]), candidate_count=1,
                         reason="The video is too short for two clips, so the whole video is the one clip.",
                         components=[window.components])

    windows = [scorer.score(start_s, end_s) for start_s, end_s in _candidates(signals, bounds)]
    spoken = [window for window in windows if window.facts["words_per_s"] >= MIN_SPEECH_WPS]
    if signals.has_speech and spoken:
        windows = spoken
    chosen: list[_Window] = []
    for window in sorted(windows, key=lambda w: (-w.score, w.start_s, w.end_s)):
        if all(window.end_s <= other.start_s + _EPS or window.start_s >= other.end_s - _EPS for other in chosen):
            chosen.append(window)
            if len(chosen) == bounds.max_clips:
                break
    chosen.sort(key=lambda window: window.start_s)
    return LocalPlan(plan=ClipPlan(planner="local", clips=[_clip(window, scorer) for window in chosen]),
                     candidate_count=len(windows), components=[window.components for window in chosen],
                     reason=None if chosen else "No window between the minimum and maximum clip length fits.")


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------


def _candidates(signals: Signals, bounds: PlanBounds) -> list[tuple[float, float]]:
    duration_s = signals.duration_s
    cuts = signals.cuts
    starts = {0.0, *cuts, *(round(s.start_s, 3) for s in signals.sentences)}
    ends = {round(duration_s, 3), *cuts, *(round(s.end_s, 3) for s in signals.sentences)}
    boundaries = sorted(starts | ends)
    grid = [round(index * GRID_S, 3) for index in range(1, int(duration_s // GRID_S) + 1)]
    for point in grid:  # only where no natural boundary is near
        at = bisect_left(boundaries, point)
        near = [boundaries[i] for i in (at - 1, at) if 0 <= i < len(boundaries)]
        if all(abs(point - other) > GRID_S / 2 for other in near) and point < duration_s:
            starts.add(point)
            ends.add(point)
    starts_sorted = sorted(s for s in starts if 0 <= s < duration_s)
    ends_sorted = sorted(e for e in ends if 0 < e <= duration_s + _EPS)
    pairs = []
    for start_s in starts_sorted:
        first = bisect_left(ends_sorted, start_s + bounds.min_clip_s - _EPS)
        last = bisect_right(ends_sorted, start_s + bounds.max_clip_s + _EPS)
        pairs += [(start_s, min(end_s, duration_s)) for end_s in ends_sorted[first:last]]
    return pairs


# ---------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------


class _Scorer:
    def __init__(self, signals: Signals):
        self.signals = signals
        self.word_starts = [word.start_s for word in signals.words]
        self.word_ends = sorted(word.end_s for word in signals.words)
        self.sentence_starts = sorted(s.start_s for s in signals.sentences)
        self.sentence_ends = sorted(s.end_s for s in signals.sentences)
        self.sentence_spans = [(s.start_s, s.end_s) for s in signals.sentences]
        self.cuts = set(signals.cuts)
        self.frame_times = [frame.t_s for frame in signals.frames]
        self.face_sums = [0, *accumulate(1 if frame.has_face else 0 for frame in signals.frames)]
        self.sharp_sums = [0.0, *accumulate(frame.sharpness for frame in signals.frames)]
        active = dict(WEIGHTS)
        if not signals.has_speech:
            for name in SPEECH_COMPONENTS:
                active.pop(name)
        if not signals.frames:
            for name in VISION_COMPONENTS:
                active.pop(name)
        self.weights = active

    def score(self, start_s: float, end_s: float) -> _Window:
        duration_s = self.signals.duration_s
        starts_mid, ends_mid = self._inside_sentence(start_s), self._inside_sentence(end_s)
        facts: dict = {"starts_on_sentence": not starts_mid and self._sentence_starts_within(start_s, LEAD_S),
                       "ends_on_sentence": not ends_mid and self._sentence_ends_within(end_s, LEAD_S),
                       "starts_mid_sentence": starts_mid,
                       "ends_mid_sentence": ends_mid,
                       "starts_on_cut": round(start_s, 3) in self.cuts, "at_beginning": start_s <= _EPS,
                       "ends_on_cut": round(end_s, 3) in self.cuts, "at_end": end_s >= duration_s - _EPS}
        length_s = end_s - start_s
        words = max(0, bisect_right(self.word_ends, end_s + _EPS) - bisect_left(self.word_starts, start_s - _EPS))
        facts["words_per_s"] = words / length_s if length_s > 0 else 0.0
        first, after = bisect_left(self.frame_times, start_s - _EPS), bisect_left(self.frame_times, end_s - _EPS)
        frames = after - first
        facts["frames"] = frames
        facts["face_share"] = (self.face_sums[after] - self.face_sums[first]) / frames if frames else 0.0
        facts["sharpness"] = (self.sharp_sums[after] - self.sharp_sums[first]) / frames if frames else 0.0

        def edge(on_sentence: bool, mid_sentence: bool) -> float:
            return 1.0 if on_sentence else 0.0 if mid_sentence else 0.5

        components = {
            "speech": min(1.0, facts["words_per_s"] / SPEECH_FULL_WPS),
            "sentences": (edge(facts["starts_on_sentence"], facts["starts_mid_sentence"])
                          + edge(facts["ends_on_sentence"], facts["ends_mid_sentence"])) / 2,
            "cuts": ((facts["starts_on_cut"] or facts["at_beginning"]) + (facts["ends_on_cut"] or facts["at_end"])) / 2,
            "faces": facts["face_share"],
            "sharpness": facts["sharpness"],
        }
        components = {name: round(value, 4) for name, value in components.items() if name in self.weights}
        total = sum(self.weights.values())
        score = sum(self.weights[name] * value for name, value in components.items()) / total if total else 0.0
        return _Window(start_s=start_s, end_s=end_s, score=score, components=components, facts=facts)

    def _sentence_starts_within(self, t_s: float, lead_s: float) -> bool:
        """A sentence starts at t_s or at most lead_s after it."""
        at = bisect_left(self.sentence_starts, t_s - _EPS)
        return at < len(self.sentence_starts) and self.sentence_starts[at] <= t_s + lead_s + _EPS

    def _sentence_ends_within(self, t_s: float, lead_s: float) -> bool:
        """A sentence ends at t_s or at most lead_s before it."""
        at = bisect_right(self.sentence_ends, t_s + _EPS) - 1
        return at >= 0 and self.sentence_ends[at] >= t_s - lead_s - _EPS

    def _inside_sentence(self, t_s: float) -> bool:
        """Strictly inside a sentence (after its first word starts, before its last word ends)."""
        at = bisect_right(self.sentence_spans, (t_s + _EPS, float("inf"))) - 1
        return at >= 0 and self.sentence_spans[at][0] < t_s - _EPS and t_s < self.sentence_spans[at][1] - _EPS


# ---------------------------------------------------------------------------------------
# Words: title and rationale from the numbers
# ---------------------------------------------------------------------------------------


def _clip(window: _Window, scorer: _Scorer, whole_video: bool = False) -> PlannedClip:
    return PlannedClip(start_s=round(window.start_s, 3), end_s=round(window.end_s, 3),
                       title=_title(window, scorer.signals), score=round(window.score, 4),
                       rationale=rationale(window.facts, scorer.signals.has_speech, bool(scorer.signals.frames),
                                           whole_video=whole_video, length_s=window.end_s - window.start_s))


def rationale(facts: dict, has_speech: bool, has_frames: bool, whole_video: bool = False,
              length_s: float = 0.0) -> str:
    """One sentence naming every score component with its number, e.g.
    "Starts on a sentence and a cut, ends on a sentence, 2.6 words/s of speech, a face in 80 % of frames, sharp picture (0.72)."
    """
    parts = []
    if whole_video:
        parts.append(f"The whole {length_s:.0f}-second video, too short for two clips")
    else:
        parts.append(_edge_phrase("Starts", facts["starts_on_sentence"], facts["starts_mid_sentence"],
                                  facts["starts_on_cut"], facts["at_beginning"], "the beginning of the video",
                                  has_speech, "a sentence"))
        parts.append(_edge_phrase("ends", facts["ends_on_sentence"], facts["ends_mid_sentence"],
                                  facts["ends_on_cut"], facts["at_end"], "the end of the video", has_speech,
                                  "a sentence end"))
    if has_speech:
        wps = facts["words_per_s"]
        parts.append(f"{wps:.1f} words/s of speech" if wps >= 0.05 else "no speech in this stretch")
    else:
        parts.append("no speech in the video, so chosen by shots and picture alone")
    if has_frames and facts["frames"]:
        share = facts["face_share"]
        parts.append(f"a face in {share * 100:.0f} % of frames" if share > 0 else "no faces")
        sharpness = facts["sharpness"]
        quality = "sharp" if sharpness >= SHARP_FROM else "blurry" if sharpness < BLURRY_BELOW else "soft"
        parts.append(f"{quality} picture (sharpness {sharpness:.2f})")
    sentence = ", ".join(parts) + "."
    return sentence[0].upper() + sentence[1:]


def _edge_phrase(verb: str, on_sentence: bool, mid_sentence: bool, on_cut: bool, at_edge: bool, edge_name: str,
                 has_speech: bool, sentence_name: str) -> str:
    marks = []
    if on_sentence:
        marks.append(sentence_name)
    if on_cut:
        marks.append("a cut")
    if marks:
        phrase = f"{verb} on {' and '.join(marks)}"
        return phrase + (f" at {edge_name}" if at_edge else "")
    if at_edge:
        phrase = f"{verb} at {edge_name}"
    elif mid_sentence:
        return f"{verb} mid-sentence"
    else:
        phrase = f"{verb} in a pause" if has_speech else f"{verb} mid-shot"
    return phrase + (" but mid-sentence" if mid_sentence else "")


def _title(window: _Window, signals: Signals) -> str:
    words = [word.text for word in signals.words if window.start_s - _EPS <= word.start_s < window.end_s]
    if words:
        text = " ".join(words[:TITLE_WORDS])
        cut = len(words) > TITLE_WORDS or len(text) > MAX_TITLE_CHARS - 1
        text = text[:MAX_TITLE_CHARS - 1].rstrip(".,;:!? ")
        return text + ("…" if cut else "")
    shot = 1 + sum(1 for cut in signals.cuts if cut <= window.start_s + _EPS)
    return f"Shot {shot}, {_clock(window.start_s)}–{_clock(window.end_s)}"


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}" if whole < 3600 else f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
