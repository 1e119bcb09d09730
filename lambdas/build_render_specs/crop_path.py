"""Where a clip's crop window looks, moment by moment: the active speaker's face, eased, cut with the shots.

Inputs are the shots with their face tracks (detect_shots: one id per person per shot, each
sampled face with its `speaking` mouth score) and the transcript's words with their speakers.

Who is speaking. Within a shot each transcript speaker is matched to the face whose mouth
moved most while that speaker's words were being said (`match_speakers`); a speaker with no
such face (off screen, or no mouth readable) matches none. At any moment the window follows,
in this order:
  1. the face matched to the speaker of the words being said (or said less than HOLD_TURN_S ago);
  2. else, while someone is speaking (or when there is no transcript to tell), the face whose
     mouth moves clearly most at the nearest sample (no speaker labels, or an unmatched speaker);
  3. else the face it followed before, while that face is on screen;
  4. else the largest face;
  5. with no face at all, the sampled frame's centre of interest (its sharpest detail), or the
     middle.

How it moves (`crop_path`). The path is a list of keys {t_s from the clip's start, x, y}, which
the renderer joins with straight lines; two keys at one time are a jump. At a shot boundary the
window jumps. When the followed face changes inside a shot, it slides there over EASE_S on a
smoothstep curve (slow-fast-slow, so it neither jerks nor drifts). A followed face that moves
keeps the window still until it leaves a DEAD_ZONE around the window's centre, so a nodding
head does not make the picture jitter.

Captions (`caption_top_spans`): while the followed face reaches down into the lower third of the
frame and leaves the upper third free, the captions go to the top instead, so they do not cover it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

HOLD_TURN_S = 1.5  # a pause shorter than this keeps the window on the last speaker
EASE_S = 0.6  # a slide from one face to another inside a shot
EASE_STEPS = 4  # keys per slide besides its ends (the renderer is linear between keys)
DEAD_ZONE = 0.06  # of the frame's width or height: smaller moves of the followed face are ignored
CLEAR_SPEAKER = 0.3  # a mouth score must be at least this, and this much above the next, to pick a face alone
MATCH_WINDOW_S = 1.0  # a sampled face counts toward a speaker whose words are this close to it
NEARBY_TURNS = 4  # the turns before a moment that may still hold it (turns may overlap a little)
LOWER_THIRD = 2 / 3  # a face whose bottom edge is below this (of the frame's height) would be covered
UPPER_THIRD = 1 / 3  # ... and captions may go up only when its top edge is below this


@dataclass(frozen=True)
class Key:
    t_s: float
    x: float
    y: float

    def as_dict(self, origin_s: float) -> dict:
        return {"t_s": round(max(0.0, self.t_s - origin_s), 3), "x": round(self.x, 4), "y": round(self.y, 4)}


@dataclass(frozen=True)
class Subject:
    """What the window follows at a moment: a track's id, or None for the centre of interest."""

    track: str | None
    x: float
    y: float
    top: float = 0.0  # the face's top and bottom edges, 0..1 of the frame's height (0 and 0 without a face)
    bottom: float = 0.0


def _runs(words: list[dict], label) -> list[tuple[float, float, object]]:
    """(start, end, label) for each run of words with one label, pauses under HOLD_TURN_S bridged; words whose
    label is None are skipped."""
    runs: list[list] = []
    for word in sorted(words, key=lambda word: word["start_s"]):
        key = label(word)
        if key is None:
            continue
        if runs and runs[-1][2] == key and word["start_s"] - runs[-1][1] < HOLD_TURN_S:
            runs[-1][1] = max(runs[-1][1], word["end_s"])
        else:
            runs.append([word["start_s"], word["end_s"], key])
    return [(start, end, key) for start, end, key in runs]


def speaker_turns(words: list[dict]) -> list[tuple[float, float, str]]:
    """(start, end, speaker) for each run of words by one speaker; words without a speaker are skipped."""
    return _runs(words, lambda word: word.get("speaker") or None)


def speech_spans(words: list[dict]) -> list[tuple[float, float]] | None:
    """When anyone is speaking (pauses under HOLD_TURN_S bridged); None without a transcript: unknown."""
    return [(start, end) for start, end, _ in _runs(words, lambda word: True)] if words else None


