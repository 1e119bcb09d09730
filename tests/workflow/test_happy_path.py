"""The synthesized workflow on real media: one MediaConvert job, three derivatives, a manifest."""

import json
import subprocess

import pytest

from tests.media import make_video
from videoflow.search import local_inference_server


def ffprobe(path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                           str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def stream(info: dict, kind: str) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == kind)


def test_a_landscape_video_gives_a_540p_proxy_mono_audio_and_a_frame_every_two_seconds(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "talk.mp4", seconds=5, width=1280, height=720))

    assert job.execution["status"] == "SUCCEEDED"
    manifest = job.manifest
    assert manifest["status"] == "COMPLETED"
    assert manifest["source"] == {"name": "talk.mp4", "duration_s": pytest.approx(5, abs=0.1),
                                  "width": 1280, "height": 720, "has_audio": True}
    proxy = ffprobe(job.folder / manifest["derivatives"]["proxy"])
    video = stream(proxy, "video")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 960, 540)
    assert float(proxy["format"]["duration"]) == pytest.approx(5, abs=0.2)
    audio = stream(ffprobe(job.folder / manifest["derivatives"]["audio"]), "audio")
    assert (audio["channels"], int(audio["sample_rate"])) == (1, 16000)
    assert len(manifest["derivatives"]["frames"]) == 3  # t = 0, 2, 4 s
    assert all((job.folder / frame).is_file() for frame in manifest["derivatives"]["frames"])


def test_a_phone_video_rotated_90_degrees_gives_a_portrait_proxy(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "phone.mp4", seconds=3, width=640, height=360, rotate=90))

    assert (job.manifest["source"]["width"], job.manifest["source"]["height"]) == (360, 640)
    video = stream(ffprobe(job.folder / job.manifest["derivatives"]["proxy"]), "video")
    assert (video["width"], video["height"]) == (540, 960)


def test_a_video_without_sound_completes_with_no_audio_an_empty_transcript_and_no_captions_and_says_why(
        run_job, tmp_path):
    job = run_job(make_video(tmp_path / "silent.mp4", seconds=3, audio=False))

    assert job.manifest["status"] == "COMPLETED"
    assert job.manifest["derivatives"]["audio"] is None
    assert job.manifest["source"]["has_audio"] is False
    recorded = next(e for e in job.events if e["type"] == "derivatives.recorded")
    assert "no audio" in recorded["detail"]["audio_absent_reason"]
    # The transcript branch (tests/workflow/test_analysis.py) on the same run: an empty transcript, no captions.
    assert job.manifest["transcript"] == "transcript.json"
    transcript = json.loads((job.folder / "transcript.json").read_text())
    assert transcript["words"] == []
    assert job.manifest["captions"] == {"vtt": None, "srt": None}
    assert not (job.folder / "captions.vtt").exists() and not (job.folder / "captions.srt").exists()


def test_the_event_log_holds_every_step_in_order_without_gaps(run_job, tmp_path):
    # The model's copy is a server process of its own here (not the worker's shared one): started and stopped by the job.
    job = run_job(make_video(tmp_path / "talk.mp4", seconds=3), inference_server=local_inference_server)

    assert [e["seq"] for e in job.events] == list(range(1, len(job.events) + 1))
    assert job.event_types[:9] == [
        "job.started", "upload.validated", "media.probed", "limits.passed", "job.registered",
        "inference.warmed", "derivatives.planned", "derivatives.recorded", "frames.manifest_built",
    ]
    # The two analysis branches run side by side: each keeps its own order.
    tail = job.event_types.index("search.indexed")
    analysis = job.event_types[9:tail]
    assert sorted(analysis) == sorted(["transcript.normalized", "captions.built", "frames.aggregated", "shots.detected"])
    assert analysis.index("transcript.normalized") < analysis.index("captions.built")
    assert analysis.index("frames.aggregated") < analysis.index("shots.detected")
    # A 3 s video is shorter than the shortest clip: judgment plans none, nothing renders.
    assert job.event_types[tail:] == [
        "search.indexed", "inference.released", "judgment.budget", "summary.written", "plan.drafted",
        "plan.validated", "render.planned", "cost.recorded", "job.completed", "job.notified",
    ]
    # The model scales from zero and back: a copy asked for at ingest, embedding the index, gone after the release.
    detail = {e["type"]: e["detail"] for e in job.events}
    assert detail["inference.warmed"]["copies"] == 1 and detail["search.indexed"]["embedded_on"] == "endpoint"
    assert (detail["inference.released"]["jobs_in_flight"], detail["inference.released"]["copies"]) == (0, 0)
    assert [change for _, change in job.pipeline.inference.history] == [
        "copies 0", "copies 1", "copy in service (server started)", "copies 0", "server stopped", "no copy"]


@pytest.mark.parametrize("name", ["my holiday clip.mp4", "été à Paris – 1.mp4", "c++ 100% (final)+.mp4"])
def test_an_unusual_but_valid_file_name_is_decoded_and_processed(run_job, tmp_path, name):
    job = run_job(make_video(tmp_path / name, seconds=2))

    assert job.manifest["status"] == "COMPLETED"
    assert job.manifest["source"]["name"] == name
