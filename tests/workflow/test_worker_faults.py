"""Faults of the workers and their capacity, injected into the local Batch and ECS stand-ins or the template:
the synthesized queue, job definition and workflow (Retry, Catch, compensate) must do the rest.

- a frame job that can never be placed waits RUNNABLE until the queue's JobStateTimeLimitAction cancels it;
- a user's cancel during the frame job leaves no worker process running;
- a render task Fargate has no capacity for is run again by the workflow's Retry;
- a publisher the topics' KMS key refuses fails its step with SNS's KMSAccessDenied naming the key.
"""

import copy
import json
import os
import time
from pathlib import Path

import pytest

from lambdas.common.embedders import EmbeddingModelError
from lambdas.common.search_index import EmbeddingFailed
from tests.media import make_video
from tests.workflow.fakes import (
    FARGATE_SPOT_NO_CAPACITY,
    FrameWorkerHangsFake,
    NoSpotCapacityFake,
    RenderTasksRecorded,
    RunTaskNoCapacityOnceFake,
)
from tests.workflow.rendering import ALL_ON_FARGATE, RENDER_TASK, SMALL_CLIPS, clip_objects
from tests.workflow.test_wiring import without_permission
from videoflow.local.batch import (
    COMPUTE_TOO_SMALL,
    CONTAINER_EXITED,
    EXECUTION_STOPPED,
    Attempt,
    JobDefinition,
    _queues,
    placement_problem,
)
from videoflow.local.synth import load_template
from videoflow.local.template import LocalTemplate

FRAMES = "batch:submitJob.sync"
QUEUE = "PipelineFrameWorkersQueue"


def edited_template(outdir, tmp_path: Path, edit) -> Path:
    """A copy of the synthesized template, changed by `edit(template)`, run with the original's assets."""
    template = copy.deepcopy(load_template(outdir))
    edit(template)
    path = tmp_path / "edited.template.json"
    path.write_text(json.dumps(template))
    return path


def runnable_limit_s(seconds: float):
    """The queue's JobStateTimeLimitActions at `seconds` instead of 30 min (Batch's minimum is 600 s)."""
    def edit(template: dict) -> None:
        local = LocalTemplate(template)
        queue = template["Resources"][local.find("AWS::Batch::JobQueue", QUEUE)]["Properties"]
        for action in queue["JobStateTimeLimitActions"]:
            action["MaxTimeSeconds"] = seconds
    return edit


@pytest.fixture
def pipeline_with(outdir, inference_url):
    from videoflow.local.runner import LocalPipeline

    opened = []

    def open_pipeline(**options):
        pipeline = LocalPipeline(outdir, inference_url=inference_url, **options)
        opened.append(pipeline.__enter__())
        return pipeline

    yield open_pipeline
    for pipeline in reversed(opened):
        pipeline.__exit__(None, None, None)


# -- Batch: a job that can never start ----------------------------------------------------------------------


def test_given_no_spot_capacity_when_the_frame_job_waits_runnable_then_the_queue_cancels_it_and_the_job_fails_with_the_reason(
        pipeline_with, outdir, tmp_path):
    fake = NoSpotCapacityFake.recording()
    pipeline = pipeline_with(adapters={FRAMES: fake}, template_file=edited_template(outdir, tmp_path,
                                                                                     runnable_limit_s(1)))
    submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=2, audio=False))

    execution = pipeline.wait(submitted.job_id, timeout_s=120)

    assert execution["status"] == "FAILED"
    manifest = json.loads((pipeline.export(submitted.job_id, tmp_path / "out") / "manifest.json").read_text())
    assert manifest["status"] == "FAILED"
    assert manifest["reason"] == ("Analysis failed: Canceled by JobStateTimeLimit action due to reason: "
                                  "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY")
    [batch] = fake.instances
    assert not batch.attempts  # no worker ever started, so nothing was paid for but the wait
    [job] = batch.jobs.values()
    assert job.status == "FAILED" and job.status_reason == manifest["reason"].removeprefix("Analysis failed: ")
    [failed] = [event for event in pipeline.events(submitted.job_id) if event.type == "job.failed"]
    assert failed.detail["failed_step"] == "Analysis"
    assert pipeline.jobs_table_item(submitted.job_id)["status"] == "FAILED"


