"""Face tracks: the faces of one shot's sampled frames linked into one id per person.

Within a shot the camera does not cut, so a face in one sampled frame and a face near the same
place in the next are the same person. Frames are taken in time order; each face joins the
track whose last box it matches best (its centre within MATCH_DISTANCE of the box's size, the
closest first), and a face that matches none starts a track. A track survives MAX_GAP_FRAMES
sampled frames without its face (a turned head, a hand over the face) before it is closed. A
shot's tracks are numbered by first appearance and named `s<shot>-f<n>`; across a cut nothing is
linked (the same person in the next shot has a new id).

A track's face entries keep each sample's box, score and `speaking` (the frame worker's mouth
score; None where it could not read the mouth), and the track has its mean box and speaking.
"""

from __future__ import annotations

import math

MATCH_DISTANCE = 0.6  # the centres' distance over the larger box's diagonal, at most
MAX_GAP_FRAMES = 2  # sampled frames a track may miss and still be continued


def link_tracks(shot_number: int, frames: list[dict]) -> list[dict]:
    """The face tracks of one shot, from its sampled frames (each with `t_s` and `faces`)."""
    tracks: list[dict] = []
    open_tracks: list[tuple[dict, int]] = []  # (track, position of the last frame it was seen in)
    for position, frame in enumerate(sorted(frames, key=lambda frame: frame["t_s"])):
        open_tracks = [(track, seen) for track, seen in open_tracks if position - seen <= MAX_GAP_FRAMES + 1]
        pairs = sorted(
            ((_distance(track["faces"][-1], face), number, index)
             for number, (track, _) in enumerate(open_tracks)
             for index, face in enumerate(frame.get("faces") or [])),
            key=lambda pair: pair[0])
        taken_tracks, taken_faces = set(), set()
        for distance, number, index in pairs:
            if distance > MATCH_DISTANCE or number in taken_tracks or index in taken_faces:
                continue
            taken_tracks.add(number)
            taken_faces.add(index)
            track = open_tracks[number][0]
            track["faces"].append(_entry(frame, frame["faces"][index]))
            open_tracks[number] = (track, position)
        for index, face in enumerate(frame.get("faces") or []):
            if index not in taken_faces:
                track = {"id": f"s{shot_number}-f{len(tracks) + 1}", "faces": [_entry(frame, face)]}
                tracks.append(track)
                open_tracks.append((track, position))
    return [_summarized(track) for track in tracks]


def _entry(frame: dict, face: dict) -> dict:
    return {"t_s": frame["t_s"], "x": face["x"], "y": face["y"], "w": face["w"], "h": face["h"],
            "score": face.get("score"), "speaking": face.get("speaking")}


def _distance(first: dict, second: dict) -> float:
    dx = (first["x"] + first["w"] / 2) - (second["x"] + second["w"] / 2)
    dy = (first["y"] + first["h"] / 2) - (second["y"] + second["h"] / 2)
    size = max(math.hypot(first["w"], first["h"]), math.hypot(second["w"], second["h"]), 1e-6)
    return math.hypot(dx, dy) / size


def _summarized(track: dict) -> dict:
    faces = track["faces"]
    speaking = [face["speaking"] for face in faces if face["speaking"] is not None]
    mean = {name: round(sum(face[name] for face in faces) / len(faces), 4) for name in ("x", "y", "w", "h")}
    return {**track, "first_s": faces[0]["t_s"], "last_s": faces[-1]["t_s"], "box": mean,
            "speaking": round(sum(speaking) / len(speaking), 4) if speaking else None}
