"""enforce_limits: media outside the configured size and duration limits is rejected, with a reason a person reads.

Each limit raises its own UploadRejected subclass (lambdas/common/errors.py), so the workflow
ends the job REJECTED without a retry and the error name says which limit. The limits are
inclusive: a file exactly at a limit passes, one byte or one millisecond beyond it does not.
Media that passes appends `limits.passed`; rejected media appends nothing.
"""

import pytest

from lambdas.common import constants
from lambdas.common.errors import DurationTooLong, DurationTooShort, FileTooLarge, UploadRejected, rejection_error_names
from lambdas.common.events import EventLog
from lambdas.common.models import MediaInfo, SourceObject
from lambdas.common.settings import LimitSettings
from lambdas.enforce_limits.handler import handler
from lambdas.enforce_limits.logic import LimitsRequest, enforce_limits
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-limits-00000001"
GIB = 1024**3
MAX_DURATION_S = 3600.0
MIN_DURATION_S = 1.0
MAX_SIZE_BYTES = 10 * GIB
LIMITS = LimitSettings.model_validate(
    {"MAX_DURATION_S": MAX_DURATION_S, "MIN_DURATION_S": MIN_DURATION_S, "MAX_SIZE_BYTES": MAX_SIZE_BYTES})


def _state(duration_s: float = 600.0, size_bytes: int = 2 * GIB, stated_duration_s: float | None = None) -> dict:
    """The workflow state as EnforceLimits receives it: the source and probe_media's facts."""
    media = MediaInfo(container="mp4", duration_s=duration_s, size_bytes=size_bytes, video_codec="h264",
                      coded_width=1920, coded_height=1080, width=1920, height=1080, frame_rate=25.0, has_audio=True,
                      stated_duration_s=stated_duration_s)
    return {"job_id": JOB_ID,
            "source": SourceObject(bucket="videoflow-ingest", key="uploads/talk.mp4", version_id="v1",
                                   size_bytes=size_bytes).model_dump(mode="json"),
            "media": media.model_dump(mode="json")}


@pytest.fixture
def events(aws_state):
    return EventLog("videoflow-events")


def _enforce(events: EventLog, **media):
    return enforce_limits(LimitsRequest.model_validate(_state(**media)), LIMITS, events)


# --- each limit rejects with its own error and a readable reason ------------------------------------


def test_given_a_file_larger_than_the_limit_when_checked_then_it_is_rejected_as_file_too_large_in_gib(events):
    with pytest.raises(FileTooLarge) as rejected:
        _enforce(events, size_bytes=int(12.5 * GIB))

    assert str(rejected.value) == "The file is 12.50 GiB; the limit is 10.00 GiB."
    assert rejected.value.code == "SIZE_LIMIT"


def test_given_a_video_longer_than_the_limit_when_checked_then_it_is_rejected_as_too_long_in_h_mm_ss(events):
    with pytest.raises(DurationTooLong) as rejected:
        _enforce(events, duration_s=5025.4)

    assert str(rejected.value) == "The video lasts 1:23:45; the limit is 1:00:00."
    assert rejected.value.code == "DURATION_LIMIT"


def test_given_a_video_shorter_than_the_minimum_when_checked_then_it_is_rejected_as_too_short_in_seconds(events):
    with pytest.raises(DurationTooShort) as rejected:
        _enforce(events, duration_s=0.4)

    assert str(rejected.value) == "The video lasts 0.40 s; at least 1 s is needed."
    assert rejected.value.code == "DURATION_TOO_SHORT"


def test_given_a_header_that_understates_the_measured_length_when_over_the_limit_then_both_lengths_are_named(events):
    # probe_media measured 1:23:45 from the sample tables of a file whose header claims 0:00:02
    with pytest.raises(DurationTooLong) as rejected:
        _enforce(events, duration_s=5025.4, stated_duration_s=2.0)

    assert str(rejected.value) == "The video lasts 1:23:45 (its header claims 0:00:02); the limit is 1:00:00."


def test_given_a_header_that_overstates_the_measured_length_when_too_short_then_both_lengths_are_named(events):
    with pytest.raises(DurationTooShort) as rejected:
        _enforce(events, duration_s=0.4, stated_duration_s=40.0)

    assert str(rejected.value) == "The video lasts 0.40 s (its header claims 40.00 s); at least 1 s is needed."


def test_every_limit_error_is_a_rejection_the_workflow_catches_by_name():
    for error in (FileTooLarge, DurationTooLong, DurationTooShort):
        assert issubclass(error, UploadRejected)
        assert error.__name__ in rejection_error_names()


