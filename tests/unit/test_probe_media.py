"""probe_media: a MediaConvert Probe response becomes MediaInfo with the size as displayed.

The logic is checked on hand-written MediaConvert responses (tests/events), and the handler
end to end with the local ffprobe prober on generated media in moto's S3. An MP4's length is
measured from its index (ranged reads of the pinned version), not taken from its header.
"""

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from lambdas.common import media_probe
from lambdas.common.errors import MediaUnreadable, NoVideoStream, SourceMissing, TransientError
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, SourceObject
from lambdas.probe_media.handler import handler
from lambdas.probe_media.logic import ProbeRequest, check_same_container, normalize_probe, probe_media
from tests.media import make_audio_only, make_duration_lie, make_truncated, make_video, put_source
from videoflow.local.ffprobe import FfprobeProber
from videoflow.local.lambda_runtime import LocalLambdaContext

EVENTS = Path(__file__).resolve().parent.parent / "events"
JOB_ID = "job-probe-0001"
CONTEXT = LocalLambdaContext("probe_media")


def _response(name: str) -> dict:
    return json.loads((EVENTS / f"mediaconvert_probe_{name}.json").read_text())


def _request(etag: str = "") -> JobRequest:
    source = SourceObject(bucket="videoflow-ingest", key="uploads/clip.mov", etag=etag, size_bytes=1000)
    return JobRequest(job_id=JOB_ID, source=source)


class _CannedProber:
    """Stands in for MediaConvert: answers one response, or raises one error."""

    def __init__(self, response: dict | None = None, error: Exception | None = None):
        self._response, self._error, self.containers = response, error, []

    def probe(self, source, container=None):
        self.containers.append(container)
        if self._error:
            raise self._error
        return self._response


def _normalize(response: dict, request: JobRequest | None = None):
    return normalize_probe(response, request or _request())


# --- the logic, on MediaConvert's own response shape --------------------------------------

def test_given_an_iphone_portrait_probe_when_normalized_then_width_and_height_are_as_displayed():
    media = _normalize(_response("iphone_portrait"))

    assert (media.coded_width, media.coded_height) == (1920, 1080)
    assert (media.width, media.height, media.rotation_deg) == (1080, 1920, 90)
    assert media.orientation == "portrait"


def test_given_an_iphone_portrait_probe_when_normalized_then_the_other_facts_are_kept():
    media = _normalize(_response("iphone_portrait"))

    assert media.container == "quicktime"
    assert media.video_codec == "HEVC"
    assert media.duration_s == 12.345
    assert media.frame_rate == 29.97
    assert media.size_bytes == 13134528
    assert (media.has_audio, media.audio_codec, media.audio_channels, media.audio_sample_rate_hz) == (
        True, "AAC", 2, 48000
    )


def test_given_an_anamorphic_pal_probe_when_normalized_then_the_pixel_aspect_widens_the_picture():
    media = _normalize(_response("anamorphic_pal"))

    assert (media.coded_width, media.coded_height) == (720, 576)
    assert (media.width, media.height) == (1024, 576)


def test_given_rotation_only_in_the_bitstream_when_normalized_then_it_is_applied():
    response = _response("iphone_portrait")
    video = response["ProbeResults"][0]["Container"]["Tracks"][0]["VideoProperties"]
    del video["Rotation"]
    video["CodecMetadata"]["Rotation"] = 270

    media = _normalize(response)

    assert (media.width, media.height, media.rotation_deg) == (1080, 1920, 270)


def test_given_an_audio_only_probe_when_normalized_then_there_is_no_video_stream():
    with pytest.raises(NoVideoStream, match=r"^The file has audio but no video stream\.$"):
        _normalize(_response("audio_only"))


@pytest.mark.parametrize("response", [
    {"ProbeResults": []},
    {"ProbeResults": [{"Container": {"Tracks": []}, "Metadata": {"FileSize": 10}}]},
], ids=["no-result", "no-tracks"])
def test_given_a_probe_that_found_nothing_when_normalized_then_the_media_is_unreadable(response):
    with pytest.raises(MediaUnreadable, match="could not be read as media"):
        _normalize(response)


