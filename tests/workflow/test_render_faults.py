"""Faults injected into the render: the workflow's own recovery must do the rest.

The faults are in the ECS stand-in only (tests/workflow/fakes.py): a render worker killed
mid-clip, and a clip corrupted after its render. The synthesized workflow's HeartbeatSeconds,
Retry, Catch, compensate and handle_failure must do the rest. The footage is an 8 s generated
video that is itself the one clip (clips may be 5 s long here): the recovery is the point, not
the plan, which tests/workflow/test_render.py proves on a talk with speech.
"""

import pytest

from tests.media import make_video
from tests.workflow.fakes import ClipCorruptedAfterRenderFake, RenderWorkerKilledMidClipFake
from tests.workflow.rendering import (
    ALL_ON_FARGATE,
    RENDER_TASK,
    SMALL_CLIPS,
    clip_objects,
    ffprobe,
    history_types,
)

ONE_CLIP = {**ALL_ON_FARGATE, **SMALL_CLIPS, "PLAN_MIN_CLIP_S": "5"}  # an 8 s video is itself the one clip


@pytest.fixture(scope="module")
def footage(media):
    return media("footage.mp4", make_video, seconds=8)


def test_given_a_render_worker_killed_mid_clip_when_its_heartbeats_stop_then_the_clip_is_rendered_again_exactly_once(
        run_job, footage, short_heartbeat):
    fake = RenderWorkerKilledMidClipFake.recording()

    job = run_job(footage, adapters={RENDER_TASK: fake}, environment=ONE_CLIP, synthesized=short_heartbeat)

    assert job.execution["status"] == "SUCCEEDED"
    [ecs] = fake.instances
    [killed] = ecs.killed
    assert ecs.starts.count(killed) == 2  # noticed by the missing heartbeats, then retried
    assert "TaskTimedOut" in history_types(job)
    clips = job.manifest["clips"]
    assert clips and all(clip["rendered_on"] == "fargate" for clip in clips)
    # Exactly one clip and one thumbnail per planned clip: no second copy, no partial left behind.
    assert clip_objects(job) == sorted(f"clip-{i:02d}-9x16.{kind}" for i in range(len(clips))
                                       for kind in ("jpg", "mp4"))
    for clip in clips:
        assert float(ffprobe(job.folder / clip["path"])["format"]["duration"]) == pytest.approx(
            clip["end_s"] - clip["start_s"], abs=0.1)
    recorded = [e for e in job.events if e["type"] == "render.recorded"]
    assert all(e["detail"]["fargate_task"]["seconds"] > 0 for e in recorded)  # costed as Fargate time


def test_given_a_clip_that_is_not_what_its_render_reported_when_it_is_checked_then_the_job_fails_and_publishes_nothing(
        run_job, footage):
    fake = ClipCorruptedAfterRenderFake.recording()

    job = run_job(footage, adapters={RENDER_TASK: fake}, environment=ONE_CLIP)

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
