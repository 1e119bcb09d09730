"""Judgment and render, run for real on a generated talk: plan, render (Lambda and Fargate paths), check, publish.

Faults are injected into the ECS stand-in only (tests/workflow/fakes.py): a render worker killed
mid-clip, and a clip corrupted after its render. The synthesized workflow's HeartbeatSeconds, Retry,
Catch, compensate and handle_failure must do the rest.
"""

import json
import re
import subprocess

import pytest

from lambdas.common.keys import clips_prefix
from tests.workflow.fakes import ClipCorruptedAfterRenderFake, RenderWorkerKilledMidClipFake
from videoflow.local.synth import synthesize
from videoflow.sample import make_sample, speech_clips

RENDER_TASK = "ecs:runTask.waitForTaskToken"
ALL_ON_FARGATE = {"RENDER_LAMBDA_MAX_CLIP_S": "0"}
SMALL_CLIPS = {"RENDER_WIDTH": "540", "RENDER_HEIGHT": "960"}  # quicker renders where the size is not the point
SHORT_HEARTBEAT_S = 6

pytestmark = pytest.mark.skipif(not speech_clips(), reason="needs Debian's pocketsphinx-testdata (make tools)")


@pytest.fixture(scope="module")
def talk(media):
    return media("talk.mp4", make_sample)


@pytest.fixture(scope="module")
def short_heartbeat():
    """The same app synthesized with a 6 s heartbeat timeout, so a dead worker is noticed quickly."""
    return synthesize(overrides={"render_heartbeat_s": SHORT_HEARTBEAT_S})


def ffprobe(path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                           str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def integrated_loudness_lufs(path) -> float:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def clip_objects(job) -> list[str]:
    s3, bucket = job.pipeline.s3, job.pipeline.output_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=clips_prefix(job.job_id)).get("Contents", [])
    return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed)


def history_types(job) -> list[str]:
    arn = job.execution["executionArn"]
    return [event["type"] for event in job.pipeline.sfn.get_execution_history(executionArn=arn,
                                                                              maxResults=1000)["events"]]


def test_given_a_talk_with_speech_when_it_runs_then_each_planned_clip_is_rendered_checked_and_published(run_job, talk):
    job = run_job(talk)

    assert job.execution["status"] == "SUCCEEDED"
    plan, clips = job.manifest["plan"], job.manifest["clips"]
    assert plan["planner"] == "local" and 1 <= len(plan["clips"]) <= 5
    for planned in plan["clips"]:
        assert 15 <= planned["end_s"] - planned["start_s"] <= 60
        assert planned["title"].strip() and planned["rationale"].strip() and 0 <= planned["score"] <= 1
    assert [(c["start_s"], c["end_s"]) for c in clips] == [(p["start_s"], p["end_s"]) for p in plan["clips"]]
    for clip in clips:
        probe = ffprobe(job.folder / clip["path"])
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1080, 1920)
        assert (clip["width"], clip["height"], clip["rendered_on"]) == (1080, 1920, "lambda")
        assert float(video["duration"]) == pytest.approx(clip["end_s"] - clip["start_s"], abs=0.1)
        assert audio["codec_name"] == "aac"
        thumbnail = next(s for s in ffprobe(job.folder / clip["thumbnail"])["streams"])
        assert (thumbnail["codec_name"], thumbnail["width"], thumbnail["height"]) == ("mjpeg", 540, 960)
    assert integrated_loudness_lufs(job.folder / clips[0]["path"]) == pytest.approx(-14, abs=1.5)
    assert job.manifest["summary"]["title"].strip()
    assert job.event_types.count("render.recorded") == len(clips)
    assert "job.notified" in job.event_types
    assert clip_objects(job) == sorted(f"clip-{i:02d}.{kind}" for i in range(len(clips)) for kind in ("jpg", "mp4"))