def test_given_a_probe_with_zero_duration_when_normalized_then_the_media_is_unreadable():
    response = _response("iphone_portrait")
    container = response["ProbeResults"][0]["Container"]
    container["Duration"] = 0
    for track in container["Tracks"]:
        track.pop("Duration")

    with pytest.raises(MediaUnreadable, match="no duration"):
        _normalize(response)


def test_given_a_probe_of_a_newer_version_when_normalized_then_the_source_is_reported_replaced():
    # MediaConvert probes a URL, not a version: a different ETag means the key was overwritten.
    with pytest.raises(SourceMissing, match="replaced by a newer upload"):
        _normalize(_response("iphone_portrait"), _request(etag="0123456789abcdef0123456789abcdef"))


@pytest.mark.parametrize(("code", "expected"), [
    ("BadRequestException", MediaUnreadable),
    ("TooManyRequestsException", TransientError),
])
def test_given_mediaconvert_refuses_the_probe_when_probing_then_the_error_is_named(code, expected):
    error = ClientError({"Error": {"Code": code, "Message": "Probe failed"}}, "Probe")

    with pytest.raises(expected):
        probe_media(ProbeRequest(**dict(_request())), _CannedProber(error=error), None, EventLog("videoflow-events"))


def test_given_a_probe_when_probing_then_one_probed_event_records_the_key_facts(aws_state):
    # An MXF probe: only MP4 and QuickTime have their index read (with S3), so this one needs none.
    probe_media(ProbeRequest(**dict(_request())), _CannedProber(_response("anamorphic_pal")), None,
                EventLog("videoflow-events"))

    events = EventLog("videoflow-events").read(JOB_ID)
    assert [(e.type, e.step) for e in events] == [("media.probed", "ProbeMedia")]
    assert {k: events[0].detail[k] for k in ("width", "height", "duration_s", "has_audio", "stated_duration_s")} == {
        "width": 1024, "height": 576, "duration_s": 30.0, "has_audio": True, "stated_duration_s": None,
    }


def test_given_the_container_validate_upload_recognised_when_probing_then_the_prober_is_told_it():
    prober = _CannedProber(_response("anamorphic_pal"))
    request = ProbeRequest.model_validate({**_request().model_dump(), "upload": {
        "size_bytes": 1000, "detected_format": "mxf", "content_sha256_prefix": "0" * 64}})

    probe_media(request, prober, None, _NoEvents())

    assert prober.containers == ["mxf"]


@pytest.mark.parametrize(("sniffed", "probed"), [("mp4", "quicktime"), ("three_gp", "mp4"), ("webm", "matroska"),
                                                 ("mxf", "mxf"), (None, "mp4"), ("flv", "unknown")])
def test_given_bytes_and_probe_that_agree_on_the_container_family_when_checked_then_it_passes(sniffed, probed):
    check_same_container(sniffed, probed)


def test_given_bytes_that_begin_like_one_container_but_decode_as_another_when_checked_then_it_is_unreadable():
    with pytest.raises(MediaUnreadable, match="begins like mxf but decodes as mpegts"):
        check_same_container("mxf", "mpegts")


class _NoEvents:
    def append(self, *args, **kwargs):
        pass


# --- the handler, with the local ffprobe prober on generated media ------------------------

@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe-media")
    return {
        "rotated": make_video(folder / "rotated.mp4", seconds=2, rotate=90),
        "anamorphic": make_video(folder / "anamorphic.mp4", seconds=2, width=480, height=360, sar="4:3"),
        "silent": make_video(folder / "silent.mp4", seconds=2, audio=False),
        "audio_only": make_audio_only(folder / "audio.m4a"),
        "truncated": make_truncated(folder / "truncated.mp4"),
        "truncated_faststart": make_truncated(folder / "truncated-faststart.mp4", fraction=0.5, faststart=True),
        "lying": make_duration_lie(folder / "lying.mp4", seconds=8, claimed_s=2),
        "honest": make_video(folder / "honest.mp4", seconds=2, width=160, height=90),
    }


@pytest.fixture
def local_prober():
    media_probe.register(FfprobeProber())
    yield
    media_probe.register(None)


def _handle(source: SourceObject) -> dict:
    return handler({"job_id": JOB_ID, "source": source.model_dump(mode="json")}, CONTEXT)


