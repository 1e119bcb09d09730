"""Faults injected into the MediaConvert stand-in: Retry absorbs the transient; the rest fails the execution at
that step, compensate records it, and the jobs API can retry (redrive) or cancel it."""

from tests.media import make_video
from tests.workflow.fakes import FailingMediaConvertFake, MediaConvertHeldFake
from videoflow.local.mediaconvert import TaskFailed, TooManyRequestsException

DERIVATIVES = "mediaconvert:createJob.sync"


def test_a_throttled_mediaconvert_job_is_retried_and_the_job_completes(run_job, tmp_path):
    flaky = FailingMediaConvertFake(TooManyRequestsException("Too many requests"), times=1)

    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: flaky})

    assert job.manifest["status"] == "COMPLETED"
    assert flaky.calls == 2


def test_a_mediaconvert_job_that_ends_in_error_fails_the_job_with_the_reason(run_job, tmp_path):
    broken = FailingMediaConvertFake(TaskFailed({
        "Id": "1700000000000-abcdef", "Status": "ERROR", "ErrorCode": 1010,
        "ErrorMessage": "Unable to open input file: decoder not found",
    }), times=99)

    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: broken})

    assert job.execution["status"] == "FAILED"
    assert broken.calls == 1  # a job error is not retried
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason"] == "Derivatives failed: Unable to open input file: decoder not found"
    failed = job.events[-1]
    assert (failed["type"], failed["detail"]["failed_step"]) == ("job.failed", "Derivatives")
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "FAILED"



def test_a_failed_job_retried_through_the_jobs_api_resumes_at_the_failed_step_and_completes(run_job, tmp_path):
    from lambdas.common.events import EventLog
    from lambdas.common.jobs import JobStore
    from lambdas.common.settings import get_settings
    from lambdas.jobs_api.logic import retry_job

    broken_once = FailingMediaConvertFake(TaskFailed({
        "Id": "1700000000000-abcdef", "Status": "ERROR", "ErrorCode": 1517, "ErrorMessage": "Service unavailable",
    }), times=1)
    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={DERIVATIVES: broken_once})
    assert job.manifest["status"] == "FAILED"
    pipeline, settings = job.pipeline, get_settings()

    retry_job(job.job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table), sfn=pipeline.sfn,
              state_machine_arn=pipeline.state_machine_arn)
    execution = pipeline.wait(job.job_id, timeout_s=300)

    assert execution["status"] == "SUCCEEDED"
    assert broken_once.calls == 2  # the failed step ran again ...
    types = [event.type for event in pipeline.events(job.job_id)]
    assert types.count("upload.validated") == 1 and types.count("job.registered") == 1  # ... the steps before did not
    assert types.index("job.failed") < types.index("job.retried") < types.index("job.completed")
    retried = next(event for event in pipeline.events(job.job_id) if event.type == "job.retried")
    assert (retried.detail["failed_step"], retried.detail["redrive_count"]) == ("Derivatives", 1)
    assert pipeline.jobs_table_item(job.job_id)["status"] == "COMPLETED"


def test_a_running_job_cancelled_through_the_jobs_api_stops_and_stays_cancelled(outdir, tmp_path):
    from lambdas.common.events import EventLog
    from lambdas.common.jobs import JobStore
    from lambdas.common.settings import get_settings
    from lambdas.jobs_api.logic import cancel_job
    from videoflow.local.runner import LocalPipeline

    held = MediaConvertHeldFake()
    with LocalPipeline(outdir, adapters={DERIVATIVES: held}) as pipeline:
        submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=2))
        assert held.started.wait(timeout=120)  # the job is transcoding
        settings = get_settings()

        cancel_job(submitted.job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table),
                   sfn=pipeline.sfn, state_machine_arn=pipeline.state_machine_arn)
        held.release()
        execution = pipeline.wait(submitted.job_id, timeout_s=120)

        assert execution["status"] == "ABORTED"
        assert pipeline.jobs_table_item(submitted.job_id)["status"] == "CANCELLED"
        events = pipeline.events(submitted.job_id)
        assert [event.type for event in events][-2:] == ["job.compensated", "job.cancelled"]
        compensated = events[-2].detail
        assert (compensated["failed_step"], compensated["released_inference"]) == ("Derivatives", True)
