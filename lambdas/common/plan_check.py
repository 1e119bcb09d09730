"""The plan check: turn whatever a planner wrote into a clean plan, recording every correction.

The gate between judgment and render: nothing it passes on can be garbage. validate_plan runs it
on every draft; plan_clips runs it too, to fall back when none of the model's clips survives. Each clip of the
draft goes through, in order:

1. parse: a mapping with finite numbers for start_s, end_s and score, a non-blank title and
   rationale; otherwise the clip is dropped (NOT_A_CLIP, NOT_FINITE, EMPTY_TITLE, ...).
   end_s <= start_s is dropped (END_BEFORE_START), never swapped: the intent is unknown.
2. tidy: the title is cut to MAX_TITLE_CHARS, the rationale to its first sentence, and a
   score outside 0..1 is clamped into it.
3. clamp into [0, duration]; a clip entirely outside the video is dropped (OUT_OF_BOUNDS).
4. length: a clip longer than max_clip_s is trimmed around its centre; one shorter than
   min_clip_s is extended around its centre, shifted to stay inside the video; when the
   video itself is shorter than min_clip_s it is dropped (TOO_SHORT).
4b. turns (when the draft lists `speaker_turns`, the spans two or more speakers take in turn): an
   edge strictly inside a turn that fits in a clip is moved to the nearer end of the turn when that
   is at most TURN_SNAP_S away and keeps the clip's length within bounds (CUTS_A_TURN, snapped);
   otherwise the clip loses TURN_PENALTY of its score per such edge (CUTS_A_TURN, rescored), so in
   the next step a clip that keeps its turns whole beats an overlapping one that does not.
4c. edges (when the draft lists `words`, [start_s, end_s] per spoken word, and `cuts`, the shot boundaries): an
   edge inside a word moves to the word's start (a clip's start) or end (its end), or to its other end when that
   alone keeps the length within bounds (CUTS_A_WORD, snapped). Then, within EDGE_SNAP_S and the length bounds,
   an edge moves to the nearest cut (ON_A_CUT) or, failing one, into the nearest pause between words of at least
   MIN_PAUSE_S, at its middle, or BREATH_S from the word in a longer silence (IN_A_PAUSE); an edge already on a
   cut or in a pause stays, the video's own start and end stay, and no move lands inside a word or a whole turn.
5. overlaps: clips are taken best score first; a clip that overlaps one already kept is
   dropped (OVERLAP): the higher score wins. Clips that only touch do not overlap.
6. at most max_clips, best score first (OVER_MAX_CLIPS).

The clean plan lists its clips in time order, times rounded to the millisecond. A correction
names the clip by its position in the draft, what was done and why, in one sentence.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping
from numbers import Real
from typing import Any, Literal

from pydantic import Field

from lambdas.common.judgment import (
    MAX_RATIONALE_CHARS,
    MAX_TITLE_CHARS,
    ClipPlan,
    DraftPlan,
    PlanBounds,
    PlannedClip,
)
from lambdas.common.models import Model, Sentence

OVERLAP_TOLERANCE_S = 1e-3
TURN_TOLERANCE_S = 0.25  # an edge this close to a turn's start or end does not cut it
TURN_SNAP_S = 3.0  # the furthest an edge moves to keep a turn whole
TURN_PENALTY = 0.1  # the score a clip loses per edge that still cuts a turn in half
WORD_TOLERANCE_S = 0.02  # an edge this close to a word's start or end does not cut the word
EDGE_SNAP_S = 1.5  # the furthest an edge moves to land on a cut or in a pause
MIN_PAUSE_S = 0.3  # a gap between words at least this long is a pause
PAUSE_MARGIN_S = 0.1  # an edge at least this far inside a pause is in it
BREATH_S = 0.5  # in a silence longer than two breaths, an edge lands this far from the word
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
Action = Literal["dropped", "clamped", "trimmed", "extended", "shortened", "snapped", "rescored"]


class Correction(Model):
    clip: int | None = Field(description="position of the clip in the draft; None for the plan as a whole")
    action: Action
    code: str
    reason: str


class ValidatedPlan(Model):
    plan: ClipPlan
    corrections: list[Correction] = Field(default_factory=list)
    draft_clip_count: int = Field(ge=0)

    @property
    def corrections_by_code(self) -> dict[str, int]:
        return dict(sorted(Counter(correction.code for correction in self.corrections).items()))


def speaker_turns(sentences: list[Sentence]) -> list[tuple[float, float]]:
    """Runs of consecutive sentences by one speaker as (start_s, end_s); none unless two or more speakers speak."""
    if len({sentence.speaker for sentence in sentences} - {None}) < 2:
        return []
    turns: list[list] = []
    for sentence in sorted(sentences, key=lambda sentence: sentence.start_s):
        if turns and turns[-1][2] == sentence.speaker:
            turns[-1][1] = max(turns[-1][1], sentence.end_s)
        else:
            turns.append([sentence.start_s, sentence.end_s, sentence.speaker])
    return [(round(start, 3), round(end, 3)) for start, end, _ in turns]


def validate_plan(plan: DraftPlan | ClipPlan | Mapping | Any, duration_s: float, bounds: PlanBounds,
                  turns: list[tuple[float, float]] | None = None, words: list[tuple[float, float]] | None = None,
                  cuts: list[float] | None = None) -> ValidatedPlan:
    """`turns`: speaker turns to keep whole (step 4b); `words` (start, end) and `cuts` place the edges (step 4c).
    Each None takes the draft's own `speaker_turns`, `words` and `cuts`, if any."""
    corrections: list[Correction] = []
    if isinstance(plan, Mapping):
        turns = _turns(plan.get("speaker_turns")) if turns is None else turns
        words = _turns(plan.get("words")) if words is None else words
        cuts = _times(plan.get("cuts")) if cuts is None else cuts
    edges = _Edges(words or [], cuts or [], turns or [], duration_s, bounds)
    draft = _as_draft(plan, corrections)
    if draft is None:
        return ValidatedPlan(plan=ClipPlan(planner="local"), corrections=corrections, draft_clip_count=0)

    candidates: list[tuple[int, dict]] = []
    for position, raw in enumerate(draft.clips):
        clip = _parse(position, raw, corrections)
        if clip is None:
            continue
        clip = _clamp(position, clip, duration_s, corrections)
        if clip is None:
            continue
        clip = _fit_length(position, clip, duration_s, bounds, corrections)
        if clip is not None:
            clip = _keep_turns(position, clip, turns or [], duration_s, bounds, corrections)
            candidates.append((position, edges.place(position, clip, corrections)))

    kept: list[tuple[int, dict]] = []
    for position, clip in sorted(candidates, key=lambda item: (-item[1]["score"], item[1]["start_s"], item[0])):
        rival = next((other for other in kept if _overlap_s(clip, other[1]) > OVERLAP_TOLERANCE_S), None)
        if rival is not None:
            corrections.append(Correction(
                clip=position, action="dropped", code="OVERLAP",
                reason=f"Overlaps clip {rival[0]} ({_span(rival[1])}), which scores higher "
                       f"({rival[1]['score']:.2f} against {clip['score']:.2f})."))
            continue
        if len(kept) >= bounds.max_clips:
            corrections.append(Correction(
                clip=position, action="dropped", code="OVER_MAX_CLIPS",
                reason=f"The plan keeps at most {bounds.max_clips} clips, the best scored; "
                       f"this one scores {clip['score']:.2f}."))
            continue
        kept.append((position, clip))

    clips = [PlannedClip.model_validate(clip) for _, clip in sorted(kept, key=lambda item: item[1]["start_s"])]
    return ValidatedPlan(plan=ClipPlan(planner=draft.planner, clips=clips), corrections=corrections,
                         draft_clip_count=len(draft.clips))


