"""Hostile uploads: content is recognised by what decodes, and nothing local follows a playlist.

A playlist (HLS, ffconcat) names other files and URLs. Carrying the MXF partition key in a
comment once made validate_upload call it MXF (the key was looked for anywhere in the first
64 KiB); ffprobe would then have opened it as HLS and read the files it names. Now the bytes
are refused as a playlist, and the local ffprobe/ffmpeg open an upload only as a local file,
with the recognised container's demuxer (or one from a list of media containers).
"""

import http.server
import random
import subprocess
import threading

import pytest

from lambdas.common.errors import MediaUnreadable, NotAVideo
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest
from lambdas.probe_media.logic import ProbeRequest, probe_media
from lambdas.validate_upload.logic import SNIFF_BYTES, sniff_container, validate_upload
from tests.media import MXF_PARTITION_KEY, make_playlist, make_video, put_source
from videoflow.local.ffprobe import FfprobeProber, input_guard
from videoflow.local.mediaconvert.source import INPUT_GUARD as MEDIACONVERT_INPUT_GUARD

JOB_ID = "job-hostile-0001"


@pytest.fixture(scope="module")
def segment(tmp_path_factory):
    """A real local video a playlist can point at."""
    return make_video(tmp_path_factory.mktemp("segment") / "secret.ts", seconds=1, width=160, height=90,
                      container="ts")


@pytest.fixture
def web_server():
    """An HTTP server on localhost that records every request made to it."""
    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def _ffprobe_streams(path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ffprobe", "-v", "error", *options, "-show_entries", "stream=codec_name", "-of", "csv",
                           str(path)], capture_output=True, text=True, timeout=60)


# --- validate_upload: what the bytes are, not a magic number somewhere in them ------------------------


@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_given_a_playlist_carrying_the_mxf_key_in_a_comment_when_sniffed_then_it_is_refused_as_a_playlist(
    tmp_path, kind
):
    playlist = make_playlist(tmp_path / "clip.mxf", ["file:///etc/hostname"], kind=kind, comment=MXF_PARTITION_KEY)
    assert MXF_PARTITION_KEY in playlist.read_bytes()[:SNIFF_BYTES]

    with pytest.raises(NotAVideo, match=r"playlist.*: a list of other files or addresses, not a video"):
        sniff_container(playlist.read_bytes()[:SNIFF_BYTES])


def test_given_text_then_the_mxf_key_when_sniffed_then_it_is_not_mxf():
    with pytest.raises(NotAVideo):
        sniff_container(b"Meeting notes, see the attachment\n" + MXF_PARTITION_KEY + b"\x00" * 64)


def test_given_the_mxf_key_after_a_binary_run_in_when_sniffed_then_it_is_mxf():
    # SMPTE 377 allows a run-in (under 64 KiB) before the header partition; a real one is binary.
    assert sniff_container(bytes(range(256)) * 4 + MXF_PARTITION_KEY + b"\x00" * 64) == "mxf"


@pytest.mark.parametrize(("magic", "container"), [
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "mp4"),
    (b"G" + b"x" * 187, "mpegts"),  # text with the sync byte every 188 bytes
], ids=["mp4-header-then-noise", "text-with-ts-sync-bytes"])
def test_given_bytes_that_begin_like_a_video_but_do_not_decode_when_probed_then_they_are_rejected(
    aws_state, magic, container
):
    noise = bytes(random.Random(7).randrange(256) for _ in range(20_000)) if container == "mp4" else b""
    body = magic + noise if noise else magic * 60
    source = put_source(aws_state, body, "uploads/x.mp4")
    upload = validate_upload(JobRequest(job_id=JOB_ID, source=source), aws_state, EventLog("videoflow-events"))
    assert upload.detected_format == container  # the first bytes pass the sniff ...

    request = ProbeRequest(job_id=JOB_ID, source=source, upload=upload)
    with pytest.raises(MediaUnreadable):  # ... but what decodes decides
        probe_media(request, FfprobeProber(), aws_state, EventLog("videoflow-events"))


# --- the local ffprobe never follows a playlist -------------------------------------------------------


def test_given_a_playlist_naming_a_local_file_when_probed_then_ffprobe_refuses_it_and_reads_nothing(
    aws_state, tmp_path, segment
):
    playlist = make_playlist(tmp_path / "clip.mxf", [segment.as_uri()], comment=MXF_PARTITION_KEY)
    # Unguarded, this ffprobe opens it as HLS and reads the local file it names (what the guard stops):
    assert "h264" in _ffprobe_streams(playlist).stdout
    source = put_source(aws_state, playlist, "uploads/clip.mxf")

    for container in ("mxf", None):  # the container validate_upload once recognised; and none at all
        with pytest.raises(MediaUnreadable, match="ffprobe could not read the file"):
            FfprobeProber().probe(source, container=container)


def test_given_a_playlist_naming_a_url_when_probed_then_no_request_is_made(aws_state, tmp_path, web_server):
    url, requests = web_server
    playlist = make_playlist(tmp_path / "live.m3u8", [f"{url}/segment0.ts", f"{url}/segment1.ts"])
    source = put_source(aws_state, playlist, "uploads/live.mp4")

    with pytest.raises(MediaUnreadable, match="not in a media container this service reads"):
        FfprobeProber().probe(source)

    assert requests == []


def test_given_an_ffconcat_list_naming_a_local_file_when_probed_then_ffprobe_refuses_it(aws_state, tmp_path, segment):
    playlist = make_playlist(tmp_path / "list.txt", [str(segment)], kind="ffconcat")

    with pytest.raises(MediaUnreadable, match="not in a media container this service reads"):
        FfprobeProber().probe(put_source(aws_state, playlist, "uploads/list.mp4"))


@pytest.mark.parametrize("guard", [input_guard(), MEDIACONVERT_INPUT_GUARD], ids=["prober", "local-mediaconvert"])
def test_given_the_input_guard_when_ffmpeg_opens_a_playlist_then_it_refuses_and_reads_nothing(
    tmp_path, segment, web_server, guard
):
    # The local MediaConvert's ffmpeg puts its guard before `-i` (videoflow/local/mediaconvert/ffmpeg.py).
    url, requests = web_server
    local_only = make_playlist(tmp_path / "local.m3u8", [segment.as_uri()])
    playlist = make_playlist(tmp_path / "clip.m3u8", [segment.as_uri(), f"{url}/segment1.ts"])

    def ffmpeg(*options: str, path) -> subprocess.CompletedProcess:
        command = ["ffmpeg", "-v", "error", "-nostdin", *options, "-i", str(path), "-f", "null", "-"]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert ffmpeg(path=local_only).returncode == 0  # unguarded, it decodes the local file the playlist names

    completed = ffmpeg(*guard, path=playlist)

    assert completed.returncode != 0 and "Format not on whitelist" in completed.stderr
    assert requests == []


def test_given_the_input_guard_when_ffmpeg_opens_a_real_video_then_it_decodes(segment):
    command = ["ffmpeg", "-v", "error", "-nostdin", *input_guard("mpegts"), "-i", str(segment), "-f", "null", "-"]

    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 0
