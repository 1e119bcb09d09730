"""The clip renderer (containers/render) for real: ffmpeg renders generated media from moto's S3.

Each result is checked with ffprobe (size, codec, duration, streams), ffmpeg's ebur128 meter
(loudness) and decoded frames (cut accuracy, burned captions). Step Functions is a recording
fake: the heartbeat cadence, SendTaskSuccess and SendTaskFailure are read from it. The last
tests run render.py as a real process against a moto server over HTTP and kill it mid-clip.
"""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import webvtt
from botocore.exceptions import ClientError
from moto import mock_aws

from containers.render import render
from stacks.images import stage_image
from tests.media import make_truncated, make_video, put_source

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
INGEST, OUTPUT = "videoflow-ingest", "videoflow-output"
JOB_ID = "job-render-00000001"
CLIP_KEY = f"clips/{JOB_ID}/clip-00.mp4"
VTT_KEY = f"captions/{JOB_ID}/captions.vtt"
SMALL = {"width": 360, "height": 640}  # for tests about the process rather than the picture
# Source time. The clip 2-5 s shows the second cue from clip time 0.5 s to 2.5 s.
CAPTIONS = """WEBVTT

00:00:00.500 --> 00:00:01.500
Too early for the clip

00:00:02.500 --> 00:00:04.500
CAPTIONS BURNED INTO THE PICTURE
"""


# --- helpers -------------------------------------------------------------------------------------


class FakeStepFunctions:
    """Records SendTaskHeartbeat/Success/Failure with their times; `heartbeat_errors` {n: code} fails beat n."""

    def __init__(self, heartbeat_errors: dict[int, str] | None = None):
        self.calls: list[tuple[float, str, dict]] = []
        self.heartbeat_errors = heartbeat_errors or {}
        self._lock = threading.Lock()

    def _record(self, name: str, arguments: dict) -> int:
        with self._lock:
            self.calls.append((time.monotonic(), name, arguments))
            return sum(1 for _, called, _ in self.calls if called == name)

    def send_task_heartbeat(self, **arguments):
        count = self._record("heartbeat", arguments)
        if count in self.heartbeat_errors:
            code = self.heartbeat_errors[count]
            raise ClientError({"Error": {"Code": code, "Message": f"{code} (fake)"}}, "SendTaskHeartbeat")
        return {}

    def send_task_success(self, **arguments):
        self._record("success", arguments)
        return {}

    def send_task_failure(self, **arguments):
        self._record("failure", arguments)
        return {}

    def named(self, name: str) -> list[tuple[float, dict]]:
        return [(at, arguments) for at, called, arguments in self.calls if called == name]


class FailingCopy:
    """An S3 client whose CopyObject fails, as S3 does now and then, after the partial has landed."""

    def __init__(self, s3):
        self._s3 = s3

    def __getattr__(self, name):
        return getattr(self._s3, name)

    def copy(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}},
                          "CopyObject")


def _buckets(s3) -> None:
    for bucket in (INGEST, OUTPUT):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=INGEST, VersioningConfiguration={"Status": "Enabled"})


def _spec(s3, source_path: Path, **changes) -> dict:
    source = put_source(s3, source_path, f"uploads/{source_path.name}", bucket=INGEST)
    spec = {
        "job_id": JOB_ID, "clip_index": 0,
        "source": {"bucket": INGEST, "key": source.key, "version_id": source.version_id},
        "start_s": 2.0, "end_s": 5.0, "title": "A clip",
        "output": {"bucket": OUTPUT, "key": CLIP_KEY},
    }
    if "captions" in changes:
        s3.put_object(Bucket=OUTPUT, Key=VTT_KEY, Body=CAPTIONS.encode())
    return {**spec, **changes}


def _main(s3, spec: dict, sfn=None, **env) -> tuple[int, dict | None]:
    environ = {"RENDER_SPEC": json.dumps(spec), **({"TASK_TOKEN": "token-1"} if sfn else {}),
               **{name: str(value) for name, value in env.items()}}
    stdout = io.StringIO()
    code = render.main(environ, s3=s3, sfn=sfn, stdout=stdout)
    return code, json.loads(stdout.getvalue()) if stdout.getvalue().strip() else None