def _as_draft(plan: Any, corrections: list[Correction]) -> DraftPlan | None:
    if isinstance(plan, DraftPlan):
        return plan
    if isinstance(plan, ClipPlan):
        return DraftPlan(planner=plan.planner, clips=[clip.model_dump() for clip in plan.clips])
    if isinstance(plan, Mapping) and isinstance(plan.get("clips"), list | tuple):
        planner = plan.get("planner") if plan.get("planner") in ("bedrock", "local") else "local"
        return DraftPlan(planner=planner, clips=list(plan["clips"]))
    corrections.append(Correction(clip=None, action="dropped", code="NOT_A_PLAN",
                                  reason=f"The draft is not a plan with a list of clips ({_kind(plan)})."))
    return None


def _parse(position: int, raw: Any, corrections: list[Correction]) -> dict | None:
    def drop(code: str, reason: str) -> None:
        corrections.append(Correction(clip=position, action="dropped", code=code, reason=reason))

    if not isinstance(raw, Mapping):
        return drop("NOT_A_CLIP", f"The clip is not an object with times and a title ({_kind(raw)}).")
    numbers = {}
    for name in ("start_s", "end_s", "score"):
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, Real | str):
            return drop("MISSING_FIELD" if value is None else "NOT_A_NUMBER",
                        f"{name} is {'missing' if value is None else f'not a number ({_kind(value)})'}.")
        try:
            number = float(value)
        except ValueError:
            return drop("NOT_A_NUMBER", f"{name} is not a number ({str(value)[:40]!r}).")
        if not math.isfinite(number):
            return drop("NOT_FINITE", f"{name} is {number}, not a finite number.")
        numbers[name] = number
    if numbers["end_s"] <= numbers["start_s"]:
        return drop("END_BEFORE_START",
                    f"It ends ({numbers['end_s']:g} s) before it starts ({numbers['start_s']:g} s).")
    title = _one_line(raw.get("title"))
    if not title:
        return drop("EMPTY_TITLE", "It has no title.")
    rationale = _one_line(raw.get("rationale"))
    if not rationale:
        return drop("EMPTY_RATIONALE", "It has no rationale.")

    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS - 1].rstrip() + "…"
        corrections.append(Correction(clip=position, action="shortened", code="TITLE_TOO_LONG",
                                      reason=f"The title was cut to {MAX_TITLE_CHARS} characters."))
    first_sentence = _SENTENCE_END.split(rationale, maxsplit=1)[0]
    if first_sentence != rationale:
        corrections.append(Correction(clip=position, action="shortened", code="RATIONALE_NOT_ONE_SENTENCE",
                                      reason="The rationale was cut to its first sentence."))
        rationale = first_sentence
    if len(rationale) > MAX_RATIONALE_CHARS:
        rationale = rationale[:MAX_RATIONALE_CHARS - 1].rstrip() + "…"
        corrections.append(Correction(clip=position, action="shortened", code="RATIONALE_TOO_LONG",
                                      reason=f"The rationale was cut to {MAX_RATIONALE_CHARS} characters."))
    score = min(1.0, max(0.0, numbers["score"]))
    if score != numbers["score"]:
        corrections.append(Correction(clip=position, action="clamped", code="SCORE_OUT_OF_RANGE",
                                      reason=f"The score {numbers['score']:g} was clamped to {score:g}."))
    return {"start_s": numbers["start_s"], "end_s": numbers["end_s"], "title": title, "score": score,
            "rationale": rationale}