def test_given_the_synthesized_queue_then_every_runnable_reason_batch_reports_is_cancelled_after_the_configured_time(
        outdir):
    queues = _queues(LocalTemplate(load_template(outdir)))
    [queue] = {id(q): q for q in queues.values()}.values()

    assert queue.limit_for(FARGATE_SPOT_NO_CAPACITY) == 30 * 60  # frames_runnable_timeout_min
    assert queue.limit_for(COMPUTE_TOO_SMALL) == 30 * 60
    assert queue.limit_for("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no instance meets it") == 30 * 60
    assert queue.max_vcpus == 16
    worker = JobDefinition("frames", [], Path("."), 3, [], 1800, {}, vcpus=1)
    assert placement_problem(queue, worker, {}) is None
    too_big = {"ContainerOverrides": {"ResourceRequirements": [{"Type": "VCPU", "Value": "32"}]}}
    assert placement_problem(queue, worker, too_big) == COMPUTE_TOO_SMALL


def definition_states(outdir) -> dict:
    """Every state of the synthesized workflow by name, nested ones included."""
    template = LocalTemplate(load_template(outdir))
    found: dict = {}

    def walk(states: dict) -> None:
        for name, state in states.items():
            found[name] = state
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(state[key]["States"])

    walk(template.state_machine_definition(template.find("AWS::StepFunctions::StateMachine",
                                                          "PipelineJobStateMachine"))["States"])
    return found


def retried(state: dict) -> set[str]:
    return {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}


def test_given_the_synthesized_frame_job_definition_then_a_fargate_spot_reclaim_is_retried_and_a_worker_error_is_not(
        outdir):
    template = LocalTemplate(load_template(outdir))
    props = template.resources[template.find("AWS::Batch::JobDefinition", "PipelineFrameWorkersJobDefinition")][
        "Properties"]
    strategy = props["RetryStrategy"]
    definition = JobDefinition("frames", [], Path("."), strategy["Attempts"], strategy["EvaluateOnExit"], 1800, {})

    # The status reasons AWS Batch gives a child whose Fargate Spot task or EC2 host went away.
    assert definition.action_after(Attempt(None, "Your Spot Task was interrupted.")) == "RETRY"
    assert definition.action_after(Attempt(None, "Host EC2 (instance i-0abc) terminated.")) == "RETRY"
    assert definition.action_after(Attempt(None, "CannotPullContainerError: pull access denied")) == "RETRY"
    assert definition.action_after(Attempt(1, CONTAINER_EXITED)) == "EXIT"
    assert strategy["Attempts"] == 3


def test_given_the_synthesized_workflow_then_renders_run_on_demand_and_the_endpoint_faults_are_retried_by_name(outdir):
    states = definition_states(outdir)

    render = states["RenderOnFargate"]["Parameters"]
    assert render["LaunchType"] == "FARGATE" and "CapacityProviderStrategy" not in render  # not Spot: not reclaimed
    assert "ECS.AmazonECSException" in retried(states["RenderOnFargate"])  # RunTask refused for capacity
    keyframes = retried(states["KeyframeInference"])
    assert EmbeddingFailed.__name__ in keyframes  # throttled, not ready, a container 5xx: tried again
    assert EmbeddingModelError.__name__ not in keyframes  # the model refuses the request: fails at once


# -- Cancel: nothing keeps running ----------------------------------------------------------------------------


def test_given_a_job_cancelled_during_its_frame_job_then_every_worker_process_is_stopped_and_the_job_is_cancelled(
        pipeline_with, tmp_path):
    fake = FrameWorkerHangsFake.recording()
    pipeline = pipeline_with(adapters={FRAMES: fake})
    submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=2, audio=False))
    # A one-chunk job is an array of 2 (Batch's smallest): both children hang.
    running = _when(lambda: fake.instances and len(fake.instances[0].running()) == 2 and fake.instances[0].running(),
                    timeout_s=120)

    _cancel(pipeline, submitted.job_id)
    execution = pipeline.wait(submitted.job_id, timeout_s=60)

    assert execution["status"] == "ABORTED"
    for process in running:
        process.wait(timeout=15)  # SIGTERM (SIGKILL after 5 s): stopped, not left to run for its 600 s
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # nothing the worker started is left either
    [batch] = fake.instances
    [job] = batch.jobs.values()
    _when(lambda: job.status == "FAILED", timeout_s=10)
    assert job.status_reason == EXECUTION_STOPPED
    assert all(count == 1 for count in batch.attempts.values())  # a stopped child is not retried
    assert pipeline.jobs_table_item(submitted.job_id)["status"] == "CANCELLED"
    assert [event.type for event in pipeline.events(submitted.job_id)][-2:] == ["job.compensated", "job.cancelled"]


