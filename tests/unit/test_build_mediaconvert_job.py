"""build_mediaconvert_job: one MediaConvert job, valid against the API model, three derivatives.

The job settings are pinned by golden files (tests/golden/mediaconvert_<case>.json); after an
intended change, regenerate them with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_build_mediaconvert_job.py`
and review the diff. Validity is checked against botocore's MediaConvert model, which is what
a real CreateJob call is validated against.
"""

import json
import os
from pathlib import Path

import pytest

from lambdas.build_mediaconvert_job.handler import handler
from lambdas.build_mediaconvert_job.logic import (
    MediaConvertJobRequest,
    build_mediaconvert_job,
    downmix_matrix,
    plan_job,
    proxy_size,
)
from lambdas.common import constants
from lambdas.common.events import EventLog
from lambdas.common.models import AudioTrack, MediaInfo, SourceObject
from lambdas.common.settings import LimitSettings, Settings, get_settings
from videoflow.local.lambda_runtime import LocalLambdaContext
from videoflow.local.mediaconvert import create_job_problems, settings_problems

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
JOB_ID = "job-mediaconvert-0001"
OUTPUT_BUCKET = "videoflow-output"
MAX_DURATION_S = constants.DEFAULT_MAX_DURATION_S
CONTEXT = LocalLambdaContext("build_mediaconvert_job")


def _media(width, height, *, rotation_deg=0, has_audio=True, audio_channels=2, audio_tracks=()) -> MediaInfo:
    coded = (height, width) if rotation_deg in (90, 270) else (width, height)
    return MediaInfo(
        container="mp4", duration_s=62.5, size_bytes=50_000_000, video_codec="h264",
        coded_width=coded[0], coded_height=coded[1], width=width, height=height, rotation_deg=rotation_deg,
        frame_rate=29.97, has_audio=has_audio, audio_codec="aac" if has_audio else None,
        audio_channels=audio_channels if has_audio else 0, audio_sample_rate_hz=48_000 if has_audio else 0,
        audio_tracks=[AudioTrack(track=n, channels=c, codec="AAC") for n, c in enumerate(audio_tracks, start=1)],
    )


def _request(media: MediaInfo, key: str = "uploads/2026/clip.mp4") -> MediaConvertJobRequest:
    return MediaConvertJobRequest(
        job_id=JOB_ID,
        source=SourceObject(bucket="videoflow-ingest", key=key, version_id="v1", etag="e", size_bytes=media.size_bytes),
        media=media,
    )


CASES = {
    "landscape_1080p_stereo": _media(1920, 1080),
    "phone_rotated_90": _media(1080, 1920, rotation_deg=90),
    "sd_640x480_no_audio": _media(640, 480, has_audio=False),
    # A camera or screen recorder's file: a stereo track, then a 5.1 one.
    "two_audio_tracks_stereo_and_5_1": _media(1920, 1080, audio_tracks=(2, 6)),
}


def _plan(media: MediaInfo):
    return plan_job(_request(media), output_bucket=OUTPUT_BUCKET, max_duration_s=MAX_DURATION_S)


@pytest.mark.parametrize("case", sorted(CASES))
def test_given_a_golden_case_when_the_job_is_planned_then_it_matches_the_golden_file(case):
    spec = _plan(CASES[case]).model_dump(mode="json")
    path = GOLDEN / f"mediaconvert_{case}.json"
    text = json.dumps(spec, indent=2, sort_keys=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"settings differ from {path.name}; run with UPDATE_GOLDEN=1 and review the diff"


@pytest.mark.parametrize("case", sorted(CASES))
def test_given_a_golden_case_when_checked_against_the_mediaconvert_model_then_create_job_would_accept_it(case):
    settings = _plan(CASES[case]).settings

    assert settings_problems(settings) == []
    assert create_job_problems({
        "Role": "arn:aws:iam::123456789012:role/videoflow-mediaconvert",
        "Settings": settings,
        "UserMetadata": {"job_id": JOB_ID},
    }) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["Inputs"][0].update(Bogus=1), "unknown key 'Bogus'"),
        (lambda s: s["Inputs"][0]["VideoSelector"].update(Rotate="DEGREES_45"), "'DEGREES_45' is not one of"),
        (lambda s: s["OutputGroups"][0]["Outputs"][0]["VideoDescription"].update(Height=20000), "above maximum 8192"),
        (lambda s: s["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"].pop("H264Settings"),
         "H264Settings is required when Codec is H_264"),
        (lambda s: s["OutputGroups"][1]["Outputs"][0]["AudioDescriptions"][0]["CodecSettings"].pop("WavSettings"),
         "WavSettings is required when Codec is WAV"),
        (lambda s: s["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"].update(Destination="out/x"),
         "does not match"),
        (lambda s: s["OutputGroups"][2]["Outputs"][0]["VideoDescription"]["CodecSettings"]["FrameCaptureSettings"]
         .update(Quality="80"), "expected an integer"),
    ],
)
def test_given_an_invalid_settings_change_when_validated_then_the_model_check_names_the_problem(mutate, expected):
    settings = json.loads(json.dumps(_plan(CASES["landscape_1080p_stereo"]).settings))
    mutate(settings)

    problems = settings_problems(settings)

    assert any(expected in problem for problem in problems), problems