def _clamp(position: int, clip: dict, duration_s: float, corrections: list[Correction]) -> dict | None:
    start_s, end_s = max(0.0, clip["start_s"]), min(duration_s, clip["end_s"])
    if end_s <= start_s:
        corrections.append(Correction(
            clip=position, action="dropped", code="OUT_OF_BOUNDS",
            reason=f"It lies outside the video ({_span(clip)}; the video lasts {duration_s:g} s)."))
        return None
    if (start_s, end_s) != (clip["start_s"], clip["end_s"]):
        corrections.append(Correction(
            clip=position, action="clamped", code="OUT_OF_BOUNDS",
            reason=f"{_span(clip)} was clamped to {_span({'start_s': start_s, 'end_s': end_s})}, "
                   f"inside the video (0–{duration_s:g} s)."))
    return {**clip, "start_s": start_s, "end_s": end_s}


def _fit_length(position: int, clip: dict, duration_s: float, bounds: PlanBounds,
                corrections: list[Correction]) -> dict | None:
    length_s = clip["end_s"] - clip["start_s"]
    if length_s > bounds.max_clip_s:
        target_s, action, code = bounds.max_clip_s, "trimmed", "TOO_LONG"
    elif length_s < bounds.min_clip_s:
        if duration_s < bounds.min_clip_s:
            corrections.append(Correction(
                clip=position, action="dropped", code="TOO_SHORT",
                reason=f"It lasts {length_s:.1f} s, under the {bounds.min_clip_s:g} s minimum, and the video "
                       f"({duration_s:.1f} s) is too short to extend it."))
            return None
        target_s, action, code = bounds.min_clip_s, "extended", "TOO_SHORT"
    else:
        return _rounded(clip, duration_s)
    centre_s = (clip["start_s"] + clip["end_s"]) / 2
    start_s = min(max(0.0, centre_s - target_s / 2), duration_s - target_s)
    fitted = _rounded({**clip, "start_s": start_s, "end_s": start_s + target_s}, duration_s)
    limit = "maximum" if action == "trimmed" else "minimum"
    corrections.append(Correction(
        clip=position, action=action, code=code,
        reason=f"It lasted {length_s:.1f} s, so {_span(clip)} was {action} around its centre to {_span(fitted)}, "
               f"the {target_s:g} s {limit}."))
    return fitted


