"""The aspect ratios every clip is rendered in (lambdas/common/aspects.py): their frame sizes, their keys, and how
the deployment's configuration (stacks/config.py) names them and hands them to the render steps."""

import pytest
from pydantic import ValidationError

from lambdas.common.aspects import frame_size, matches
from lambdas.common.keys import clip_key, render_spec_key, thumbnail_key
from lambdas.common.render_list import RenderSettings
from stacks.config import MAX_RENDERS_PER_JOB, VideoFlowConfig

JOB_ID = "job-aspects-01"


# --- frame sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("aspect", "short_side", "size"), [
    ("9:16", 1080, (1080, 1920)), ("1:1", 1080, (1080, 1080)), ("16:9", 1080, (1920, 1080)),
    ("9:16", 540, (540, 960)), ("16:9", 720, (1280, 720)),
    ("16:9", 1000, (1778, 1000)),  # 1777.8 rounded to the nearest even width
])
def test_each_aspects_frame_size_follows_from_the_short_side(aspect, short_side, size):
    assert frame_size(aspect, short_side) == size
    assert matches(*size, aspect)


@pytest.mark.parametrize(("width", "height", "aspect"), [
    (1920, 1080, "9:16"), (1080, 1920, "16:9"), (1080, 1082, "1:1"), (1080, 1350, "9:16"), (1776, 1000, "16:9")])
def test_a_frame_of_another_shape_does_not_match_the_aspect(width, height, aspect):
    assert not matches(width, height, aspect)


# --- keys -----------------------------------------------------------------------------------------


def test_every_key_of_a_render_names_its_clip_and_its_aspect():
    assert [clip_key(JOB_ID, 0, aspect) for aspect in ("9:16", "1:1", "16:9")] == [
        f"clips/{JOB_ID}/clip-00-9x16.mp4", f"clips/{JOB_ID}/clip-00-1x1.mp4", f"clips/{JOB_ID}/clip-00-16x9.mp4"]
    assert thumbnail_key(JOB_ID, 12, "16:9") == f"clips/{JOB_ID}/clip-12-16x9.jpg"
    assert render_spec_key(JOB_ID, 3, "1:1") == f"analysis/{JOB_ID}/render/clip-03-1x1.json"


# --- the render steps' settings ---------------------------------------------------------------------


def test_by_default_the_render_steps_render_9_16_at_1080x1920():
    settings = RenderSettings()

    assert settings.aspects == ("9:16",)
    assert settings.frame_size("9:16") == (1080, 1920)


def test_the_render_steps_read_the_aspects_and_short_side_from_their_environment():
    settings = RenderSettings.model_validate({"RENDER_ASPECTS": "16:9, 9:16", "RENDER_SHORT_SIDE": "540"})

    assert settings.aspects == ("16:9", "9:16")
    assert [settings.frame_size(aspect) for aspect in settings.aspects] == [(960, 540), (540, 960)]


@pytest.mark.parametrize(("value", "message"), [
    ("", "name at least one aspect"), ("9:16,9:16", "9:16 is named more than once"), ("4:3", "Input should be")])
def test_an_environment_with_no_repeated_or_unknown_aspects_is_refused(value, message):
    with pytest.raises(ValidationError, match=message):
        RenderSettings.model_validate({"RENDER_ASPECTS": value})


# --- the deployment's configuration ---------------------------------------------------------------


def test_the_configured_aspects_and_short_side_reach_the_render_steps_environment():
    config = VideoFlowConfig(render_aspects=["9:16", "1:1"], render_short_side=720)

    environment = config.render_environment()

    assert (environment["RENDER_ASPECTS"], environment["RENDER_SHORT_SIDE"]) == ("9:16,1:1", "720")
    settings = RenderSettings.model_validate(environment)
    assert [settings.frame_size(aspect) for aspect in settings.aspects] == [(720, 1280), (720, 720)]
    assert "RENDER_WIDTH" not in environment and "RENDER_HEIGHT" not in environment


def test_by_default_the_deployment_renders_9_16_only():
    config = VideoFlowConfig()

    assert (config.render_aspects, config.render_short_side, config.renders_per_job) == (("9:16",), 1080, 5)


@pytest.mark.parametrize(("settings", "message"), [
    ({"render_aspects": []}, "name at least one aspect"),
    ({"render_aspects": ["16:9", "1:1", "16:9"]}, "16:9 is named more than once"),
    ({"render_aspects": ["9:16", "4:5"]}, "Input should be '9:16', '1:1' or '16:9'"),
    ({"render_short_side": 1079}, "multiple of 2"),
    ({"render_short_side": 2306}, "less than or equal to 2304"),
    ({"render_width": 720, "render_height": 1280}, "render_height\n  Extra inputs are not permitted"),
])
def test_a_render_configuration_out_of_bounds_or_with_the_old_size_settings_is_refused_by_name(settings, message):
    with pytest.raises(ValidationError, match=message):
        VideoFlowConfig(**settings)


def test_more_clips_times_aspects_than_the_workflow_state_holds_is_refused():
    VideoFlowConfig(plan_max_clips=MAX_RENDERS_PER_JOB // 3, render_aspects=["9:16", "1:1", "16:9"])

    with pytest.raises(ValidationError, match="name fewer render_aspects"):
        VideoFlowConfig(plan_max_clips=MAX_RENDERS_PER_JOB // 3 + 1, render_aspects=["9:16", "1:1", "16:9"])


def test_the_execution_timeout_allows_the_render_rounds_of_every_aspect():
    one = VideoFlowConfig(plan_max_clips=8, render_max_concurrency=4)
    three = VideoFlowConfig(plan_max_clips=8, render_max_concurrency=4, render_aspects=["9:16", "1:1", "16:9"])

    # 8 renders are 2 rounds of 4, 24 are 6: four more rounds, each up to three attempts of render_timeout_min.
    assert three.needed_workflow_timeout_s - one.needed_workflow_timeout_s == 4 * 3 * one.render_timeout_min * 60


# --- what `videoflow run` prints ------------------------------------------------------------------


def test_the_run_summary_lists_each_render_with_its_aspect_and_its_planned_clips_score():
    from videoflow.cli import clip_lines

    plan = {"planner": "local", "clips": [{"start_s": 0.0, "end_s": 19.0, "title": "The promise", "score": 0.71}]}
    clips = [{"path": f"clips/clip-00-{name}.mp4", "aspect": aspect, "start_s": 0.0, "end_s": 19.0, "width": size[0],
              "height": size[1], "title": "The promise"} for aspect, name, size in (
        ("9:16", "9x16", (1080, 1920)), ("16:9", "16x9", (1920, 1080)))]

    lines = clip_lines({"plan": plan, "clips": clips})

    assert lines == [
        "  clips  1 planned by the local planner, 2 rendered in 9:16, 16:9",
        '    clips/clip-00-9x16.mp4  9:16  0.0-19.0 s  1080x1920  "The promise" (score 0.71)',
        '    clips/clip-00-16x9.mp4  16:9  0.0-19.0 s  1920x1080  "The promise" (score 0.71)']