def _keys(s3, prefix: str = f"clips/{JOB_ID}/") -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=OUTPUT, Prefix=prefix).get("Contents", []))


def _download(s3, key: str, path: Path) -> Path:
    path.write_bytes(s3.get_object(Bucket=OUTPUT, Key=key)["Body"].read())
    return path


def _probe(path: Path) -> dict:
    completed = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                               capture_output=True, text=True, check=True, timeout=30)
    return json.loads(completed.stdout)


def _stream(probe: dict, kind: str) -> dict | None:
    return next((stream for stream in probe["streams"] if stream["codec_type"] == kind), None)


def _loudness_lufs(path: Path, start_s: float | None = None, duration_s: float | None = None) -> float:
    """Integrated loudness measured by ffmpeg's EBU R128 meter (ITU-R BS.1770)."""
    window = ([] if start_s is None else ["-ss", str(start_s)]) + ([] if duration_s is None else ["-t", str(duration_s)])
    completed = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-nostdin", *window, "-i", str(path),
                                "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"],
                               capture_output=True, text=True, check=True, timeout=60)
    summary = completed.stderr[completed.stderr.rindex("Integrated loudness:"):]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


def _gray(path: Path, video_filter: str, width: int = 108, height: int = 192) -> bytes:
    """One frame picked by `video_filter` (seek, select), scaled to width x height, 8-bit gray."""
    completed = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf",
                                f"{video_filter},scale={width}:{height},format=gray", "-frames:v", "1",
                                "-f", "rawvideo", "-"], capture_output=True, check=True, timeout=30)
    assert len(completed.stdout) == width * height, completed.stderr
    return completed.stdout


def _difference(first: bytes, second: bytes) -> float:
    return sum(abs(a - b) for a, b in zip(first, second, strict=True)) / len(first)


