"""The workflow's state stays far below Step Functions' 256 KB payload limit, however long the video.

Every step keeps its results in S3 and puts a reference and a few counts in the state
(stacks/steps.py: one result path per step). tests/events/workflow_state_talk.json is the final
state of a real local run (`videoflow run` of the sample talk: 36 s, 4 clips): the largest state of
a job, since every later state only adds to it. Nothing in it grows with the video's length but
numbers; four entries grow with the number of clips, which validate_plan caps at plan_max_clips
(at most 50, stacks/config.py), three of them once per aspect rendered (render_aspects), the clips
times the aspects capped at MAX_RENDERS_PER_JOB. So the largest realistic state is that one with a
4-hour video's numbers and every per-clip entry at its largest (titles and rationales at their
length limits, in 3-byte characters), measured here for 20 clips and for the most clips each
number of aspects allows.
"""

import json
from pathlib import Path

import pytest

from lambdas.common.aspects import ASPECTS, frame_size, slug
from lambdas.common.judgment import MAX_RATIONALE_CHARS, MAX_TITLE_CHARS, PlannedClip, PlanRef
from lambdas.common.models import ManifestClip
from lambdas.common.render_list import RenderList
from stacks.config import MAX_RENDERS_PER_JOB, VideoFlowConfig

STATE = Path(__file__).parent.parent / "events" / "workflow_state_talk.json"
STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES = 256 * 1024
FOUR_HOURS_S = 4 * 3600.0
WIDE = "界"  # 3 bytes in UTF-8, as Step Functions counts the payload
PER_CLIP = {"plan": ("plan", "clips"), "render": ("clips",), "renders": (), "clips": ("clips",)}


def recorded() -> dict:
    return json.loads(STATE.read_text())


def per_clip_list(state: dict, path: str) -> list:
    value = state[path]
    for key in PER_CLIP[path]:
        value = value[key]
    return value


def size_bytes(state: dict) -> int:
    return len(json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())


def largest_state(clips: int, aspects: int = 1) -> dict:
    """The recorded state with a 4-hour video's numbers and `clips` clips in `aspects` aspects, each at its largest."""
    state = recorded()
    state["media"]["duration_s"] = state["limits"]["max_duration_s"] = FOUR_HOURS_S
    state["media"]["size_bytes"] = state["source"]["size_bytes"] = state["limits"]["max_size_bytes"]
    state["frame_manifest"].update(frame_count=7200, chunk_count=120, array_size=120)
    transcript, vision = state["analysis"]
    transcript["transcript"].update(word_count=43_200, sentence_count=4_800)
    transcript["captions"]["cue_count"] = 9_000
    vision["timeline"].update(frame_count=7200, faces_frames=7200)
    vision["shots"]["shot_count"] = 2_400
    state["search_index"]["segment_count"] = 7_200
    plan, item, render, clip = (per_clip_list(state, path)[0] for path in PER_CLIP)
    title, rationale = WIDE * MAX_TITLE_CHARS, WIDE * MAX_RATIONALE_CHARS
    planned, items, renders, published = [], [], [], []
    for index in range(clips):
        start_s = FOUR_HOURS_S - 60.0 * (clips - index)
        planned.append(PlannedClip.model_validate({**plan, "start_s": start_s, "end_s": start_s + 59.999,
                                                   "title": title, "rationale": rationale}).model_dump(mode="json"))
        # The longest aspect names first: 16:9 makes the longest keys.
        for aspect in sorted(ASPECTS, key=len, reverse=True)[:aspects]:
            name, (width, height) = f"clip-{index:02d}-{slug(aspect)}", frame_size(aspect, 1080)
            key = item["output"]["key"].replace("clip-00-9x16", name)
            items.append({**item, "index": index, "aspect": aspect, "width": width, "height": height,
                          "start_s": start_s, "end_s": start_s + 59.999, "title": title, "target": "fargate",
                          "target_reason": f"a 60.0 s clip from a {FOUR_HOURS_S:.0f} s source needs more than a "
                                           "function's /tmp",
                          "spec_s3": item["spec_s3"].replace("clip-00-9x16", name),
                          "output": {**item["output"], "key": key},
                          "thumbnail": {**item["thumbnail"], "key": key.replace(".mp4", ".jpg")}})
            renders.append({**render, "key": key, "clip_index": index, "duration_s": 59.999, "bytes": 99_999_999,
                            "width": width, "height": height,
                            "thumbnail": {**render["thumbnail"], "key": key.replace(".mp4", ".jpg")}})
            published.append({**clip, "path": key, "aspect": aspect, "thumbnail": key.replace(".mp4", ".jpg"),
                              "title": title, "start_s": start_s, "end_s": start_s + 59.999, "duration_s": 59.999,
                              "width": width, "height": height, "bytes": 99_999_999, "rendered_on": "fargate"})
    state["plan"]["plan"]["clips"], state["render"]["clips"] = planned, items
    state["renders"], state["clips"]["clips"] = renders, published
    return validated(state)