def test_given_a_landscape_source_when_planned_then_the_proxy_and_frames_are_960x540():
    spec = _plan(CASES["landscape_1080p_stereo"])
    proxy, frames = _video(spec, "proxy"), _video(spec, "frames")

    assert (proxy["Width"], proxy["Height"]) == (960, 540)
    assert (frames["Width"], frames["Height"]) == (960, 540)
    assert (spec.proxy_width_px, spec.proxy_height_px) == (960, 540)


def test_given_a_phone_video_rotated_90_when_planned_then_the_proxy_is_portrait_and_the_input_rotates_automatically():
    spec = _plan(CASES["phone_rotated_90"])
    proxy, frames = _video(spec, "proxy"), _video(spec, "frames")

    assert (proxy["Width"], proxy["Height"]) == (540, 960)
    assert (frames["Width"], frames["Height"]) == (540, 960)
    assert spec.settings["Inputs"][0]["VideoSelector"]["Rotate"] == "AUTO"


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ((1920, 1080), (960, 540)),
        ((1080, 1920), (540, 960)),
        ((1000, 1000), (540, 540)),
        ((1366, 768), (960, 540)),  # 960.47 -> 960
        ((854, 480), (960, 540)),  # 960.75 -> 960
        ((1440, 1080), (720, 540)),
        ((720, 404), (962, 540)),  # 962.4 -> 962
        ((853, 480), (960, 540)),  # 959.6 -> 960
        ((481, 1000), (540, 1122)),  # 1122.7 -> 1122
        ((2560, 1080), (1280, 540)),
        ((320, 240), (720, 540)),  # small sources are scaled up: the proxy size is fixed
    ],
)
def test_given_a_display_size_when_the_proxy_size_is_computed_then_the_short_side_is_540_and_the_long_side_even(
    display, expected
):
    width, height = proxy_size(*display)

    assert (width, height) == expected
    assert min(width, height) == constants.PROXY_SHORT_SIDE_PX
    assert width % 2 == 0 and height % 2 == 0
    # The aspect is kept to within the one pixel that rounding to even may cost.
    assert abs(width / height - display[0] / display[1]) * min(width, height) <= 1.0


def test_given_a_panorama_wider_than_h264_allows_when_sized_then_the_long_side_stops_at_4096():
    assert proxy_size(8000, 1000) == (4096, 512)
    assert proxy_size(1000, 8000) == (512, 4096)


def test_given_odd_display_dimensions_when_planned_then_the_settings_carry_even_sizes():
    spec = _plan(_media(1281, 721))

    proxy = _video(spec, "proxy")

    assert (proxy["Width"], proxy["Height"]) == (960, 540)


def test_given_a_source_without_audio_when_planned_then_there_is_no_audio_output_selector_or_track():
    spec = _plan(CASES["sd_640x480_no_audio"])

    assert [group["CustomName"] for group in spec.settings["OutputGroups"]] == ["proxy", "frames"]
    assert "AudioSelectors" not in spec.settings["Inputs"][0]
    assert "AudioDescriptions" not in _output(spec, "proxy")
    assert spec.destinations.audio_key is None


def test_given_a_source_with_audio_when_planned_then_the_transcription_audio_is_mono_16khz_wav_normalized():
    spec = _plan(CASES["landscape_1080p_stereo"])
    output = _output(spec, "audio")
    description = output["AudioDescriptions"][0]

    assert output["ContainerSettings"] == {"Container": "RAW"}
    assert description["CodecSettings"]["WavSettings"] == {
        "BitDepth": 16, "Channels": 1, "SampleRate": constants.AUDIO_SAMPLE_RATE_HZ, "Format": "RIFF"}
    assert description["RemixSettings"]["ChannelsIn"] == 2
    assert description["RemixSettings"]["ChannelsOut"] == 1
    assert description["AudioNormalizationSettings"]["Algorithm"].startswith("ITU_BS_1770")
    assert description["AudioNormalizationSettings"]["AlgorithmControl"] == "CORRECT_AUDIO"