def _turns(value: Any) -> list[tuple[float, float]]:
    """A draft's speaker_turns, as far as they are pairs of finite times in order; anything else is none."""
    turns = []
    for pair in value if isinstance(value, list) else []:
        if (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(t, Real) for t in pair)
                and all(math.isfinite(t) for t in pair) and pair[0] < pair[1]):
            turns.append((float(pair[0]), float(pair[1])))
    return turns


def _keep_turns(position: int, clip: dict, turns: list[tuple[float, float]], duration_s: float,
                bounds: PlanBounds, corrections: list[Correction]) -> dict:
    """Step 4b: an edge inside a speaker's turn moves to the turn's nearer end, or the clip's score pays for it."""
    for edge, name in (("start_s", "start"), ("end_s", "end")):
        at_s = clip[edge]
        turn = next((t for t in turns if t[0] + TURN_TOLERANCE_S < at_s < t[1] - TURN_TOLERANCE_S
                     and t[1] - t[0] <= bounds.max_clip_s), None)
        if turn is None:  # (a turn longer than a clip can hold is cut by any clip inside it: no fault)
            continue
        for moved_s in sorted(turn, key=lambda t: abs(t - at_s)):
            moved = {**clip, edge: moved_s}
            if (abs(moved_s - at_s) <= TURN_SNAP_S and 0 <= moved_s <= duration_s
                    and bounds.min_clip_s <= moved["end_s"] - moved["start_s"] <= bounds.max_clip_s):
                corrections.append(Correction(
                    clip=position, action="snapped", code="CUTS_A_TURN",
                    reason=f"Its {name} at {at_s:.1f} s cut a speaker's turn ({turn[0]:.1f}–{turn[1]:.1f} s) in two, "
                           f"so it was moved to {moved_s:.1f} s, where the turn "
                           f"{'starts' if moved_s == turn[0] else 'ends'}."))
                clip = _rounded(moved, duration_s)
                break
        else:
            clip = _rescored(clip, position, "CUTS_A_TURN", corrections,
                             f"Its {name} at {at_s:.1f} s cuts a speaker's turn ({turn[0]:.1f}–{turn[1]:.1f} s) in "
                             f"two and no move of at most {TURN_SNAP_S:g} s within the length bounds avoids it")
    return clip


def _times(value: Any) -> list[float]:
    """A draft's cuts, as far as they are finite times; anything else is none."""
    return sorted({float(t) for t in value if isinstance(t, Real) and not isinstance(t, bool) and math.isfinite(t)}
                  if isinstance(value, list) else [])