def test_given_a_job_cancelled_while_its_clip_renders_on_fargate_then_the_render_task_stops_and_publishes_nothing(
        pipeline_with, tmp_path):
    recorder = RenderTasksRecorded.recording()
    pipeline = pipeline_with(adapters={RENDER_TASK: recorder},
                             extra_environment={**ALL_ON_FARGATE, **SMALL_CLIPS, "PLAN_MIN_CLIP_S": "5"})
    submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=6, audio=False))  # itself the one clip
    [task] = _when(lambda: recorder.instances and [t for t in recorder.instances[0].tasks
                                                   if any(": rendering " in line for line in t.stderr_tail)],
                   timeout_s=120)

    _cancel(pipeline, submitted.job_id)
    execution = pipeline.wait(submitted.job_id, timeout_s=60)

    assert execution["status"] == "ABORTED"
    task.process.wait(timeout=15)
    with pytest.raises(ProcessLookupError):
        os.killpg(task.process.pid, 0)  # the render and its ffmpeg
    assert any("SIGTERM" in line for line in task.stderr_tail), task.stderr_tail
    objects = job_objects(pipeline, submitted.job_id)
    assert not [key for key in objects if key.startswith("clips/")]  # no clip, no partial
    assert pipeline.jobs_table_item(submitted.job_id)["status"] == "CANCELLED"


# -- ECS: the render task cannot start ---------------------------------------------------------------------------


def test_given_no_fargate_capacity_for_a_render_task_when_runtask_fails_then_the_workflow_runs_it_again_and_the_clip_renders(
        run_job, tmp_path):
    fake = RunTaskNoCapacityOnceFake.recording()

    # A 3 s silent video is itself the one clip when clips may be 2 s long.
    job = run_job(make_video(tmp_path / "a.mp4", seconds=3, audio=False), adapters={RENDER_TASK: fake},
                  environment={**ALL_ON_FARGATE, **SMALL_CLIPS, "PLAN_MIN_CLIP_S": "2"})

    assert job.execution["status"] == "SUCCEEDED"
    [ecs] = fake.instances
    assert ecs.refused and ecs.starts == ecs.refused  # refused once, then started once for the same clip
    history = job.pipeline.sfn.get_execution_history(executionArn=job.execution["executionArn"],
                                                     maxResults=1000)["events"]
    failures = [event["taskFailedEventDetails"] for event in history if event["type"] == "TaskFailed"]
    assert [failure["error"] for failure in failures] == ["ECS.AmazonECSException"]
    assert RunTaskNoCapacityOnceFake.MESSAGE in failures[0]["cause"]
    [clip] = job.manifest["clips"]
    assert clip["rendered_on"] == "fargate"
    assert clip_objects(job) == ["clip-00-9x16.jpg", "clip-00-9x16.mp4"]


# -- KMS: the topics' key refuses a publisher ------------------------------------------------------------------


def test_given_a_template_whose_notify_role_lost_its_kms_grant_then_notify_fails_with_kms_access_denied_naming_the_key(
        pipeline_with, outdir, tmp_path):
    def edit(template: dict) -> None:
        template.update(without_permission(template, "notify", "kms:GenerateDataKey"))

    pipeline = pipeline_with(template_file=edited_template(outdir, tmp_path, edit))
    submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=2, audio=False))

    execution = pipeline.wait(submitted.job_id, timeout_s=120)

    # The notification is best effort: the job is complete, and the step's error names the key and who was refused.
    assert execution["status"] == "SUCCEEDED"
    assert pipeline.jobs_table_item(submitted.job_id)["status"] == "COMPLETED"
    skipped = json.loads(execution["output"])["skipped_notify"]
    template = LocalTemplate(load_template(outdir))
    key = template.arn(template.find("AWS::KMS::Key", "PipelineTopicsKey"))
    message = json.loads(skipped["Cause"])["errorMessage"]
    assert "(KMSAccessDenied)" in message and "kms:GenerateDataKey" in message and key in message
    assert "function notify" in message
    [denied] = pipeline.access.denials
    assert (denied.action, denied.resource) == ("kms:GenerateDataKey", key)
    assert "job.notified" not in [event.type for event in pipeline.events(submitted.job_id)]


def _cancel(pipeline, job_id: str) -> None:
    """What POST /jobs/{id}/cancel does, as an administrator (the job was uploaded outside the API: no owner)."""
    from lambdas.common.events import EventLog
    from lambdas.common.jobs import JobStore
    from lambdas.common.owners import Caller
    from lambdas.common.settings import get_settings
    from lambdas.jobs_api.logic import cancel_job

    settings = get_settings()
    cancel_job(job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table), sfn=pipeline.sfn,
               state_machine_arn=pipeline.state_machine_arn,
               caller=Caller(arn="arn:aws:iam::123456789012:role/videoflow-admin", admin=True))


def job_objects(pipeline, job_id: str) -> list[str]:
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.output_bucket).get("Contents", [])
    return [item["Key"] for item in listed if job_id in item["Key"]]


def _when(found, timeout_s: float):
    """Poll `found()` until it gives something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s")