def test_given_any_source_when_planned_then_destinations_follow_mediaconvert_naming_under_the_job_prefix():
    spec = _plan(CASES["landscape_1080p_stereo"])
    prefix = f"derivatives/{JOB_ID}/"
    destinations = [g["OutputGroupSettings"]["FileGroupSettings"]["Destination"] for g in spec.settings["OutputGroups"]]

    assert destinations == [f"s3://{OUTPUT_BUCKET}/{prefix}proxy/proxy", f"s3://{OUTPUT_BUCKET}/{prefix}audio/audio",
                            f"s3://{OUTPUT_BUCKET}/{prefix}frames/frame"]
    assert spec.destinations.model_dump() == {
        "bucket": OUTPUT_BUCKET,
        "proxy_key": f"{prefix}proxy/proxy.mp4",
        "audio_key": f"{prefix}audio/audio.wav",
        "audio_candidates": [],  # one audio track: nothing to choose from
        "frames_prefix": f"{prefix}frames/",
    }
    assert spec.settings["Inputs"][0]["FileInput"] == "s3://videoflow-ingest/uploads/2026/clip.mp4"


def test_given_the_duration_limit_when_planned_then_frame_captures_cover_the_longest_allowed_video():
    spec = plan_job(_request(CASES["landscape_1080p_stereo"]), output_bucket=OUTPUT_BUCKET, max_duration_s=3601)
    capture = _video(spec, "frames")["CodecSettings"]["FrameCaptureSettings"]

    assert capture["FramerateDenominator"] / capture["FramerateNumerator"] == constants.FRAME_INTERVAL_S
    assert capture["MaxCaptures"] >= 3601 / constants.FRAME_INTERVAL_S + 1
    assert 75 <= capture["Quality"] <= 85


def test_given_the_proxy_when_planned_then_h264_has_closed_two_second_gops_and_square_pixels():
    h264 = _video(_plan(CASES["landscape_1080p_stereo"]), "proxy")["CodecSettings"]["H264Settings"]

    assert (h264["GopSize"], h264["GopSizeUnits"], h264["GopClosedCadence"]) == (2.0, "SECONDS", 1)
    assert (h264["ParControl"], h264["ParNumerator"], h264["ParDenominator"]) == ("SPECIFIED", 1, 1)
    assert h264["RateControlMode"] == "QVBR" and 1_000_000 <= h264["MaxBitrate"] <= 4_000_000


@pytest.mark.parametrize(
    ("channels_in", "channels_out", "expected"),
    [
        (2, 1, [[-6, -6]]),
        (1, 1, [[0]]),
        (1, 2, [[0], [0]]),
        (6, 1, [[-6, -6, -3, -60, -9, -9]]),  # 5.1 to mono via stereo: the LFE is left out
        (3, 1, [[-10, -10, -10]]),
        (6, 2, [[0, -60, -3, -60, -3, -60], [-60, 0, -3, -60, -60, -3]]),
        (4, 2, [[-6, -60, -6, -60], [-60, -6, -60, -6]]),
    ],
)
def test_given_a_channel_count_when_downmixing_then_the_gains_are_a_sensible_matrix(channels_in, channels_out, expected):
    assert downmix_matrix(channels_in, channels_out) == expected


def test_given_a_mono_source_when_planned_then_the_proxy_audio_is_remixed_to_stereo():
    description = _output(_plan(_media(1280, 720, audio_channels=1)), "proxy")["AudioDescriptions"][0]

    assert description["RemixSettings"]["ChannelsIn"] == 1
    assert description["RemixSettings"]["ChannelsOut"] == 2


def test_given_a_request_when_built_then_a_derivatives_planned_event_is_appended(aws_state):
    events = EventLog("videoflow-events")

    spec = build_mediaconvert_job(_request(CASES["phone_rotated_90"]), get_settings(Settings, LimitSettings), events)

    [event] = events.read(JOB_ID)
    assert event.type == "derivatives.planned"
    assert event.step == "BuildMediaConvertJob"
    assert event.detail["proxy"] == "540x960"
    assert spec.destinations.bucket == OUTPUT_BUCKET


def test_given_a_workflow_state_when_the_handler_runs_then_it_returns_the_spec_as_json(aws_state):
    state = {**_request(CASES["sd_640x480_no_audio"]).model_dump(mode="json"), "upload": {"size_bytes": 1}}

    result = handler(state, CONTEXT)

    assert result["destinations"]["audio_key"] is None
    assert result["settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["Width"] == 720
    assert json.loads(json.dumps(result)) == result


def _group(spec, name: str) -> dict:
    return next(group for group in spec.settings["OutputGroups"] if group["CustomName"] == name)


def _output(spec, name: str) -> dict:
    return _group(spec, name)["Outputs"][0]


def _video(spec, name: str) -> dict:
    return _output(spec, name)["VideoDescription"]
