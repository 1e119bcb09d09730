"""validate_upload: key safety, size, and the container told from the first bytes, never the name."""

import hashlib

import pytest

from lambdas.common.errors import EmptyUpload, NotAVideo, SourceMissing, UnsafeKey
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, SourceObject
from lambdas.validate_upload.handler import handler
from lambdas.validate_upload.logic import SNIFF_BYTES, sniff_container, validate_upload
from tests.media import make_audio_only, make_empty, make_not_a_video, make_video, put_source
from videoflow.local.lambda_runtime import LocalLambdaContext

JOB_ID = "job-validate-0001"
CONTEXT = LocalLambdaContext("validate_upload")


class _NoS3:
    """An S3 client that must not be used: the check has to decide before reading anything."""

    def __getattr__(self, name):
        raise AssertionError(f"S3 {name} was called")


def _validate(aws_state, source: SourceObject):
    return validate_upload(JobRequest(job_id=JOB_ID, source=source), aws_state, EventLog("videoflow-events"))


CONTAINERS = [
    ("mp4", "mp4"), ("mov", "quicktime"), ("mkv", "matroska"), ("webm", "webm"), ("avi", "avi"),
    ("ts", "mpegts"), ("m2ts", "mpegts"), ("mpeg", "mpegps"), ("flv", "flv"), ("wmv", "asf"),
    ("ogv", "ogg"), ("mxf", "mxf"), ("h264", "h264"),
]


@pytest.mark.parametrize(("container", "expected"), CONTAINERS)
def test_given_a_real_video_in_each_container_when_sniffed_then_its_format_is_detected(media, container, expected):
    path = media(f"clip.{container}", make_video, seconds=1, width=160, height=90, container=container)

    assert sniff_container(path.read_bytes()[:SNIFF_BYTES]) == expected


def test_given_a_video_with_a_neutral_name_when_validated_then_the_bytes_decide_its_format(aws_state, media):
    path = media("clip.mkv", make_video, seconds=1, width=160, height=90, container="mkv")
    source = put_source(aws_state, path, "uploads/clip.bin")

    check = _validate(aws_state, source)

    assert check.detected_format == "matroska"


def test_given_a_text_file_named_mp4_when_validated_then_it_is_rejected_as_not_a_video(aws_state, media):
    source = put_source(aws_state, media("notes.txt", make_not_a_video, kind="text"), "uploads/holiday.mp4")

    with pytest.raises(NotAVideo, match="looks like a text file, not a video"):
        _validate(aws_state, source)


@pytest.mark.parametrize(("make", "options", "described"), [
    (make_not_a_video, {"kind": "jpeg"}, "a JPEG image"),
    (make_not_a_video, {"kind": "png"}, "a PNG image"),
    (make_not_a_video, {"kind": "pdf"}, "a PDF document"),
    (make_not_a_video, {"kind": "zip"}, "a ZIP archive (or an Office document)"),
    (make_not_a_video, {"kind": "html"}, "a web page (HTML)"),
    (make_audio_only, {"container": "mp3"}, "an MP3 audio file"),
    (make_audio_only, {"container": "wav"}, "a WAV audio file"),
])
def test_given_a_recognisable_non_video_file_when_sniffed_then_the_rejection_says_what_it_looks_like(
    media, make, options, described
):
    path = media(f"{make.__name__}-{'-'.join(options.values())}", make, **options)

    with pytest.raises(NotAVideo) as rejected:
        sniff_container(path.read_bytes()[:SNIFF_BYTES])

    assert str(rejected.value) == f"The file looks like {described}, not a video."


def test_given_unrecognisable_bytes_when_validated_then_they_are_rejected_as_not_a_video(aws_state):
    source = put_source(aws_state, bytes(range(256)) * 64, "uploads/random.mov")

    with pytest.raises(NotAVideo, match="not in a video format"):
        _validate(aws_state, source)


def test_given_an_empty_file_when_validated_then_it_is_rejected_as_empty(aws_state, tmp_path):
    source = put_source(aws_state, make_empty(tmp_path / "empty.mp4"), "uploads/empty.mp4")

    with pytest.raises(EmptyUpload, match=r"The file is empty \(0 bytes\)\."):
        _validate(aws_state, source)


@pytest.mark.parametrize("key", [
    "uploads/" + "a" * 600 + ".mp4",
    "uploads/bell\x07.mp4",
    "uploads/line\nbreak.mp4",
    "uploads/../config/secrets.mp4",
    "uploads/a/./b.mp4",
    "uploads\\..\\..\\windows.mp4",
    "/uploads/rooted.mp4",
    "derivatives/job/proxy.mp4",
    "uploads/folder/",
], ids=["too-long", "bell", "newline", "dot-dot", "dot", "backslash-dot-dot", "leading-slash",
        "outside-prefix", "folder"])
def test_given_an_unsafe_key_when_validated_then_it_is_rejected_before_any_read(key):
    source = SourceObject(bucket="videoflow-ingest", key=key, size_bytes=10)

    with pytest.raises(UnsafeKey):
        _validate(_NoS3(), source)