def test_given_rejected_media_when_checked_then_nothing_is_appended_to_the_event_log(events):
    for media in ({"size_bytes": MAX_SIZE_BYTES + 1}, {"duration_s": MAX_DURATION_S + 1}, {"duration_s": 0.1}):
        with pytest.raises(UploadRejected):
            _enforce(events, **media)

    assert events.read(JOB_ID) == []


def test_given_a_file_over_both_size_and_duration_when_checked_then_the_size_is_the_reason_given(events):
    with pytest.raises(FileTooLarge):
        _enforce(events, size_bytes=MAX_SIZE_BYTES + 1, duration_s=MAX_DURATION_S + 1)


# --- within the limits -------------------------------------------------------------------------------


def test_given_media_within_the_limits_when_checked_then_it_passes_with_the_limits_and_a_limits_passed_event(events):
    verdict = _enforce(events, duration_s=600.0, size_bytes=2 * GIB)

    assert verdict.model_dump() == {"max_duration_s": MAX_DURATION_S, "max_size_bytes": MAX_SIZE_BYTES}
    (passed,) = events.read(JOB_ID)
    assert (passed.type, passed.step) == ("limits.passed", "EnforceLimits")
    assert passed.detail == {"duration_s": 600.0, "size_bytes": 2 * GIB}


# --- the boundaries are exact ------------------------------------------------------------------------


@pytest.mark.parametrize("media", [
    {"size_bytes": MAX_SIZE_BYTES}, {"duration_s": MAX_DURATION_S}, {"duration_s": MIN_DURATION_S},
    {"size_bytes": MAX_SIZE_BYTES, "duration_s": MAX_DURATION_S},
], ids=["size-at-max", "duration-at-max", "duration-at-min", "both-at-max"])
def test_given_media_exactly_at_a_limit_when_checked_then_it_passes(events, media):
    _enforce(events, **media)

    assert [event.type for event in events.read(JOB_ID)] == ["limits.passed"]


@pytest.mark.parametrize(("media", "error"), [
    ({"size_bytes": MAX_SIZE_BYTES + 1}, FileTooLarge),
    ({"duration_s": MAX_DURATION_S + 0.001}, DurationTooLong),
    ({"duration_s": MIN_DURATION_S - 0.001}, DurationTooShort),
], ids=["one-byte-over", "one-ms-too-long", "one-ms-too-short"])
def test_given_media_just_beyond_a_limit_when_checked_then_it_is_rejected(events, media, error):
    with pytest.raises(error):
        _enforce(events, **media)


def test_given_media_a_byte_or_a_moment_over_when_rejected_then_the_message_does_not_round_it_away(events):
    with pytest.raises(FileTooLarge) as too_large:
        _enforce(events, size_bytes=MAX_SIZE_BYTES + 1)
    with pytest.raises(DurationTooLong) as too_long:
        _enforce(events, duration_s=MAX_DURATION_S + 0.4)

    assert str(too_large.value) == f"The file is {MAX_SIZE_BYTES + 1:,} bytes; the limit is {MAX_SIZE_BYTES:,} bytes."
    assert str(too_long.value) == f"The video lasts {MAX_DURATION_S + 0.4:.3f} s; the limit is {MAX_DURATION_S:.3f} s."


# --- the step ------------------------------------------------------------------------------------------


def test_given_no_limit_variables_when_the_handler_runs_then_the_default_limits_apply(aws_state):
    verdict = handler(_state(), LocalLambdaContext("enforce_limits"))

    assert verdict == {"max_duration_s": constants.DEFAULT_MAX_DURATION_S,
                       "max_size_bytes": constants.DEFAULT_MAX_SIZE_BYTES}


def test_given_limit_variables_when_the_handler_runs_then_they_are_the_limits(aws_state, monkeypatch):
    monkeypatch.setenv("MAX_DURATION_S", "60")
    monkeypatch.setenv("MIN_DURATION_S", "2")
    monkeypatch.setenv("MAX_SIZE_BYTES", str(GIB))
    context = LocalLambdaContext("enforce_limits")

    assert handler(_state(duration_s=60.0, size_bytes=GIB), context) == {"max_duration_s": 60.0,
                                                                         "max_size_bytes": GIB}
    with pytest.raises(DurationTooLong, match="the limit is 0:01:00"):
        handler(_state(duration_s=61.0, size_bytes=GIB), context)
    with pytest.raises(DurationTooShort, match="at least 2 s is needed"):
        handler(_state(duration_s=1.5, size_bytes=GIB), context)