def test_given_a_640x360_video_rotated_90_when_probed_then_it_is_360x640_as_displayed(
    aws_state, local_prober, media
):
    result = _handle(put_source(aws_state, media["rotated"], "uploads/phone.mp4"))

    assert (result["width"], result["height"], result["rotation_deg"]) == (360, 640, 90)
    assert (result["coded_width"], result["coded_height"]) == (640, 360)


def test_given_an_anamorphic_video_when_probed_then_the_displayed_width_applies_the_pixel_aspect(
    aws_state, local_prober, media
):
    result = _handle(put_source(aws_state, media["anamorphic"], "uploads/anamorphic.mp4"))

    assert (result["coded_width"], result["width"], result["height"]) == (480, 640, 360)


def test_given_a_video_without_sound_when_probed_then_it_has_no_audio(aws_state, local_prober, media):
    result = _handle(put_source(aws_state, media["silent"], "uploads/silent.mp4"))

    assert (result["has_audio"], result["audio_codec"], result["audio_channels"]) == (False, None, 0)


def test_given_an_audio_only_file_when_probed_then_it_is_rejected_for_having_no_video(
    aws_state, local_prober, media
):
    source = put_source(aws_state, media["audio_only"], "uploads/voice memo.m4a")

    with pytest.raises(NoVideoStream, match="audio but no video"):
        _handle(source)


@pytest.mark.parametrize("name", ["truncated", "truncated_faststart"])
def test_given_a_truncated_mp4_when_probed_then_the_media_is_unreadable(aws_state, local_prober, media, name):
    source = put_source(aws_state, media[name], "uploads/interrupted.mp4")

    with pytest.raises(MediaUnreadable, match="truncated"):
        _handle(source)


def test_given_a_video_when_probed_then_the_original_is_unchanged(aws_state, local_prober, media):
    source = put_source(aws_state, media["rotated"], "uploads/keep me.mp4")

    _handle(source)

    versions = aws_state.list_object_versions(Bucket=source.bucket, Prefix=source.key)["Versions"]
    assert [(v["VersionId"], v["ETag"].strip('"')) for v in versions] == [(source.version_id, source.etag)]
    assert aws_state.get_object(**source.get_args())["Body"].read() == media["rotated"].read_bytes()


# --- the length measured from the index, not the header ---------------------------------------------------


def test_given_an_mp4_whose_header_claims_2_s_but_holds_8_when_probed_then_it_is_8_s_long_and_the_claim_kept(
    aws_state, local_prober, media
):
    result = _handle(put_source(aws_state, media["lying"], "uploads/short, honest.mp4"))

    assert result["duration_s"] == pytest.approx(8.0, abs=0.05)
    assert result["stated_duration_s"] == pytest.approx(2.0)


def test_given_an_honest_mp4_when_probed_then_its_stated_length_is_its_length(aws_state, local_prober, media):
    result = _handle(put_source(aws_state, media["honest"], "uploads/honest.mp4"))

    assert (result["duration_s"], result["stated_duration_s"]) == (2.0, None)


def test_given_a_faststart_mp4_whose_last_box_runs_to_a_missing_end_when_probed_then_the_gap_is_named(
    aws_state, local_prober, media
):
    # The mdat declared as "to the end of the file" (size 0), then cut: only the sample tables show it.
    data = bytearray(media["truncated_faststart"].read_bytes())
    mdat = data.find(b"mdat") - 4
    data[mdat : mdat + 4] = b"\x00\x00\x00\x00"

    with pytest.raises(MediaUnreadable, match=r"the index points at media up to byte [\d,]+ but the file ends"):
        _handle(put_source(aws_state, bytes(data), "uploads/cut.mp4"))


def test_given_a_fragmented_mp4_when_probed_then_it_is_not_measured_and_keeps_the_probe_length(
    aws_state, local_prober, media, tmp_path
):
    import subprocess

    fragmented = tmp_path / "fragmented.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media["honest"]), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov", str(fragmented)], check=True)

    result = _handle(put_source(aws_state, fragmented, "uploads/fragmented.mp4"))

    assert result["duration_s"] == pytest.approx(2.0, abs=0.05) and result["stated_duration_s"] is None
