"""Two real people side by side who speak in turns (tests/speakers.py), end to end: the clip's crop follows whoever speaks.

One run of the synthesized workflow with its IAM enforced: the frame workers find both faces and read their mouths on
the proxy, detect_shots links them into two tracks, the local transcriber tells the two voices apart, and
build_render_specs matches each voice to the face whose mouth moved while it spoke. The rendered 9:16 clip is then
looked at: at a moment in each turn, its picture is compared with the source's 9:16 window around each face, and it
must be the speaker's.
"""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lambdas.common.keys import render_spec_key, shots_key
from tests.speakers import two_people_in_turns

# One clip of at least 15 s out of 24 s: it spans a change of speaker. A small frame keeps the render quick.
ENVIRONMENT = {"PLAN_MIN_CLIP_S": "15", "PLAN_MAX_CLIPS": "1", "RENDER_SHORT_SIDE": "360"}


def _picture(video: Path, t_s: float, crop: str = "") -> np.ndarray:
    """One frame at t_s, optionally cropped first, as a 36x64 grey picture."""
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", f"{t_s:.3f}", "-i", str(video),
                          "-frames:v", "1", "-vf", f"{crop}scale=36:64,format=gray", "-f", "rawvideo", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).astype(np.float32)


def _centre_at(track: dict, t_s: float) -> float:
    """The face's centre across the width at its sample nearest t_s."""
    face = min(track["faces"], key=lambda face: abs(face["t_s"] - t_s))
    return face["x"] + face["w"] / 2


def _window_on(source: Path, t_s: float, centre_x: float) -> np.ndarray:
    """The source's 9:16 window (full height) centred on centre_x (0..1), as the renderer cuts it."""
    width, height = 960, 480
    crop_width = round(height * 9 / 16)
    left = min(max(round(centre_x * width - crop_width / 2), 0), width - crop_width)
    return _picture(source, t_s, f"crop={crop_width}:{height}:{left}:0,")


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return two_people_in_turns(tmp_path_factory.mktemp("two-people"))


def test_given_two_people_speaking_in_turns_when_processed_then_the_clip_follows_whoever_speaks(run_job, footage):
    video, turns = footage

    job = run_job(video, environment=ENVIRONMENT)

    assert job.execution["status"] == "SUCCEEDED", job.event_types
    # Two faces, one track each; each mouth moves in its own turns.
    s3, bucket = job.pipeline.s3, job.pipeline.output_bucket
    shots = json.loads(s3.get_object(Bucket=bucket, Key=shots_key(job.job_id))["Body"].read())["shots"]
    assert len(shots) == 1, [shot["start_s"] for shot in shots]  # the turns are not cuts
    tracks = sorted(shots[0]["tracks"], key=lambda track: track["box"]["x"])
    left, right = tracks[0], tracks[-1]
    assert left["box"]["x"] < 0.4 < 0.5 < right["box"]["x"]

    def speaking(track: dict, turn) -> float:
        inside = [face["speaking"] for face in track["faces"]
                  if turn.start_s + 1 <= face["t_s"] <= turn.end_s - 1 and face["speaking"] is not None]
        return sum(inside) / len(inside)
    for turn in turns:
        moving, still = (left, right) if turn.side == "left" else (right, left)
        assert speaking(moving, turn) > 2 * speaking(still, turn) + 0.1, (turn, left, right)
    # The transcript tells the two voices apart.
    words = json.loads((job.folder / "transcript.json").read_text())["words"]
    by_turn = [{word["speaker"] for word in words if turn.start_s + 0.5 <= word["start_s"] <= turn.end_s - 0.5}
               for turn in turns]
    assert by_turn[0] == by_turn[2] and len(by_turn[0]) == 1 and by_turn[1].isdisjoint(by_turn[0]), by_turn
    # The clip's window is on whoever speaks: on the woman in her turns, on the man in his.
    clip, = job.manifest["clips"]
    spec = json.loads(s3.get_object(Bucket=bucket, Key=render_spec_key(job.job_id, 0, "9:16"))["Body"].read())
    assert len({round(key["x"], 2) for key in spec["crop_path"]}) > 2, spec["crop_path"]  # it moves
    checked = 0
    for turn in turns:
        start, end = max(turn.start_s, clip["start_s"]) + 1.5, min(turn.end_s, clip["end_s"]) - 1.0
        if end <= start:
            continue
        t_s = (start + end) / 2
        rendered = _picture(job.folder / clip["path"], t_s - clip["start_s"])
        centres = {side: _centre_at(track, t_s) for side, track in (("left", left), ("right", right))}
        likeness = {side: float(np.corrcoef(rendered, _window_on(video, t_s, centre))[0, 1])
                    for side, centre in centres.items()}
        other = "right" if turn.side == "left" else "left"
        assert likeness[turn.side] > likeness[other] + 0.2, (turn, likeness)
        checked += 1
    assert checked >= 2  # the clip spans a change of speaker
