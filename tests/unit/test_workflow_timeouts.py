"""The bounds of a job's long waits, sized from the video's measured length (stacks/config.py), and the execution's
timeout sized for the longest video the deployment accepts. The workflow computes the same per job
(tests/infra/test_state_machine_asl.py runs its SizeTimeouts state against these)."""

import pytest
from pydantic import ValidationError

from stacks.config import VideoFlowConfig

DEFAULTS = VideoFlowConfig()


def test_a_ten_second_clip_waits_about_half_an_hour_for_mediaconvert_and_transcribe_not_hours():
    assert 30 * 60 <= DEFAULTS.mediaconvert_timeout_s(10) <= 31 * 60
    assert 30 * 60 <= DEFAULTS.transcribe_timeout_s(10) <= 31 * 60


def test_a_three_hour_video_gets_more_than_its_length_for_each():
    three_hours = 3 * 3600
    assert DEFAULTS.mediaconvert_timeout_s(three_hours) > three_hours + 20 * 60
    assert DEFAULTS.transcribe_timeout_s(three_hours) > three_hours + 20 * 60


@pytest.mark.parametrize(("duration_s", "counted_s"), [(0.45, 0), (10.49, 10), (10.5, 11), (3600.7, 3601)])
def test_the_duration_counts_in_whole_seconds_rounded_half_up_as_states_math_add_rounds(duration_s, counted_s):
    config = VideoFlowConfig(mediaconvert_timeout_base_s=100, mediaconvert_timeout_per_media_s=3)

    assert config.mediaconvert_timeout_s(duration_s) == 100 + 3 * counted_s


def test_by_default_the_execution_timeout_is_sized_for_a_video_at_the_duration_limit():
    longest = DEFAULTS.max_duration_s

    assert DEFAULTS.workflow_timeout_s == DEFAULTS.needed_workflow_timeout_s
    assert DEFAULTS.workflow_timeout_s > 2 * DEFAULTS.mediaconvert_timeout_s(longest) + DEFAULTS.transcribe_timeout_s(
        longest)


def test_a_deployment_that_accepts_only_short_videos_gets_a_shorter_execution_timeout():
    short = VideoFlowConfig(max_duration_s=600)

    assert short.workflow_timeout_s < DEFAULTS.workflow_timeout_s - 2 * 3600


def test_an_execution_timeout_too_short_for_the_longest_accepted_video_is_refused_at_synth():
    with pytest.raises(ValidationError, match="workflow_timeout_h=6 is shorter than a video of max_duration_s=14400"):
        VideoFlowConfig(workflow_timeout_h=6)


def test_an_execution_timeout_long_enough_is_kept_as_given():
    hours = DEFAULTS.needed_workflow_timeout_s / 3600 + 1

    assert VideoFlowConfig(workflow_timeout_h=hours).workflow_timeout_s == int(hours * 3600)


def test_the_old_fixed_timeout_settings_are_refused_by_name_not_ignored():
    with pytest.raises(ValidationError, match="mediaconvert_timeout_min"):
        VideoFlowConfig(mediaconvert_timeout_min=240)
