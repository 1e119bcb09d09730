"""The local MediaConvert stand-in: ffmpeg executes build_mediaconvert_job's settings against moto's S3.

Every test uploads a small generated video to the ingest bucket, runs create_job_sync with the
settings the real step builds, and looks at what landed in the output bucket with ffprobe.
"""

import json
import subprocess
from pathlib import Path

import pytest

from lambdas.build_mediaconvert_job.logic import MediaConvertJobRequest, plan_job
from lambdas.common.models import MediaInfo, SourceObject
from tests.media import make_truncated, make_video, put_source
from videoflow.local.mediaconvert import (
    BadRequestException,
    TaskFailed,
    build_ffmpeg_command,
    create_job_sync,
)

OUTPUT_BUCKET = "videoflow-output"
ROLE = "arn:aws:iam::123456789012:role/videoflow-mediaconvert"
SECONDS = 4


def _job(s3, path: Path, *, job_id: str, display=(640, 360), has_audio=True, key=None):
    source = put_source(s3, path, key or f"uploads/{path.name}")
    media = MediaInfo(
        container="mp4", duration_s=SECONDS, size_bytes=source.size_bytes, video_codec="h264",
        coded_width=640, coded_height=360, width=display[0], height=display[1], frame_rate=25,
        has_audio=has_audio, audio_codec="aac" if has_audio else None, audio_channels=1 if has_audio else 0,
    )
    request = MediaConvertJobRequest(job_id=job_id, source=source, media=media)
    spec = plan_job(request, output_bucket=OUTPUT_BUCKET, max_duration_s=3600)
    return spec, {"Role": ROLE, "Settings": spec.settings, "UserMetadata": {"job_id": job_id}}


def _download(s3, key: str, folder: Path) -> Path:
    path = folder / key.replace("/", "_")
    s3.download_file(OUTPUT_BUCKET, key, str(path))
    return path


def _keys(s3, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix=prefix).get("Contents", []))


def _probe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


def _stream(probe: dict, kind: str) -> dict | None:
    return next((s for s in probe["streams"] if s["codec_type"] == kind), None)


def test_given_a_landscape_video_when_the_job_runs_then_the_proxy_is_h264_960x540_with_the_source_duration(
    aws_state, media, tmp_path
):
    spec, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-proxy")

    result = create_job_sync(parameters)

    proxy = _probe(_download(aws_state, spec.destinations.proxy_key, tmp_path))
    video, audio = _stream(proxy, "video"), _stream(proxy, "audio")
    assert video["codec_name"] == "h264"
    assert (video["width"], video["height"]) == (960, 540)
    assert video.get("sample_aspect_ratio", "1:1") == "1:1"
    assert abs(float(proxy["format"]["duration"]) - SECONDS) < 0.25
    assert audio["codec_name"] == "aac" and audio["channels"] == 2
    assert result["Job"]["Status"] == "COMPLETE"
    assert result["Job"]["UserMetadata"] == {"job_id": "job-local-proxy"}
    assert result["Job"]["OutputGroupDetails"][0]["OutputDetails"][0]["VideoDetails"] == {
        "WidthInPx": 960, "HeightInPx": 540}
    assert abs(result["Job"]["OutputGroupDetails"][0]["OutputDetails"][0]["DurationInMs"] - SECONDS * 1000) < 250


def test_given_a_video_with_audio_when_the_job_runs_then_the_transcription_audio_is_mono_16khz_16bit_wav(
    aws_state, media, tmp_path
):
    spec, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-audio")

    create_job_sync(parameters)

    assert spec.destinations.audio_key == "derivatives/job-local-audio/audio/audio.wav"
    wav = _probe(_download(aws_state, spec.destinations.audio_key, tmp_path))
    audio = _stream(wav, "audio")
    assert wav["format"]["format_name"] == "wav"
    assert (audio["codec_name"], audio["channels"], int(audio["sample_rate"])) == ("pcm_s16le", 1, 16_000)
    assert abs(float(wav["format"]["duration"]) - SECONDS) < 0.25


def test_given_a_four_second_video_when_the_job_runs_then_a_jpeg_every_two_seconds_is_named_like_mediaconvert(
    aws_state, media, tmp_path
):
    spec, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-frames")

    result = create_job_sync(parameters)

    keys = _keys(aws_state, spec.destinations.frames_prefix)
    assert keys[:2] == ["derivatives/job-local-frames/frames/frame.0000000.jpg",
                        "derivatives/job-local-frames/frames/frame.0000001.jpg"]
    assert len(keys) in (2, 3)  # t = 0 s, 2 s and perhaps the very end
    for key in keys:
        frame = _stream(_probe(_download(aws_state, key, tmp_path)), "video")
        assert (frame["codec_name"], frame["width"], frame["height"]) == ("mjpeg", 960, 540)
    assert result["Job"]["OutputGroupDetails"][2]["OutputDetails"][0]["VideoDetails"] == {
        "WidthInPx": 960, "HeightInPx": 540}


def test_given_a_phone_video_rotated_90_when_the_job_runs_then_proxy_and_frames_are_portrait_540x960(
    aws_state, media, tmp_path
):
    path = media("phone.mp4", make_video, seconds=SECONDS, rotate=90)
    spec, parameters = _job(aws_state, path, job_id="job-local-rotated", display=(360, 640))

    create_job_sync(parameters)

    proxy = _stream(_probe(_download(aws_state, spec.destinations.proxy_key, tmp_path)), "video")
    assert (proxy["width"], proxy["height"]) == (540, 960)
    # The picture itself is upright: no rotation is left for the player to apply.
    assert not [s for s in proxy.get("side_data_list", []) if s.get("rotation")]
    frame = _stream(_probe(_download(aws_state, spec.destinations.frames_prefix + "frame.0000000.jpg", tmp_path)),
                    "video")
    assert (frame["width"], frame["height"]) == (540, 960)