def test_given_a_render_worker_killed_mid_clip_when_its_heartbeats_stop_then_the_clip_is_rendered_again_exactly_once(
        run_job, talk, short_heartbeat):
    fake = RenderWorkerKilledMidClipFake.recording()

    job = run_job(talk, adapters={RENDER_TASK: fake}, environment={**ALL_ON_FARGATE, **SMALL_CLIPS},
                  synthesized=short_heartbeat)

    assert job.execution["status"] == "SUCCEEDED"
    [ecs] = fake.instances
    [killed] = ecs.killed
    assert ecs.starts.count(killed) == 2  # noticed by the missing heartbeats, then retried
    assert "TaskTimedOut" in history_types(job)
    clips = job.manifest["clips"]
    assert clips and all(clip["rendered_on"] == "fargate" for clip in clips)
    # Exactly one clip and one thumbnail per planned clip: no second copy, no partial left behind.
    assert clip_objects(job) == sorted(f"clip-{i:02d}.{kind}" for i in range(len(clips)) for kind in ("jpg", "mp4"))
    for clip in clips:
        assert float(ffprobe(job.folder / clip["path"])["format"]["duration"]) == pytest.approx(
            clip["end_s"] - clip["start_s"], abs=0.1)
    recorded = [e for e in job.events if e["type"] == "render.recorded"]
    assert all(e["detail"]["fargate_task"]["seconds"] > 0 for e in recorded)  # costed as Fargate time


def test_given_a_clip_that_is_not_what_its_render_reported_when_it_is_checked_then_the_job_fails_and_publishes_nothing(
        run_job, talk):
    fake = ClipCorruptedAfterRenderFake.recording()

    job = run_job(talk, adapters={RENDER_TASK: fake}, environment={**ALL_ON_FARGATE, **SMALL_CLIPS})

    # The execution stops at the step that failed (a redrive resumes there); compensate records it.
    assert job.execution["status"] == "FAILED"
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason_code"] == "RENDER_CHECK_FAILED"
    assert job.manifest["reason"].startswith("RecordRender failed: clip 0")
    assert job.manifest["clips"] == [] and job.manifest["plan"] is None  # nothing published
    compensated = next(e for e in job.events if e["type"] == "job.compensated")
    assert compensated["detail"]["failed_step"] == "RecordRender"
    assert [e["type"] for e in job.events][-2:] == ["job.compensated", "job.failed"]
    # No half-written object is left; the whole clips stay unpublished, for a redrive to reuse.
    assert not [key for key in clip_objects(job) if ".partial-" in key]


def test_given_bedrock_is_configured_when_a_talk_runs_then_its_recorded_plan_is_validated_rendered_and_costed(
        run_job, talk):
    from lambdas.common import model_gateway as gateway
    from tests.bedrock import MODEL_ID, RecordedBedrockFake, recorded

    # The recorded plan was written for a two-minute video: two of its three clips lie past this one's end.
    fake = RecordedBedrockFake(recorded("summary"), recorded("plan"))
    gateway.register_client(fake)
    try:
        job = run_job(talk, environment={"BEDROCK_MODEL_ID": MODEL_ID, **SMALL_CLIPS})
    finally:
        gateway.register_client(None)

    assert job.execution["status"] == "SUCCEEDED"
    assert fake.calls == 2  # one summary, one plan: within the job's budget of model calls
    assert job.manifest["summary"]["summarizer"] == "bedrock"
    plan = job.manifest["plan"]
    assert plan["planner"] == "bedrock"
    assert [(c["start_s"], c["end_s"], c["title"]) for c in plan["clips"]] == [(0.5, 29.8, "Sourdough from scratch")]
    [clip] = job.manifest["clips"]
    assert float(ffprobe(job.folder / clip["path"])["format"]["duration"]) == pytest.approx(29.3, abs=0.1)
    calls = [e for e in job.events if e["type"] == "model.called"]
    assert [e["detail"]["purpose"] for e in calls] == ["summarize_video", "plan_clips"]
    assert all(e["detail"]["model_id"] == MODEL_ID and len(e["detail"]["prompt_sha256"]) == 64 for e in calls)
    validated = next(e for e in job.events if e["type"] == "plan.validated")
    assert (validated["detail"]["draft_clips"], validated["detail"]["clips"]) == (3, 1)
    assert job.manifest["cost"]["by_service"]["bedrock"]["usd"] > 0
