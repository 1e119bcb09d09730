"""The render's settings (containers/render/config.py): read from the environment once, and a wrong
variable fails with one readable line that names it."""

import re

import pytest

from containers.render.config import DEFAULT_HEARTBEAT_S, RenderConfig
from containers.render.errors import RenderError

SPEC = {"RENDER_SPEC": '{"job_id": "job-1"}'}


def _error(environ: dict) -> str:
    with pytest.raises(RenderError) as raised:
        RenderConfig.from_env(environ)
    return str(raised.value)


def test_given_only_a_spec_when_read_then_every_other_setting_takes_its_default(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/opt/bin/{name}")

    config = RenderConfig.from_env(SPEC)

    assert config.spec_json == SPEC["RENDER_SPEC"]
    assert (config.spec_s3, config.task_token, config.work_dir) == (None, None, None)
    assert (config.heartbeat_s, config.preset) == (DEFAULT_HEARTBEAT_S, "veryfast")
    assert re.fullmatch(r"[0-9a-f]{16}", config.attempt_id)
    assert (config.ffmpeg, config.ffprobe) == ("/opt/bin/ffmpeg", "/opt/bin/ffprobe")


def test_given_programs_not_on_path_when_read_then_ffmpeg_and_ffprobe_are_their_bare_names(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)

    config = RenderConfig.from_env(SPEC)

    assert (config.ffmpeg, config.ffprobe) == ("ffmpeg", "ffprobe")


def test_given_every_variable_when_read_then_each_lands_in_its_attribute_stripped():
    config = RenderConfig.from_env({
        "RENDER_SPEC_S3": " s3://specs/renders/job-1/clip-00.json ", "TASK_TOKEN": "token-1", "HEARTBEAT_S": "0.5",
        "RENDER_ATTEMPT_ID": "retry_1-a", "RENDER_PRESET": "slow", "RENDER_WORK_DIR": "/scratch",
        "FFMPEG": "/usr/local/bin/ffmpeg", "FFPROBE": "/usr/local/bin/ffprobe", "UNRELATED": "ignored",
    })

    assert config.spec_s3 == ("specs", "renders/job-1/clip-00.json")
    assert (config.spec_json, config.task_token, config.heartbeat_s) == (None, "token-1", 0.5)
    assert (config.attempt_id, config.preset, config.work_dir) == ("retry_1-a", "slow", "/scratch")
    assert (config.ffmpeg, config.ffprobe) == ("/usr/local/bin/ffmpeg", "/usr/local/bin/ffprobe")


def test_given_a_spec_location_without_the_scheme_when_read_then_it_is_taken_as_bucket_and_key():
    assert RenderConfig.from_env({"RENDER_SPEC_S3": "specs/clip.json"}).spec_s3 == ("specs", "clip.json")


def test_given_empty_variables_when_read_then_they_count_as_unset():
    # The render_short_clip Lambda blanks RENDER_SPEC and TASK_TOKEN this way.
    config = RenderConfig.from_env({"RENDER_SPEC": "", "RENDER_SPEC_S3": "s3://specs/clip.json", "TASK_TOKEN": "",
                                    "HEARTBEAT_S": " ", "RENDER_PRESET": "", "RENDER_ATTEMPT_ID": ""})

    assert (config.spec_json, config.task_token) == (None, None)
    assert (config.heartbeat_s, config.preset) == (DEFAULT_HEARTBEAT_S, "veryfast")
    assert config.attempt_id


def test_given_no_spec_when_read_then_the_error_says_which_variables_to_set():
    assert _error({"RENDER_SPEC": " ", "TASK_TOKEN": "token-1"}) == (
        "no render spec: set RENDER_SPEC (JSON) or RENDER_SPEC_S3 (s3://bucket/key)")


@pytest.mark.parametrize("value", ["specs", "s3://specs", "s3://specs/", "s3:///clip.json"])
def test_given_a_spec_location_without_a_key_when_read_then_the_error_names_render_spec_s3(value):
    assert _error({"RENDER_SPEC_S3": value}) == f"RENDER_SPEC_S3 must be s3://bucket/key, not {value!r}"


@pytest.mark.parametrize("value", ["soon", "0", "-1", "3600.5", "nan", "inf"])
def test_given_a_heartbeat_outside_0_to_3600_s_when_read_then_the_error_names_heartbeat_s(value):
    assert _error({**SPEC, "HEARTBEAT_S": value}) == (
        f"HEARTBEAT_S must be a number of seconds within (0, 3600], not {value!r}")


def test_given_a_heartbeat_of_exactly_3600_s_when_read_then_it_is_accepted():
    assert RenderConfig.from_env({**SPEC, "HEARTBEAT_S": "3600"}).heartbeat_s == 3600.0


@pytest.mark.parametrize("value", ["a b", "../clip", "x" * 65])
def test_given_an_attempt_id_unfit_for_an_object_key_when_read_then_the_error_names_render_attempt_id(value):
    assert _error({**SPEC, "RENDER_ATTEMPT_ID": value}) == (
        f"RENDER_ATTEMPT_ID must be 1-64 letters, digits, - and _, not {value!r}")


def test_given_an_unknown_preset_when_read_then_the_error_lists_the_x264_presets():
    assert _error({**SPEC, "RENDER_PRESET": "turbo"}) == (
        "RENDER_PRESET must be one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, "
        "veryslow, not 'turbo'")


def test_given_several_wrong_variables_when_read_then_one_line_names_each():
    error = _error({**SPEC, "HEARTBEAT_S": "0", "RENDER_PRESET": "turbo"})

    assert "\n" not in error
    assert error.startswith("HEARTBEAT_S must be a number of seconds within (0, 3600], not '0'; RENDER_PRESET ")


def test_given_a_task_token_when_the_settings_are_shown_then_the_token_is_not():
    assert "token-1" not in repr(RenderConfig.from_env({**SPEC, "TASK_TOKEN": "token-1"}))


def test_given_settings_when_changed_then_they_refuse_it():
    config = RenderConfig.from_env(SPEC)

    with pytest.raises(ValueError):
        config.preset = "slow"
