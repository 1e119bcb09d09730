"""detect_shots: turn the frame timeline into a shot list that covers the whole video.

Frame-accurate shots. The frame workers find the cuts at the proxy's own frame rate, each over
its chunk's time range (containers/frames/cuts.py): hard cuts, dissolves and fades, each on the
first frame of the new shot. aggregate_frames puts them in the timeline in time order, and
`merge_cuts` makes the shot boundaries of them: one per place (two boundaries closer than
MIN_SHOT_S keep the stronger kind, a cut before a fade before a dissolve, then the higher score),
so a shot is never shorter than that. A shot starts at its first frame's time, frame / fps, and
the last ends at the media's duration. The frames sampled every 2 s are then handed to the shots
they fall in, and each shot's keyframe is chosen among its own as before; a shot shorter than
the sampling interval may hold none (its keyframe is null). Each shot also gets its face tracks
(tracks.py): the sampled faces linked into one id per person, with how much each one's mouth moves.

A timeline without cuts (made before the workers read the proxy) falls back to the 2-s frames:

A frame i starts a new shot when its shot-change score (its difference to frame i - 1,
2 s earlier; see containers/frames/analysis.py) stands out from the frames around it.

Why an adaptive threshold. Frames 2 s apart differ a lot inside one shot: a handheld or
panning shot scores 0.2 to 0.35 frame after frame, a locked-off interview about 0.05, and a
hard cut 0.45 to 1. One fixed threshold would either cut a long pan into pieces or miss a
cut between two similar-looking shots of a quiet scene. So each frame is compared with its
neighbourhood, the WINDOW_FRAMES frames on each side (±10 s), excluding itself:

    threshold_i = clamp(median_i + max(MIN_MARGIN, SPREAD_FACTOR * MAD_i), FLOOR, CERTAIN)

The median is the usual level of change around the frame; the MAD (median absolute
deviation) widens the margin in restless footage. Neighbours at CERTAIN or above are left
out of both: they are cuts themselves, and several cuts close together would otherwise
raise the bar for the next one. FLOOR keeps small changes in a still scene from ever counting (noise, a person
sitting down); CERTAIN caps the threshold, so a change that large is always a cut, even
inside a burst of rapid cuts where the neighbourhood itself is high.

With one frame every 2 s a cut is placed halfway between the last frame of one shot and
the first frame of the next: the true cut lies somewhere in that gap, so the boundary is
off by at most half the interval (1 s). The last shot ends at the media's duration.
"""

import bisect
import math
import statistics

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.keys import shots_key
from lambdas.common.models import FrameTimelineRef, JobRequest, MediaInfo, ShotsRef
from lambdas.detect_shots.tracks import link_tracks

WINDOW_FRAMES = 5
FLOOR = 0.30
CERTAIN = 0.60
MIN_MARGIN = 0.20
SPREAD_FACTOR = 3.0
FACE_KEYFRAME_BONUS = 0.2  # a keyframe with a face describes a shot better than a slightly sharper one without
MIN_SHOT_S = 0.25
KIND_PRIORITY = {"cut": 0, "fade": 1, "dissolve": 2}


class ShotsRequest(JobRequest):
    media: MediaInfo
    frame_timeline: FrameTimelineRef


def cut_thresholds(scores: list[float]) -> list[float]:
    """The threshold each frame's score must reach to start a new shot (frame 0 never does)."""
    thresholds = []
    for index in range(len(scores)):
        # Frame 0 has no predecessor: its score means nothing, so it is no one's neighbour. A
        # neighbour at CERTAIN or above is a cut itself, not the usual change inside a shot.
        neighbours = [scores[other] for other in range(max(1, index - WINDOW_FRAMES),
                                                       min(len(scores), index + WINDOW_FRAMES + 1))
                      if other != index and scores[other] < CERTAIN]
        if not neighbours:
            thresholds.append(FLOOR)
            continue
        median = statistics.median(neighbours)
        spread = statistics.median(abs(score - median) for score in neighbours)
        thresholds.append(min(CERTAIN, max(FLOOR, median + max(MIN_MARGIN, SPREAD_FACTOR * spread))))
    return thresholds


def find_cuts(scores: list[float]) -> list[int]:
    """Indexes of the frames that start a new shot."""
    thresholds = cut_thresholds(scores)
    return [index for index in range(1, len(scores)) if scores[index] >= thresholds[index]]


def build_shots(frames: list[dict], cuts: list[int], duration_s: float, interval_s: float | None = None) -> list[dict]:
    """Shots covering 0..duration_s, one per run of frames between cuts; frames are in time order."""
    if not frames:
        return [{"start_s": 0.0, "end_s": round(duration_s, 3), "first_frame": None, "last_frame": None,
                 "keyframe": None}]
    starts = [0, *cuts]
    ends = [*cuts, len(frames)]
    boundaries = [0.0] + [round((frames[cut - 1]["t_s"] + frames[cut]["t_s"]) / 2, 3) for cut in cuts]
    if interval_s is None:
        interval_s = frames[1]["t_s"] - frames[0]["t_s"] if len(frames) > 1 else 0.0
    # The probe's duration ends the last shot; should it somehow fall before the last cut, the
    # last frame's own interval does.
    end_of_video = duration_s if duration_s > boundaries[-1] else frames[-1]["t_s"] + interval_s
    shots = []
    for number, (first, after) in enumerate(zip(starts, ends, strict=True)):
        shots.append({
            "start_s": boundaries[number],
            "end_s": round(boundaries[number + 1] if number + 1 < len(boundaries) else end_of_video, 3),
            **_members(frames[first:after]),
        })
    return shots