def _top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = int.from_bytes(data[offset:offset + 4], "big"), data[offset + 4:offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        offset += size
    return boxes


def _rows(frame: bytes, first: int, last: int, width: int = 108) -> bytes:
    return frame[first * width:last * width]


@pytest.fixture(scope="module")
def landscape(media):
    return media("landscape.mp4", make_video, seconds=6, width=1280, height=720)


@pytest.fixture
def s3(aws_state):
    return aws_state  # conftest's moto account: the ingest (versioned) and output buckets exist


@pytest.fixture(scope="module")
def rendered(landscape, tmp_path_factory):
    """The 2-5 s clip of the landscape source, rendered once per variant: "plain", "burn", "attach".

    The burn variant works in a folder whose name holds ' , : [ ] so the subtitles filter's
    path escaping is exercised by real ffmpeg.
    """
    made: dict[str, tuple[Path, dict]] = {}
    folder = tmp_path_factory.mktemp("rendered")

    def get(variant: str) -> tuple[Path, dict]:
        if variant not in made:
            with mock_aws():
                client = boto3.client("s3", region_name=REGION)
                _buckets(client)
                changes, env = {}, {}
                if variant != "plain":
                    changes["captions"] = {"mode": variant, "vtt": {"bucket": OUTPUT, "key": VTT_KEY}}
                if variant == "burn":
                    odd = folder / "work dir's, odd: [x]"
                    odd.mkdir()
                    env["RENDER_WORK_DIR"] = odd
                code, document = _main(client, _spec(client, landscape, **changes), **env)
                assert code == 0
                assert _keys(client) == [CLIP_KEY]
                made[variant] = (_download(client, CLIP_KEY, folder / f"{variant}.mp4"), document)
        return made[variant]

    return get


# --- the picture and the sound -------------------------------------------------------------------


def test_given_a_1280x720_source_cut_2_to_5_s_when_rendered_then_the_clip_is_1080x1920_h264_high_3_s_with_aac(
    rendered,
):
    path, document = rendered("plain")

    probe = _probe(path)
    video, audio = _stream(probe, "video"), _stream(probe, "audio")
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (video["width"], video["height"]) == (1080, 1920)
    assert abs(float(video["duration"]) - 3.0) <= 0.1
    assert abs(float(probe["format"]["duration"]) - 3.0) <= 0.1
    assert (audio["codec_name"], int(audio["sample_rate"]), audio["channels"]) == ("aac", 48000, 2)
    assert _stream(probe, "subtitle") is None
    assert document == {"bucket": OUTPUT, "key": CLIP_KEY, "duration_s": pytest.approx(3.0, abs=0.1),
                        "width": 1080, "height": 1920, "bytes": path.stat().st_size, "job_id": JOB_ID,
                        "clip_index": 0, "captions": "none", "thumbnail": None,
                        "render_seconds": pytest.approx(document["render_seconds"])}
    assert document["render_seconds"] > 0


def test_given_a_rendered_clip_when_read_then_its_index_is_at_the_front_for_streaming(rendered):
    path, _ = rendered("plain")

    boxes = _top_level_boxes(path)

    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_given_a_tone_at_minus_22_lufs_when_rendered_then_the_clip_is_normalized_to_minus_14_lufs(landscape, rendered):
    path, _ = rendered("plain")

    before = _loudness_lufs(landscape, start_s=2.0, duration_s=3.0)
    after = _loudness_lufs(path)

    assert before < -20
    assert abs(after - -14) < abs(before - -14)
    assert after == pytest.approx(-14, abs=1.5)


def test_given_a_start_between_keyframes_when_rendered_then_the_first_frame_is_the_one_at_the_start(
    s3, landscape, tmp_path,
):
    # 25 fps with a keyframe every second: 2.2 s is frame 55, five frames after the keyframe at 50.
    spec = _spec(s3, landscape, start_s=2.2, end_s=3.2, target=SMALL)

    assert _main(s3, spec)[0] == 0

    clip = _download(s3, CLIP_KEY, tmp_path / "clip.mp4")
    first = _gray(clip, "select=eq(n\\,0)")
    crop = "crop=404:720:438:0,scale=360:640"  # what the plan does to a 1280x720 source, centred
    distances = {n: _difference(first, _gray(landscape, f"select=eq(n\\,{n}),{crop}")) for n in (50, 54, 55, 56)}
    assert min(distances, key=distances.get) == 55, distances


def test_given_burned_captions_when_rendered_then_the_lower_picture_changes_and_the_upper_does_not(rendered):
    plain, _ = rendered("plain")
    burned, document = rendered("burn")

    without = _gray(plain, "select=eq(n\\,25)")  # clip time 1.0 s: the cue is on screen
    with_captions = _gray(burned, "select=eq(n\\,25)")

    assert document["captions"] == "burn"
    lower = _difference(_rows(without, 120, 160), _rows(with_captions, 120, 160))
    upper = _difference(_rows(without, 0, 80), _rows(with_captions, 0, 80))
    assert lower > 5 and lower > 5 * upper, (lower, upper)


def test_given_burned_captions_when_rendered_then_the_clip_has_no_subtitle_track(rendered):
    burned, _ = rendered("burn")

    assert _stream(_probe(burned), "subtitle") is None


def test_given_attached_captions_when_rendered_then_a_mov_text_track_holds_the_cues_in_clip_time(rendered):
    path, document = rendered("attach")

    subtitle = _stream(_probe(path), "subtitle")
    extracted = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "webvtt", "-"],
                               capture_output=True, text=True, check=True, timeout=30).stdout
    cues = webvtt.from_string(extracted).captions

    assert document["captions"] == "attach"
    assert subtitle["codec_name"] == "mov_text"
    assert [(cue.start, cue.end, cue.text) for cue in cues] == [
        ("00:00:00.500", "00:00:02.500", "CAPTIONS BURNED INTO THE PICTURE")]


def test_given_captions_with_no_cue_inside_the_clip_when_rendered_then_the_clip_renders_without(
    s3, landscape, tmp_path,
):
    spec = _spec(s3, landscape, start_s=5.0, end_s=5.8, target=SMALL,
                 captions={"mode": "attach", "vtt": {"bucket": OUTPUT, "key": VTT_KEY}})

    code, document = _main(s3, spec)

    assert code == 0 and document["captions"] == "none"
    assert _stream(_probe(_download(s3, CLIP_KEY, tmp_path / "clip.mp4")), "subtitle") is None


