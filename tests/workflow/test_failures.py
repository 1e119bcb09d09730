"""Faults injected into the MediaConvert stand-in: Retry absorbs the transient; a job error that is not the input's
fault (that one is REJECTED: tests/workflow/test_service_faults.py) gets one more attempt, DerivativesRetry; a second
failure fails the execution there, compensate records it, and the jobs API can retry (redrive) or cancel it."""

from lambdas.common.owners import Caller
from tests.media import make_video
from tests.workflow.fakes import FailingMediaConvertFake, MediaConvertHeldFake
from videoflow.local.mediaconvert import TaskFailed, TooManyRequestsException

DERIVATIVES = "mediaconvert:createJob.sync"

# What the jobs API passes for an administrator (lambdas/common/owners.py): these jobs were uploaded outside it.
ADMIN = Caller(arn="arn:aws:iam::123456789012:role/videoflow-admin", admin=True)


def test_a_throttled_mediaconvert_job_is_retried_and_the_job_completes(run_job, tmp_path):
    flaky = FailingMediaConvertFake(TooManyRequestsException("Too many requests"), times=1)

    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: flaky})

    assert job.manifest["status"] == "COMPLETED"
    assert flaky.calls == 2


def test_a_mediaconvert_job_that_ends_in_error_fails_the_job_with_the_reason(run_job, tmp_path):
    broken = FailingMediaConvertFake(TaskFailed({
        "Id": "1700000000000-abcdef", "Status": "ERROR", "ErrorCode": 1040,
        "ErrorMessage": "Settings Error: the audio selector does not match the input",
    }), times=99)

    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: broken})

    assert job.execution["status"] == "FAILED"
    assert broken.calls == 2  # not the input's fault: one more attempt, then no more
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason"] == "DerivativesRetry failed: Settings Error: the audio selector does not match the input"
    failed = job.events[-1]
    assert (failed["type"], failed["detail"]["failed_step"]) == ("job.failed", "DerivativesRetry")
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "FAILED"



def test_a_failed_job_retried_through_the_jobs_api_resumes_at_the_failed_step_and_completes(run_job, tmp_path):
    from lambdas.common.events import EventLog
    from lambdas.common.jobs import JobStore
    from lambdas.common.settings import get_settings
    from lambdas.jobs_api.logic import retry_job

    broken_twice = FailingMediaConvertFake(TaskFailed({
        "Id": "1700000000000-abcdef", "Status": "ERROR", "ErrorCode": 1999, "ErrorMessage": "Unknown Error",
    }), times=2)
    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: broken_twice})
    assert job.manifest["status"] == "FAILED"
    pipeline, settings = job.pipeline, get_settings()

    retry_job(job.job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table), sfn=pipeline.sfn,
              state_machine_arn=pipeline.state_machine_arn, caller=ADMIN)  # uploaded outside the API: no owner
    execution = pipeline.wait(job.job_id, timeout_s=300)

    assert execution["status"] == "SUCCEEDED"
    assert broken_twice.calls == 3  # the failed step ran again ...
    types = [event.type for event in pipeline.events(job.job_id)]
    assert types.count("upload.validated") == 1 and types.count("job.registered") == 1  # ... the steps before did not
    assert types.index("job.failed") < types.index("job.retried") < types.index("job.completed")
    retried = next(event for event in pipeline.events(job.job_id) if event.type == "job.retried")
    assert (retried.detail["failed_step"], retried.detail["redrive_count"]) == ("DerivativesRetry", 1)
    assert pipeline.jobs_table_item(job.job_id)["status"] == "COMPLETED"
    # No state that finished before the failure was entered again, and the outputs exist once.
    history = pipeline.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    redriven = next(index for index, event in enumerate(history) if event["type"] == "ExecutionRedriven")
    finished = {e["stateExitedEventDetails"]["name"] for e in history[:redriven] if "stateExitedEventDetails" in e}
    rerun = {e["stateEnteredEventDetails"]["name"] for e in history[redriven:] if "stateEnteredEventDetails" in e}
    assert retried.detail["failed_step"] in rerun and not finished & rerun, finished & rerun
    assert types.count("derivatives.recorded") == 1 and types.count("job.completed") == 1
    outputs = pipeline.s3.list_objects_v2(Bucket=pipeline.output_bucket)["Contents"]
    assert not [item["Key"] for item in outputs if ".partial-" in item["Key"]]


def test_a_running_job_cancelled_through_the_jobs_api_stops_and_stays_cancelled(outdir, tmp_path, inference_url):
    from lambdas.common.events import EventLog
    from lambdas.common.jobs import JobStore
    from lambdas.common.settings import get_settings
    from lambdas.jobs_api.logic import cancel_job
    from videoflow.local.runner import LocalPipeline

    held = MediaConvertHeldFake()
    with LocalPipeline(outdir, adapters={DERIVATIVES: held}, inference_url=inference_url) as pipeline:
        submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=2))
        assert held.started.wait(timeout=120)  # the job is transcoding
        settings = get_settings()

        cancel_job(submitted.job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table),
                   sfn=pipeline.sfn, state_machine_arn=pipeline.state_machine_arn, caller=ADMIN)
        held.release()
        execution = pipeline.wait(submitted.job_id, timeout_s=120)

        assert execution["status"] == "ABORTED"
        assert pipeline.jobs_table_item(submitted.job_id)["status"] == "CANCELLED"
        events = pipeline.events(submitted.job_id)
        assert [event.type for event in events][-2:] == ["job.compensated", "job.cancelled"]
        compensated = events[-2].detail
        assert (compensated["failed_step"], compensated["released_inference"]) == ("Derivatives", True)
