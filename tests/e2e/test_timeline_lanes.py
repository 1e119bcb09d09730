"""The job page's timeline lanes and spoken word (videoflow/web/timeline.js), read by Node without a browser.

The browser test (test_web_page.py) runs them on one generated talk, which has one speaker and no faces; these
cover what that talk cannot: speaker turns, runs of frames with faces, and the word at the edges of [start, end).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMELINE_JS = ROOT / "videoflow" / "web" / "timeline.js"
NODE = shutil.which("node", path=str(ROOT / "tools" / "node_modules" / ".bin")) or shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="no Node.js installed (make tools)")


def call(function: str, *arguments):
    script = (f"const timeline = require({json.dumps(str(TIMELINE_JS))});"
              f"process.stdout.write(JSON.stringify(timeline.{function}(...{json.dumps(arguments)})));")
    return json.loads(subprocess.run([NODE, "-e", script], check=True, capture_output=True, text=True,
                                     timeout=30).stdout)


def word(text, start_s, end_s, speaker):
    return {"text": text, "start_s": start_s, "end_s": end_s, "confidence": 0.9, "speaker": speaker}


def test_speaker_turns_run_from_a_speakers_first_word_to_their_last_before_the_other_speaks():
    words = [word("Hello", 0.0, 0.4, "spk_0"), word("there", 0.5, 0.9, "spk_0"), word("Hi", 1.2, 1.5, "spk_1"),
             word("um", 1.6, 1.7, None), word("again", 2.0, 2.4, "spk_0")]

    turns = call("speakerTurns", words)

    assert [(t["start_s"], t["end_s"], t["label"], t["colour"]) for t in turns] == [
        (0.0, 0.9, "Speaker 1", 0), (1.2, 1.5, "Speaker 2", 1), (2.0, 2.4, "Speaker 1", 0)]


def test_faces_on_screen_are_runs_of_sampled_frames_with_a_face_each_lasting_until_the_next_sample():
    frames = [{"t_s": t, "faces": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}] * count}
              for t, count in ((0.0, 0), (2.0, 1), (4.0, 2), (6.0, 0), (8.0, 1))]

    runs = call("faceRuns", {"interval_s": 2.0, "frames": frames}, 9.0)

    assert [(r["start_s"], r["end_s"], r["label"]) for r in runs] == [(2.0, 6.0, "2 faces"), (8.0, 9.0, "1 face")]


def test_the_lanes_hold_every_shot_chapter_and_planned_clip_marking_the_ones_rendered():
    manifest = {
        "source": {"duration_s": 20.0},
        "shots": [{"start_s": 0.0, "end_s": 12.0}, {"start_s": 12.0, "end_s": 20.0}],
        "chapters": [{"start_s": 0.0, "end_s": 20.0, "title": "Garage repairs", "summary": "The garage shuts."}],
        "plan": {"clips": [{"start_s": 1.0, "end_s": 9.0, "title": "A"}, {"start_s": 12.0, "end_s": 19.0,
                                                                          "title": "B"}]},
        "clips": [{"path": "clips/clip-00.mp4", "start_s": 1.02, "end_s": 9.0, "title": "A"}],
    }

    lanes = call("lanes", manifest, None, None)

    assert lanes["duration"] == 20.0
    assert [item["label"] for item in lanes["items"]["shots"]] == ["Shot 1", "Shot 2"]
    assert [item["label"] for item in lanes["items"]["chapters"]] == ["Garage repairs"]
    assert [(c["start_s"], c["rendered"]) for c in lanes["items"]["clips"]] == [(1.0, True), (12.0, False)]
    assert lanes["items"]["speakers"] == [] and lanes["items"]["faces"] == []


@pytest.mark.parametrize(("t", "index"), [(0.0, 0), (0.39, 0), (0.4, -1), (0.5, 1), (0.89, 1), (0.9, -1), (5.0, -1)])
def test_the_spoken_word_is_the_one_whose_start_to_end_holds_the_time(t, index):
    words = [word("Hello", 0.0, 0.4, "spk_0"), word("there", 0.5, 0.9, "spk_0")]

    assert call("wordAt", words, t) == index