def speaker_at(turns: list[tuple[float, float, str]], t_s: float) -> str | None:
    """Who is speaking at t_s: the turn holding it, or the one that ended less than HOLD_TURN_S before."""
    starts = [turn[0] for turn in turns]
    position = bisect.bisect_right(starts, t_s) - 1
    if position < 0:
        return None
    start, end, speaker = turns[position]
    return speaker if t_s <= end + HOLD_TURN_S else None


def match_speakers(tracks: list[dict], turns: list[tuple[float, float, str]]) -> dict[str, str]:
    """speaker -> track id within one shot: the face whose mouth moved most while that speaker spoke."""
    evidence: dict[tuple[str, str], float] = {}
    starts = [turn[0] for turn in turns]
    for track in tracks:
        for face in track["faces"]:
            if face.get("speaking") is None:
                continue
            # Turns follow one another, so only the last few starting before the face can hold it: a
            # four-hour shot's thousands of faces are not each compared with thousands of turns.
            last = bisect.bisect_right(starts, face["t_s"] + MATCH_WINDOW_S)
            for start, end, speaker in turns[max(0, last - NEARBY_TURNS):last]:
                if start - MATCH_WINDOW_S <= face["t_s"] <= end + MATCH_WINDOW_S:
                    pair = (speaker, track["id"])
                    evidence[pair] = evidence.get(pair, 0.0) + face["speaking"]
    matched: dict[str, str] = {}
    # Strongest evidence first, one face per speaker and one speaker per face.
    for (speaker, track), total in sorted(evidence.items(), key=lambda item: -item[1]):
        if total > 0 and speaker not in matched and track not in matched.values():
            matched[speaker] = track
    return matched


def _face_at(track: dict, t_s: float) -> dict | None:
    """The track's face at t_s, moved linearly between its samples; None outside them (beyond one sample)."""
    faces = track["faces"]
    times = [face["t_s"] for face in faces]
    position = bisect.bisect_right(times, t_s)
    if position == 0:
        return faces[0] if times[0] - t_s <= 2.0 else None
    if position == len(faces):
        return faces[-1] if t_s - times[-1] <= 2.0 else None
    before, after = faces[position - 1], faces[position]
    share = (t_s - before["t_s"]) / max(after["t_s"] - before["t_s"], 1e-6)
    return {name: before[name] + share * (after[name] - before[name]) for name in ("x", "y", "w", "h")} | {
        "speaking": before.get("speaking") if share < 0.5 else after.get("speaking")}


def _nearest(track: dict, t_s: float) -> dict:
    return min(track["faces"], key=lambda face: abs(face["t_s"] - t_s))


def _during(spans: list[tuple[float, float]] | None, t_s: float) -> bool:
    return spans is None or any(start - MATCH_WINDOW_S <= t_s <= end + MATCH_WINDOW_S for start, end in spans)


def subject_at(shot: dict, t_s: float, turns, matched: dict[str, str], previous: Subject | None,
               frames: list[dict], speech: list[tuple[float, float]] | None = None) -> Subject:
    """What the window follows at t_s inside `shot` (the order in the module docstring)."""
    visible = {track["id"]: face for track in shot.get("tracks") or [] if (face := _face_at(track, t_s))}
    by_id = {track["id"]: track for track in shot.get("tracks") or []}
    chosen = None
    speaker = speaker_at(turns, t_s)
    if speaker and matched.get(speaker) in visible:
        chosen = matched[speaker]
    elif speaker and previous is not None and matched.get(speaker) == previous.track:
        return previous  # the speaker's face is lost for a moment (turned away): stay where it was
    if chosen is None and visible and _during(speech, t_s):  # a mouth that moves in silence is not speaking
        scores = sorted(((_nearest(by_id[track], t_s).get("speaking") or 0.0, track) for track in visible),
                        reverse=True)
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if scores[0][0] >= CLEAR_SPEAKER and scores[0][0] - runner_up >= CLEAR_SPEAKER / 2:
            chosen = scores[0][1]
    if chosen is None and previous is not None and previous.track in visible:
        chosen = previous.track
    if chosen is None and visible:
        chosen = max(visible, key=lambda track: visible[track]["w"] * visible[track]["h"])
    if chosen is not None:
        face = visible[chosen]
        return Subject(chosen, face["x"] + face["w"] / 2, face["y"] + face["h"] / 2, face["y"], face["y"] + face["h"])
    x, y = _interest_at(frames, t_s)
    return Subject(None, x, y)