def merge_cuts(cuts: list[dict], fps: float) -> list[dict]:
    """The shot boundaries: the chunks' cuts in time order, one per place, none closer than MIN_SHOT_S."""
    closest = max(1, round(MIN_SHOT_S * fps))
    kept: list[dict] = []
    for cut in sorted(cuts, key=lambda cut: cut["frame"]):
        if cut["frame"] <= 0:
            continue
        if kept and cut["frame"] - kept[-1]["frame"] < closest:
            if _strength(cut) > _strength(kept[-1]):
                kept[-1] = cut
            continue
        kept.append(cut)
    return kept


def build_frame_accurate_shots(frames: list[dict], cuts: list[dict], fps: float, duration_s: float) -> list[dict]:
    """Shots covering 0..duration_s, split on the cuts' frames; each holds the sampled frames that fall in it."""
    starts = [0, *(cut["frame"] for cut in cuts)]
    shots = []
    for number, start_frame in enumerate(starts):
        end_frame = starts[number + 1] if number + 1 < len(starts) else None
        start_s = round(start_frame / fps, 3)
        end_s = round(end_frame / fps, 3) if end_frame is not None else round(max(duration_s, start_s), 3)
        members = [frame for frame in frames if start_s <= frame["t_s"] < end_s
                   or end_frame is None and frame["t_s"] >= start_s]
        shot = {"start_s": start_s, "end_s": end_s, "start_frame": start_frame, "end_frame": end_frame,
                **_members(members)}
        if number:
            shot["transition"] = cuts[number - 1]["kind"]
        shots.append(shot)
    return shots


def _members(members: list[dict]) -> dict:
    """A shot's sampled frames: the first, the last, and the keyframe (sharpest, a face preferred)."""
    if not members:
        return {"first_frame": None, "last_frame": None, "keyframe": None}
    keyframe = max(members, key=lambda frame: (frame["sharpness"] + (FACE_KEYFRAME_BONUS if frame.get("faces")
                                                                       else 0.0), -frame["index"]))
    return {"first_frame": members[0]["index"], "last_frame": members[-1]["index"],
            "keyframe": {"index": keyframe["index"], "key": keyframe["key"], "t_s": keyframe["t_s"]}}


def _strength(cut: dict) -> tuple[int, float]:
    return -KIND_PRIORITY.get(cut.get("kind", "cut"), 3), float(cut.get("score", 0.0))


def detect_shots(request: ShotsRequest, events: EventLog) -> ShotsRef:
    ref = request.frame_timeline
    timeline = storage.get_json(ref.bucket, ref.key)
    frames = sorted(timeline["frames"], key=lambda frame: frame["index"])
    document = {
        "job_id": request.job_id,
        "duration_s": request.media.duration_s,
        "frame_count": len(frames),
        "interval_s": timeline.get("interval_s"),
    }
    detection = timeline.get("cut_detection")
    if detection and "cuts" in timeline:
        fps = float(detection["fps"])
        cuts = [cut for cut in merge_cuts(timeline["cuts"], fps) if cut["frame"] / fps < request.media.duration_s]
        document.update({
            "fps": fps,
            "method": {"name": "frame-accurate", "detector_version": detection.get("detector_version"),
                       "frames_decoded": detection.get("frames_decoded"), "min_shot_s": MIN_SHOT_S},
            "cuts": cuts,
            "shots": build_frame_accurate_shots(frames, cuts, fps, request.media.duration_s),
        })
    else:
        scores = [float(frame["shot_change_score"]) for frame in frames]
        thresholds = cut_thresholds(scores)
        cuts = find_cuts(scores)
        shots = build_shots(frames, cuts, request.media.duration_s, timeline.get("interval_s"))
        document.update({
            "method": {"name": "adaptive-threshold", "window_frames": WINDOW_FRAMES, "floor": FLOOR,
                       "certain": CERTAIN, "min_margin": MIN_MARGIN, "spread_factor": SPREAD_FACTOR},
            "cuts": [{"frame": cut, "t_s": shots[number + 1]["start_s"], "score": scores[cut],
                      "threshold": round(thresholds[cut], 4)} for number, cut in enumerate(cuts)],
            "shots": shots,
        })
    shots = document["shots"]
    # A frame belongs to the last shot that starts at or before it; frames are in time order, so each shot's
    # are one slice (found by bisection, not by scanning every frame for every shot of a long video).
    times = [frame["t_s"] for frame in frames]
    for number, shot in enumerate(shots):
        following = shots[number + 1]["start_s"] if number + 1 < len(shots) else math.inf
        members = frames[bisect.bisect_left(times, shot["start_s"]):bisect.bisect_left(times, following)]
        shot["tracks"] = link_tracks(number, members)
    key = shots_key(request.job_id)
    storage.put_json(ref.bucket, key, document)
    events.append(request.job_id, "shots.detected", "DetectShots", shot_count=len(shots), shots_key=key)
    return ShotsRef(bucket=ref.bucket, key=key, shot_count=len(shots))