def validated(state: dict) -> dict:
    """The per-clip entries as the steps' own models read them (so the recorded shape cannot drift unseen)."""
    PlanRef.model_validate(state["plan"])
    RenderList.model_validate(state["render"])
    for clip in state["clips"]["clips"]:
        ManifestClip.model_validate(clip)
    renders = {len(per_clip_list(state, path)) for path in ("render", "renders", "clips")}
    aspects = {clip["aspect"] for clip in state["clips"]["clips"]}
    assert renders == {len(per_clip_list(state, "plan")) * len(aspects)}, "one entry per clip and aspect"
    return state


def test_the_recorded_state_is_a_real_final_state_with_one_entry_per_clip_and_aspect_in_each_per_clip_list():
    state = validated(recorded())

    assert state["result"]["status"] == "COMPLETED"
    assert len(state["renders"]) == 4
    assert size_bytes(state) < 32 * 1024


def test_nothing_in_the_state_but_the_per_clip_lists_holds_a_list_that_could_grow_with_the_video():
    state = recorded()
    lists: list[str] = []

    def walk(value, path: str) -> None:
        if isinstance(value, list):
            lists.append(path)
            for item in value:
                walk(item, path + "[]")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")

    walk(state, "$")
    per_clip = {"$.plan.plan.clips", "$.render.clips", "$.renders", "$.clips.clips"}
    growing = [path for path in lists if not any(path.startswith(prefix) for prefix in per_clip)]
    # What is left: the two analysis branches, the MediaConvert job's fixed settings (three outputs of one input),
    # and the cost report's line items (a fixed set per service).
    assert all(path == "$.analysis" or path.startswith(("$.mediaconvert.settings", "$.cost.by_service"))
               for path in growing), growing
    assert len(state["analysis"]) == 2


MOST_CLIPS = next(bound.le for bound in VideoFlowConfig.model_fields["plan_max_clips"].metadata if hasattr(bound, "le"))
# For each number of aspects, the most clips a configuration may plan (stacks/config.py refuses more).
MOST_RENDERS = [(min(MOST_CLIPS, MAX_RENDERS_PER_JOB // aspects), aspects) for aspects in range(1, len(ASPECTS) + 1)]


@pytest.mark.parametrize(("clips", "aspects"), [(20, 1), *MOST_RENDERS])
def test_a_four_hour_video_with_the_most_clips_keeps_the_whole_state_within_the_payload_limit(clips, aspects):
    state = largest_state(clips, aspects)

    size = size_bytes(state)
    print(f"{clips} clips in {aspects} aspects, 4 h: {size / 1024:.1f} KiB")
    assert size < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES * 0.75  # a quarter to spare
    if (clips, aspects) == (20, 1):
        assert size < 80 * 1024


def test_a_configuration_with_more_renders_than_the_state_has_room_for_is_refused():
    clips = MAX_RENDERS_PER_JOB // len(ASPECTS) + 1
    most = VideoFlowConfig(plan_max_clips=clips - 1, render_aspects=list(ASPECTS))
    assert most.renders_per_job <= MAX_RENDERS_PER_JOB
    with pytest.raises(ValueError, match=f"plan_max_clips={clips} in 3 aspects is {3 * clips} renders a job"):
        VideoFlowConfig(plan_max_clips=clips, render_aspects=list(ASPECTS))