def _interest_at(frames: list[dict], t_s: float) -> tuple[float, float]:
    if not frames:
        return 0.5, 0.5
    frame = min(frames, key=lambda frame: abs(float(frame["t_s"]) - t_s))
    interest = frame.get("interest")
    return (float(interest[0]), float(interest[1])) if interest else (0.5, 0.5)


def _moments(shot: dict, start_s: float, end_s: float, turns) -> list[float]:
    """The times inside [start_s, end_s) where the subject may change: the start, the samples, the turns."""
    times = {start_s}
    for track in shot.get("tracks") or []:
        times.update(face["t_s"] for face in track["faces"])
    for turn_start, turn_end, _ in turns:
        times.update((turn_start, turn_end + HOLD_TURN_S))
    return sorted(t for t in times if start_s <= t < end_s)


def follow(shots: list[dict], words: list[dict], frames: list[dict], start_s: float,
           end_s: float) -> list[tuple[float, Subject, bool]]:
    """(time, subject, starts a shot) at each moment of the clip where the subject may change."""
    turns, speech = speaker_turns(words), speech_spans(words)
    moments: list[tuple[float, Subject, bool]] = []
    for shot in shots:
        shot_end = shot["end_s"] if shot.get("end_s") is not None else end_s
        begin, finish = max(start_s, shot["start_s"]), min(end_s, shot_end)
        if finish <= begin:
            continue
        matched = match_speakers(shot.get("tracks") or [], turns)
        previous = None
        for number, t_s in enumerate(_moments(shot, begin, finish, turns)):
            subject = subject_at(shot, t_s, turns, matched, previous, frames, speech)
            previous = subject
            moments.append((t_s, subject, number == 0))
    return moments


def crop_path(moments: list[tuple[float, Subject, bool]], start_s: float) -> list[dict]:
    """The keys the renderer follows (clip time), from `follow`'s moments."""
    keys: list[Key] = []
    current: Subject | None = None
    for t_s, subject, new_shot in moments:
        if current is None or new_shot:
            if keys and keys[-1].t_s < t_s:
                keys.append(Key(t_s, keys[-1].x, keys[-1].y))  # hold until the cut, then jump
            keys.append(Key(t_s, subject.x, subject.y))
            current = subject
            continue
        same = subject.track == current.track
        if same and abs(subject.x - keys[-1].x) < DEAD_ZONE and abs(subject.y - keys[-1].y) < DEAD_ZONE:
            continue
        keys.extend(_slide(keys[-1], t_s, subject))
        current = subject
    if not keys:
        return [{"t_s": 0.0, "x": 0.5, "y": 0.5}]
    return [key.as_dict(start_s) for key in keys]


def _slide(last: Key, t_s: float, subject: Subject) -> list[Key]:
    """Hold at `last` until t_s, then ease to the subject over EASE_S (smoothstep)."""
    slide = [Key(t_s, last.x, last.y)] if t_s > last.t_s else []
    for step in range(1, EASE_STEPS + 2):
        share = step / (EASE_STEPS + 1)
        eased = share * share * (3 - 2 * share)
        slide.append(Key(t_s + share * EASE_S, last.x + eased * (subject.x - last.x),
                         last.y + eased * (subject.y - last.y)))
    return slide


def caption_top_spans(moments: list[tuple[float, Subject, bool]], start_s: float, end_s: float) -> list[list[float]]:
    """[start, end] spans (clip time) when the followed face reaches into the lower third and leaves the upper
    third free: captions go up there. A face that fills both keeps them low, over the chin rather than the eyes."""
    spans: list[list[float]] = []
    for number, (t_s, subject, _) in enumerate(moments):
        until = moments[number + 1][0] if number + 1 < len(moments) else end_s
        if subject.bottom <= LOWER_THIRD or subject.top < UPPER_THIRD:
            continue
        begin, finish = round(t_s - start_s, 3), round(until - start_s, 3)
        if spans and abs(spans[-1][1] - begin) < 1e-6:
            spans[-1][1] = finish
        else:
            spans.append([begin, finish])
    return spans