class _Edges:
    """Step 4c: clip edges out of words, then onto a cut or into a pause."""

    def __init__(self, words: list[tuple[float, float]], cuts: list[float], turns: list[tuple[float, float]],
                 duration_s: float, bounds: PlanBounds):
        spans: list[list[float]] = []  # words joined where they overlap (never where they only touch)
        for start_s, end_s in sorted(words):
            if spans and start_s < spans[-1][1] - WORD_TOLERANCE_S:
                spans[-1][1] = max(spans[-1][1], end_s)
            else:
                spans.append([start_s, end_s])
        self.spans, self.starts = spans, [start_s for start_s, _ in spans]
        self.cuts = [(cut_s, cut_s, cut_s) for cut_s in cuts if 0 < cut_s < duration_s]
        silences = zip([0.0, *(end_s for _, end_s in spans)], [*self.starts, duration_s], strict=True)
        self.pauses = [(a, b) for a, b in silences if b - a >= MIN_PAUSE_S]
        points = []  # (where an edge lands, the pause's start, its end)
        for a, b in self.pauses:
            inner = [(a + b) / 2] if b - a <= 2 * BREATH_S else [a + BREATH_S, b - BREATH_S]
            points += [(round(point, 3), a, b) for point in inner]
        self.points = sorted(points)
        self.turns = [turn for turn in turns if turn[1] - turn[0] <= bounds.max_clip_s]
        self.duration_s, self.bounds = duration_s, bounds

    def place(self, position: int, clip: dict, corrections: list[Correction]) -> dict:
        for edge, name in (("start_s", "start"), ("end_s", "end")):
            at_s = clip[edge]
            if at_s <= 0 or at_s >= self.duration_s:  # the video's own start or end
                continue
            word = self._word_at(at_s)
            if word is not None:
                moved_s = next((t for t in (word if edge == "start_s" else word[::-1]) if self._fits(clip, edge, t)),
                               None)
                if moved_s is None:
                    clip = _rescored(clip, position, "CUTS_A_WORD", corrections,
                                     f"Its {name} at {at_s:.2f} s cuts a word ({word[0]:.2f}–{word[1]:.2f} s) and "
                                     "neither end of the word keeps the length within bounds")
                    continue
                corrections.append(Correction(
                    clip=position, action="snapped", code="CUTS_A_WORD",
                    reason=f"Its {name} at {at_s:.2f} s fell inside a word ({word[0]:.2f}–{word[1]:.2f} s), so it "
                           f"was moved to {moved_s:.2f} s, where the word {'starts' if moved_s == word[0] else 'ends'}."))
                clip = _rounded({**clip, edge: moved_s}, self.duration_s)
                at_s = clip[edge]
            if any(abs(cut_s - at_s) < 5e-4 for cut_s, _, _ in self.cuts) or self._in_pause(at_s):
                continue
            for code, targets in (("ON_A_CUT", self.cuts), ("IN_A_PAUSE", self.points)):
                target = self._nearest(at_s, targets, clip, edge)
                if target is None:
                    continue
                where = (f"to the cut at {target[0]:.2f} s" if code == "ON_A_CUT" else
                         f"into the pause between words at {target[1]:.2f}–{target[2]:.2f} s, to {target[0]:.2f} s")
                corrections.append(Correction(
                    clip=position, action="snapped", code=code,
                    reason=f"Its {name} at {at_s:.2f} s was moved {abs(target[0] - at_s):.2f} s {where}."))
                clip = _rounded({**clip, edge: target[0]}, self.duration_s)
                break
        return clip

    def _word_at(self, at_s: float) -> list[float] | None:
        index = bisect_right(self.starts, at_s) - 1
        if index >= 0 and self.spans[index][0] + WORD_TOLERANCE_S < at_s < self.spans[index][1] - WORD_TOLERANCE_S:
            return self.spans[index]
        return None

    def _in_pause(self, at_s: float) -> bool:
        return any(a + PAUSE_MARGIN_S <= at_s <= b - PAUSE_MARGIN_S for a, b in self.pauses if a <= at_s <= b)

    def _cuts_a_turn(self, at_s: float) -> bool:
        return any(a + TURN_TOLERANCE_S < at_s < b - TURN_TOLERANCE_S for a, b in self.turns)

    def _fits(self, clip: dict, edge: str, at_s: float) -> bool:
        moved = {**clip, edge: at_s}
        return (0 <= at_s <= self.duration_s
                and self.bounds.min_clip_s - 1e-6 <= moved["end_s"] - moved["start_s"] <= self.bounds.max_clip_s + 1e-6)

    def _nearest(self, at_s: float, targets: list[tuple[float, float, float]], clip: dict,
                 edge: str) -> tuple[float, float, float] | None:
        """The nearest target within EDGE_SNAP_S that is in no word, cuts no new turn and keeps the length."""
        near = targets[bisect_left(targets, (at_s - EDGE_SNAP_S,)):bisect_right(targets, (at_s + EDGE_SNAP_S, math.inf))]
        for target in sorted(near, key=lambda t: abs(t[0] - at_s)):
            if (self._word_at(target[0]) is None and self._fits(clip, edge, target[0])
                    and (not self._cuts_a_turn(target[0]) or self._cuts_a_turn(at_s))):
                return target
        return None


def _rounded(clip: dict, duration_s: float) -> dict:
    """Times to the millisecond (never past the end of the video), the score to 4 places."""
    return {**clip, "start_s": round(clip["start_s"], 3), "end_s": min(round(clip["end_s"], 3), duration_s),
            "score": round(clip["score"], 4)}


def _overlap_s(a: dict, b: dict) -> float:
    return min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])


def _one_line(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _span(clip: dict) -> str:
    return f"{clip['start_s']:.1f}–{clip['end_s']:.1f} s"


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__}: {text[:40]}{'…' if len(text) > 40 else ''}"


def _rescored(clip: dict, position: int, code: str, corrections: list, why: str) -> dict:
    """A clip whose edge could not be moved clear: TURN_PENALTY off its score, and the correction that says why."""
    score = round(max(0.0, clip["score"] - TURN_PENALTY), 4)
    corrections.append(Correction(clip=position, action="rescored", code=code,
                                  reason=f"{why}, so its score drops from {clip['score']:.2f} to {score:.2f}."))
    return {**clip, "score": score}
