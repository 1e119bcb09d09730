"""The job page's clip list (videoflow/web/clips.js) and clip lane (timeline.js) with a clip rendered in several
aspects, read by Node without a browser: one card per planned clip holding each aspect's render, labelled."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "videoflow" / "web"
NODE = shutil.which("node", path=str(ROOT / "tools" / "node_modules" / ".bin")) or shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="no Node.js installed (make tools)")


def call(module: str, function: str, *arguments):
    script = (f"const module_ = require({json.dumps(str(WEB / module))});"
              f"process.stdout.write(JSON.stringify(module_.{function}(...{json.dumps(arguments)})));")
    return json.loads(subprocess.run([NODE, "-e", script], check=True, capture_output=True, text=True,
                                     timeout=30).stdout)


def rendered(index: int, aspect: str, size: tuple[int, int], start_s: float, end_s: float) -> dict:
    name = aspect.replace(":", "x")
    return {"path": f"clips/clip-{index:02d}-{name}.mp4", "thumbnail": f"clips/clip-{index:02d}-{name}.jpg",
            "aspect": aspect, "width": size[0], "height": size[1], "start_s": start_s, "end_s": end_s,
            "title": f"Clip {index}"}


PLAN = {"planner": "local", "clips": [
    {"start_s": 0.5, "end_s": 19.0, "title": "The promise", "score": 0.71, "rationale": "Opens on money."},
    {"start_s": 19.0, "end_s": 35.96, "title": "A better marriage", "score": 0.51, "rationale": "About his wife."}]}
CLIPS = [rendered(index, aspect, size, clip["start_s"], clip["end_s"]) for index, clip in enumerate(PLAN["clips"])
         for aspect, size in (("9:16", (1080, 1920)), ("16:9", (1920, 1080)))]


def test_each_planned_clip_is_one_group_holding_its_render_in_every_aspect():
    groups = call("clips.js", "clipGroups", {"plan": PLAN, "clips": CLIPS})

    assert [(group["title"], group["score"]) for group in groups] == [
        ("The promise", 0.71), ("A better marriage", 0.51)]
    assert [[clip["path"] for clip in group["renders"]] for group in groups] == [
        ["clips/clip-00-9x16.mp4", "clips/clip-00-16x9.mp4"], ["clips/clip-01-9x16.mp4", "clips/clip-01-16x9.mp4"]]


def test_a_planned_clip_not_rendered_is_a_group_without_renders():
    groups = call("clips.js", "clipGroups", {"plan": PLAN, "clips": CLIPS[:2]})

    assert [len(group["renders"]) for group in groups] == [2, 0]


def test_without_a_plan_the_renders_of_one_span_are_one_group():
    groups = call("clips.js", "clipGroups", {"clips": CLIPS})

    assert [(group["start_s"], len(group["renders"])) for group in groups] == [(0.5, 2), (19.0, 2)]


def test_each_render_is_labelled_with_its_aspect_and_size_and_an_older_one_with_its_size_alone():
    assert call("clips.js", "aspectLabel", CLIPS[1]) == "16:9 · 1920×1080"
    assert call("clips.js", "aspectLabel", {"width": 1080, "height": 1920}) == "1080×1920"


def test_the_clip_lane_shows_a_clip_rendered_in_two_aspects_once():
    with_plan = call("timeline.js", "lanes", {"plan": PLAN, "clips": CLIPS}, None, None)["items"]["clips"]
    without = call("timeline.js", "lanes", {"clips": CLIPS}, None, None)["items"]["clips"]

    assert [(item["label"], item["rendered"]) for item in with_plan] == [("The promise", True),
                                                                        ("A better marriage", True)]
    assert [(item["start_s"], item["label"]) for item in without] == [(0.5, "Clip 0"), (19.0, "Clip 1")]