def test_given_a_phone_video_stored_sideways_when_rendered_then_the_clip_is_upright_1080x1920(
    s3, media, tmp_path,
):
    phone = media("phone.mp4", make_video, seconds=3, width=1280, height=720, rotate=90)
    spec = _spec(s3, phone, start_s=1.0, end_s=2.0)

    assert _main(s3, spec)[0] == 0

    video = _stream(_probe(_download(s3, CLIP_KEY, tmp_path / "clip.mp4")), "video")
    assert (video["width"], video["height"]) == (1080, 1920)
    assert not any("rotation" in side for side in video.get("side_data_list", []))
    assert "rotate" not in video.get("tags", {})


def test_given_a_silent_source_and_a_spec_in_s3_when_rendered_then_the_clip_has_no_audio_stream(
    s3, media, tmp_path,
):
    silent = media("silent.mp4", make_video, seconds=3, width=640, height=360, audio=False)
    s3.put_object(Bucket=OUTPUT, Key=f"renders/{JOB_ID}/clip-00.json",
                  Body=json.dumps(_spec(s3, silent, start_s=0.5, end_s=2.5, target=SMALL)).encode())
    stdout = io.StringIO()

    code = render.main({"RENDER_SPEC_S3": f"s3://{OUTPUT}/renders/{JOB_ID}/clip-00.json"}, s3=s3, stdout=stdout)

    assert code == 0, stdout.getvalue()
    probe = _probe(_download(s3, CLIP_KEY, tmp_path / "clip.mp4"))
    assert _stream(probe, "audio") is None
    assert abs(float(_stream(probe, "video")["duration"]) - 2.0) <= 0.1


# --- heartbeats and the task token ---------------------------------------------------------------


def test_given_a_task_token_when_rendering_then_heartbeats_go_out_at_least_every_heartbeat_s_until_success(
    s3, landscape,
):
    sfn = FakeStepFunctions()
    spec = _spec(s3, landscape)
    started = time.monotonic()

    code, document = _main(s3, spec, sfn=sfn, HEARTBEAT_S=0.2)

    beats = [at for at, _ in sfn.named("heartbeat")]
    (succeeded_at, success), = sfn.named("success")
    assert code == 0
    assert len(beats) >= 4
    assert all(arguments == {"taskToken": "token-1"} for _, arguments in sfn.named("heartbeat"))
    gaps = [later - earlier for earlier, later in zip([started, *beats], [*beats, succeeded_at], strict=True)]
    assert max(gaps) <= 0.2 + 0.4, gaps  # room for a busy machine (tests run two at a time); the render takes seconds
    assert success["taskToken"] == "token-1"
    assert json.loads(success["output"]) == document
    assert document["key"] == CLIP_KEY and document["width"] == 1080
    assert sfn.named("failure") == []
    assert all(at <= succeeded_at for at in beats)  # no beat after success


def test_given_a_throttled_heartbeat_when_rendering_then_the_next_beats_follow_and_the_render_succeeds(
    s3, landscape,
):
    sfn = FakeStepFunctions(heartbeat_errors={2: "ThrottlingException"})

    code, _ = _main(s3, _spec(s3, landscape, target=SMALL), sfn=sfn, HEARTBEAT_S=0.1)

    assert code == 0
    assert len(sfn.named("heartbeat")) >= 3 and len(sfn.named("success")) == 1


def test_given_the_workflow_stopped_waiting_when_a_heartbeat_hears_task_timed_out_then_nothing_is_published(
    s3, landscape, capsys,
):
    sfn = FakeStepFunctions(heartbeat_errors={3: "TaskTimedOut"})
    spec = _spec(s3, landscape, start_s=0.0, end_s=6.0)

    code, document = _main(s3, spec, sfn=sfn, HEARTBEAT_S=0.2)

    assert code == 1 and document is None
    assert len(sfn.named("heartbeat")) == 3  # none after the token was gone
    assert sfn.named("success") == [] and sfn.named("failure") == []
    assert _keys(s3) == []
    assert "no longer waits for this render (TaskTimedOut)" in capsys.readouterr().err


# --- failures ------------------------------------------------------------------------------------