def test_given_a_video_without_audio_when_the_job_runs_then_there_is_no_audio_output(aws_state, media, tmp_path):
    path = media("silent.mp4", make_video, seconds=SECONDS, audio=False)
    spec, parameters = _job(aws_state, path, job_id="job-local-silent", has_audio=False)

    result = create_job_sync(parameters)

    assert spec.destinations.audio_key is None
    assert _keys(aws_state, "derivatives/job-local-silent/audio/") == []
    proxy = _probe(_download(aws_state, spec.destinations.proxy_key, tmp_path))
    assert _stream(proxy, "audio") is None
    assert len(result["Job"]["OutputGroupDetails"]) == 2


def test_given_a_corrupt_input_when_the_job_runs_then_it_fails_as_the_sync_task_would_with_ffmpegs_reason(
    aws_state, media
):
    path = media("broken.mp4", make_truncated, fraction=0.4)
    _, parameters = _job(aws_state, path, job_id="job-local-broken")

    with pytest.raises(TaskFailed) as failure:
        create_job_sync(parameters)

    error = failure.value
    assert error.step_functions_error == "States.TaskFailed"
    assert error.error_code == 1010
    assert error.error_message.startswith("Input Error")
    assert "ffmpeg exited with" in error.error_message
    assert "moov atom not found" in error.error_message or "Invalid data" in error.error_message
    cause = json.loads(str(error))
    assert cause["Job"]["Status"] == "ERROR" and cause["Job"]["ErrorCode"] == 1010
    assert _keys(aws_state, "derivatives/job-local-broken/") == []


def test_given_an_input_that_is_not_in_s3_when_the_job_runs_then_it_fails_with_file_open_error(aws_state, media):
    _, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-missing")
    parameters["Settings"]["Inputs"][0]["FileInput"] = "s3://videoflow-ingest/uploads/nowhere.mp4"

    with pytest.raises(TaskFailed) as failure:
        create_job_sync(parameters)

    assert failure.value.error_code == 1404
    assert "nowhere.mp4" in failure.value.error_message


def test_given_settings_the_api_would_reject_when_the_job_is_created_then_it_is_a_bad_request(aws_state, media):
    _, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-bad")
    parameters["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["Width"] = 16

    with pytest.raises(BadRequestException) as failure:
        create_job_sync(parameters)

    assert failure.value.step_functions_error == "MediaConvert.BadRequestException"
    assert "Width: 16 below minimum 32" in str(failure.value)


def test_given_settings_the_stand_in_cannot_honour_when_the_job_runs_then_it_fails_with_a_settings_error(
    aws_state, media
):
    _, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-hls")
    group = parameters["Settings"]["OutputGroups"][0]
    group["OutputGroupSettings"] = {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
        "Destination": "s3://videoflow-output/hls/", "SegmentLength": 6, "MinSegmentLength": 0}}

    with pytest.raises(TaskFailed) as failure:
        create_job_sync(parameters)

    assert failure.value.error_code == 1040
    assert "HLS_GROUP_SETTINGS" in failure.value.error_message


def test_given_a_progress_callback_when_the_job_runs_then_it_sees_rising_fractions_ending_at_one(aws_state, media):
    _, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-progress")
    seen: list[float] = []

    create_job_sync(parameters, on_progress=seen.append)

    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert all(0.0 <= fraction <= 1.0 for fraction in seen)


def test_given_a_folder_destination_and_a_name_modifier_when_the_job_runs_then_mediaconvert_naming_applies(
    aws_state, media
):
    _, parameters = _job(aws_state, media("clip.mp4", make_video, seconds=SECONDS), job_id="job-local-naming",
                         key="uploads/My Clip.mp4")
    settings = parameters["Settings"]
    settings["OutputGroups"] = [settings["OutputGroups"][0]]
    settings["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = \
        "s3://videoflow-output/renditions/"
    settings["OutputGroups"][0]["Outputs"][0]["NameModifier"] = "_540p"

    create_job_sync(parameters)

    assert _keys(aws_state, "renditions/") == ["renditions/My Clip_540p.mp4"]


def test_given_the_three_derivatives_when_the_command_is_built_then_one_ffmpeg_decodes_the_input_once():
    source = SourceObject(bucket="videoflow-ingest", key="uploads/clip.mp4", size_bytes=1)
    media = MediaInfo(container="mp4", duration_s=60, size_bytes=1, video_codec="h264", coded_width=1920,
                      coded_height=1080, width=1920, height=1080, frame_rate=30, has_audio=True, audio_channels=2)
    spec = plan_job(MediaConvertJobRequest(job_id="job-local-argv", source=source, media=media),
                    output_bucket=OUTPUT_BUCKET, max_duration_s=3600)

    plan = build_ffmpeg_command(spec.settings, "/work/in/clip.mp4", "/work/out")

    assert plan.argv.count("-i") == 1
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert "[0:v:0]split=2" in graph and "[0:a:0]asplit=2" in graph
    assert "loudnorm=I=-23" in graph and "fps=1/2" in graph and "scale=960:540" in graph
    assert [output.kind for output in plan.outputs] == ["video", "audio", "frames"]
    assert [output.destination for output in plan.outputs] == [
        "s3://videoflow-output/derivatives/job-local-argv/proxy/proxy",
        "s3://videoflow-output/derivatives/job-local-argv/audio/audio",
        "s3://videoflow-output/derivatives/job-local-argv/frames/frame",
    ]