@pytest.mark.parametrize("key", [
    "uploads/My Holiday Video (1).mp4",
    "uploads/vidéo d'été 🎬.mp4",
    "uploads/a+b=c.mp4",
    "uploads/100% real.mp4",
    "uploads/日本語/動画.mov",
    "uploads/user@example.com/clip [final] #2.mp4",
], ids=["spaces-parens", "unicode-emoji", "plus", "percent", "cjk-folder", "at-brackets-hash"])
def test_given_an_odd_but_valid_file_name_when_validated_then_it_passes(aws_state, media, key):
    path = media("valid.mp4", make_video, seconds=1, width=160, height=90)
    source = put_source(aws_state, path, key)

    check = _validate(aws_state, source)

    assert check.detected_format == "mp4"


def test_given_a_valid_upload_when_validated_then_the_original_is_unchanged(aws_state, media):
    path = media("valid.mp4", make_video, seconds=1, width=160, height=90)
    source = put_source(aws_state, path, "uploads/original.mp4")

    _validate(aws_state, source)

    versions = aws_state.list_object_versions(Bucket=source.bucket, Prefix=source.key)["Versions"]
    assert [(v["VersionId"], v["ETag"].strip('"')) for v in versions] == [(source.version_id, source.etag)]
    stored = aws_state.get_object(**source.get_args())["Body"].read()
    assert stored == path.read_bytes()
    assert aws_state.list_objects_v2(Bucket="videoflow-output").get("KeyCount", 0) == 0


def test_given_a_valid_upload_when_validated_then_size_and_content_hash_of_the_first_chunk_are_reported(
    aws_state, media
):
    path = media("valid.mp4", make_video, seconds=1, width=160, height=90)
    source = put_source(aws_state, path, "uploads/hash.mp4")

    check = _validate(aws_state, source)

    data = path.read_bytes()
    assert check.size_bytes == len(data)
    assert check.content_sha256_prefix == hashlib.sha256(data[:SNIFF_BYTES]).hexdigest()


def test_given_a_key_overwritten_after_upload_when_validated_then_the_uploaded_version_is_checked(
    aws_state, media
):
    video = media("valid.mp4", make_video, seconds=1, width=160, height=90)
    source = put_source(aws_state, video, "uploads/overwritten.mp4")
    put_source(aws_state, b"now it is text\n", "uploads/overwritten.mp4")

    check = _validate(aws_state, source)

    assert check.detected_format == "mp4"


def test_given_an_upload_deleted_before_validation_when_validated_then_the_source_is_missing(aws_state, media):
    source = put_source(aws_state, media("valid.mp4", make_video, seconds=1, width=160, height=90),
                        "uploads/deleted.mp4")
    aws_state.delete_object(Bucket=source.bucket, Key=source.key, VersionId=source.version_id)

    with pytest.raises(SourceMissing, match="deleted.mp4"):
        _validate(aws_state, source)


def test_given_a_valid_upload_when_validated_then_one_validated_event_is_recorded(aws_state, media):
    source = put_source(aws_state, media("valid.mp4", make_video, seconds=1, width=160, height=90),
                        "uploads/event.mp4")

    _validate(aws_state, source)

    events = EventLog("videoflow-events").read(JOB_ID)
    assert [(e.type, e.step, e.detail["detected_format"]) for e in events] == [
        ("upload.validated", "ValidateUpload", "mp4")
    ]


def test_given_a_step_functions_event_when_the_handler_runs_then_it_returns_the_upload_check(aws_state, media):
    source = put_source(aws_state, media("valid.mp4", make_video, seconds=1, width=160, height=90),
                        "uploads/handler clip.mp4")
    event = {"job_id": JOB_ID, "source": source.model_dump(mode="json"), "config": {"ignored": True}}

    result = handler(event, CONTEXT)

    assert result["detected_format"] == "mp4"
    assert result["size_bytes"] == source.size_bytes


def test_given_a_pdf_when_the_handler_runs_then_the_named_error_reaches_step_functions(aws_state, media):
    source = put_source(aws_state, media("doc.pdf", make_not_a_video, kind="pdf"), "uploads/report.mp4")

    with pytest.raises(NotAVideo, match="looks like a PDF document, not a video"):
        handler({"job_id": JOB_ID, "source": source.model_dump(mode="json")}, CONTEXT)


# The byte signatures that generated media does not cover, checked on the bytes alone.

def test_given_an_old_quicktime_file_without_ftyp_when_sniffed_then_it_is_quicktime():
    head = (8).to_bytes(4, "big") + b"wide" + (1000).to_bytes(4, "big") + b"mdat" + bytes(1000)

    assert sniff_container(head) == "quicktime"


def test_given_an_iphone_heic_photo_when_sniffed_then_it_is_rejected_as_an_image():
    head = (24).to_bytes(4, "big") + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(200)

    with pytest.raises(NotAVideo, match="HEIC/AVIF image"):
        sniff_container(head)


def test_given_an_mxf_file_with_a_run_in_when_sniffed_then_it_is_mxf():
    head = bytes(512) + bytes.fromhex("060E2B34020501010D010201010204000000") + bytes(200)

    assert sniff_container(head) == "mxf"


def test_given_a_raw_hevc_stream_when_sniffed_then_it_is_hevc():
    head = b"\x00\x00\x00\x01\x40\x01\x0c\x01\xff\xff" + bytes(100)

    assert sniff_container(head) == "hevc"