def test_given_a_corrupt_source_when_rendered_then_send_task_failure_carries_one_readable_line(s3, media):
    broken = media("broken.mp4", make_truncated)
    sfn = FakeStepFunctions()

    code, document = _main(s3, _spec(s3, broken, start_s=0.5, end_s=1.5), sfn=sfn, HEARTBEAT_S=0.2)

    (_, failure), = sfn.named("failure")
    assert code == 1 and document is None and sfn.named("success") == []
    assert failure["taskToken"] == "token-1" and failure["error"] == "RenderFailed"
    assert failure["cause"].startswith(f"the source s3://{INGEST}/uploads/broken.mp4?versionId=")
    assert failure["cause"].endswith(
        "is not readable media: moov atom not found; Invalid data found when processing input")
    assert "\n" not in failure["cause"] and "/tmp" not in failure["cause"]
    assert _keys(s3) == []


def test_given_a_source_cut_short_after_its_index_when_rendered_then_the_check_refuses_the_short_clip(s3, media):
    # The index survives and promises 4 s; the media stops after about 1.6 s. ffmpeg itself exits 0.
    cut_short = media("cut-short.mp4", make_truncated, faststart=True, fraction=0.4)
    sfn = FakeStepFunctions()

    assert _main(s3, _spec(s3, cut_short, start_s=1.0, end_s=3.0, target=SMALL), sfn=sfn)[0] == 1

    (_, failure), = sfn.named("failure")
    assert re.fullmatch(r"the rendered clip failed its check: it lasts 0\.\d{3} s, not 2\.000 s \(± 0\.1 s\)",
                        failure["cause"]), failure["cause"]
    assert _keys(s3) == []


def test_given_a_clip_past_the_end_of_the_source_when_rendered_then_the_cause_says_so(s3, landscape):
    sfn = FakeStepFunctions()

    assert _main(s3, _spec(s3, landscape, start_s=4.0, end_s=9.0), sfn=sfn)[0] == 1

    (_, failure), = sfn.named("failure")
    assert failure["cause"] == "the clip 4.000-9.000 s ends after the source, which lasts 6.000 s"


def test_given_a_source_version_that_does_not_exist_when_rendered_then_the_cause_names_it(s3, landscape):
    sfn = FakeStepFunctions()
    spec = _spec(s3, landscape)
    spec["source"] = {**spec["source"], "version_id": "null-version-that-never-was"}

    assert _main(s3, spec, sfn=sfn)[0] == 1

    (_, failure), = sfn.named("failure")
    assert failure["cause"].startswith(f"reading the source s3://{INGEST}/uploads/landscape.mp4?versionId=null-")
    assert "it does not exist" in failure["cause"]


def test_given_an_invalid_spec_when_the_render_starts_then_the_cause_names_the_field(s3, landscape):
    sfn = FakeStepFunctions()
    spec = _spec(s3, landscape)
    del spec["output"]

    assert _main(s3, spec, sfn=sfn)[0] == 1

    (_, failure), = sfn.named("failure")
    assert failure["error"] == "RenderFailed"
    assert failure["cause"] == "the render spec in RENDER_SPEC is invalid: output: Field required"


def test_given_a_heartbeat_that_is_not_a_number_when_the_render_starts_then_the_cause_names_the_variable(s3):
    sfn = FakeStepFunctions()

    code, document = _main(s3, {}, sfn=sfn, HEARTBEAT_S="soon")

    assert (code, document) == (1, None)
    (_, failure), = sfn.named("failure")
    assert failure["error"] == "RenderFailed"
    assert failure["cause"] == "HEARTBEAT_S must be a number of seconds within (0, 3600], not 'soon'"
    assert sfn.named("heartbeat") == []


def test_given_the_copy_to_the_final_key_fails_when_rendered_then_the_partial_is_removed_and_nothing_is_published(
    s3, landscape,
):
    sfn = FakeStepFunctions()

    code, _ = _main(FailingCopy(s3), _spec(s3, landscape, target=SMALL), sfn=sfn)

    (_, failure), = sfn.named("failure")
    assert code == 1
    assert failure["cause"] == (f"publishing s3://{OUTPUT}/{CLIP_KEY}: InternalError: "
                                "We encountered an internal error.")
    assert _keys(s3) == []


def test_given_a_partial_left_by_a_killed_attempt_when_a_retry_publishes_then_only_the_clip_remains(s3, landscape):
    s3.put_object(Bucket=OUTPUT, Key=f"{CLIP_KEY}.partial-killed0attempt", Body=b"half a clip")

    code, _ = _main(s3, _spec(s3, landscape, target=SMALL), RENDER_ATTEMPT_ID="retry1")

    assert code == 0
    assert _keys(s3) == [CLIP_KEY]
    assert s3.head_object(Bucket=OUTPUT, Key=CLIP_KEY)["Metadata"] == {
        "job-id": JOB_ID, "clip-index": "0", "attempt": "retry1",
        "source-version": s3.head_object(Bucket=INGEST, Key="uploads/landscape.mp4")["VersionId"]}


def test_given_sigterm_mid_render_when_the_task_is_stopped_then_ffmpeg_stops_and_render_interrupted_is_sent(
    s3, landscape,
):
    sfn = FakeStepFunctions()
    spec = _spec(s3, landscape, start_s=0.0, end_s=6.0)
    received = []
    original = signal.signal(signal.SIGTERM, lambda *_: received.append("late"))  # a late signal stays harmless
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        timer.start()
        code, document = _main(s3, spec, sfn=sfn, HEARTBEAT_S=0.2)
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, original)

    (_, failure), = sfn.named("failure")
    assert code == 143 and document is None and received == []
    assert failure["error"] == "RenderInterrupted"
    assert failure["cause"] == "the render was stopped (SIGTERM) before it finished"
    assert _keys(s3) == []
    assert _children_named("ffmpeg") == []


def _children_named(name: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and command == name:
            found.append(int(stat.parent.name))
    return found


# --- as a process, over HTTP ---------------------------------------------------------------------


@pytest.fixture
def moto_server(moto_server_url):
    client = boto3.client("s3", endpoint_url=moto_server_url, region_name=REGION)
    _buckets(client)
    return moto_server_url, client


def _start_render_process(endpoint: str, spec: dict) -> subprocess.Popen:
    environment = {**os.environ, "RENDER_SPEC": json.dumps(spec), "AWS_ENDPOINT_URL": endpoint,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    environment.pop("TASK_TOKEN", None)
    # Its own process group: killing the group kills ffmpeg too, as stopping a container does.
    return subprocess.Popen([sys.executable, "-m", "containers.render.render"], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_given_a_render_killed_mid_clip_when_it_is_retried_then_exactly_one_clip_is_published(
    moto_server, landscape,
):
    endpoint, client = moto_server
    spec = _spec(client, landscape, start_s=0.0, end_s=6.0)

    killed = _start_render_process(endpoint, spec)
    try:
        seen = []
        for line in killed.stderr:
            seen.append(line)
            if re.match(r"clip 0: [1-9]\d?% ", line):  # ffmpeg is encoding
                os.killpg(killed.pid, signal.SIGKILL)
                break
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()

    assert killed.returncode == -signal.SIGKILL, "".join(seen)
    assert CLIP_KEY not in _keys(client)  # nothing half-made under the clip's key
    assert all(".partial-" in key for key in _keys(client))

    retry = _start_render_process(endpoint, spec)
    stdout, stderr = retry.communicate(timeout=120)

    assert retry.returncode == 0, stderr
    assert _keys(client) == [CLIP_KEY]
    assert json.loads(stdout)["key"] == CLIP_KEY


def test_given_the_image_layout_when_render_py_runs_as_a_script_then_it_imports_its_modules_beside_it(tmp_path):
    # Exactly what the Dockerfile copies into /app (`COPY a.py b.py ./`) from the folder the stack stages
    # (containers/render and the shared modules), then `python render.py`.
    staged = stage_image("render")
    dockerfile = (staged / "Dockerfile").read_text().splitlines()
    copied = next(line.split()[1:-1] for line in dockerfile if line.startswith("COPY ") and ".py" in line)
    for name in copied:
        shutil.copy(staged / name, tmp_path / name)
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("RENDER_SPEC", "RENDER_SPEC_S3", "TASK_TOKEN", "PYTHONPATH")}

    completed = subprocess.run([sys.executable, "render.py"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60, env=environment)

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr.strip() == ("error: no render spec: set RENDER_SPEC (JSON) or RENDER_SPEC_S3 "
                                        "(s3://bucket/key)")
