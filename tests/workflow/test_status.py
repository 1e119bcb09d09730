"""DynamoDB throttling through a whole local run: the job is delayed, not failed.

The fault is in moto's DynamoDB (tests/aws_faults.py): the jobs table refuses the first writes
with ProvisionedThroughputExceededException, more of them than botocore's retries absorb, so
RegisterJob's invocation fails as TransientError and the synthesized workflow's Retry runs it
again. The races of a job's status are proven step by step in tests/unit/test_job_status.py.
"""

from lambdas.common.settings import get_settings
from tests.aws_faults import DynamoDBThrottleFake, no_client_backoff
from tests.media import make_video
from videoflow.local.runner import LocalPipeline

CLIENT_ATTEMPTS = 6  # lambdas/common/aws.py: the first attempt and 5 retries


def test_given_job_record_writes_throttled_beyond_the_client_retries_then_the_workflow_retries_and_the_job_completes(
        outdir, tmp_path, monkeypatch, inference_url):
    no_client_backoff(monkeypatch)
    with LocalPipeline(outdir, inference_url=inference_url) as pipeline:
        throttle = DynamoDBThrottleFake("UpdateItem", CLIENT_ATTEMPTS, get_settings().jobs_table).install(monkeypatch)

        submitted = pipeline.submit(make_video(tmp_path / "a.mp4", seconds=1))
        execution = pipeline.wait(submitted.job_id, timeout_s=300)

        assert execution["status"] == "SUCCEEDED"
        assert throttle.throttled == CLIENT_ATTEMPTS and throttle.passed >= 2  # RegisterJob, then PublishResults
        history = pipeline.sfn.get_execution_history(executionArn=execution["executionArn"],
                                                     maxResults=1000)["events"]
        failures = [event["lambdaFunctionFailedEventDetails"]["error"] for event in history
                    if "lambdaFunctionFailedEventDetails" in event]
        assert failures.count("TransientError") == 1  # one failed invocation (RegisterJob), retried by the workflow
        types = [event.type for event in pipeline.events(submitted.job_id)]
        assert types.count("job.registered") == 1 and types.count("job.completed") == 1
        assert pipeline.jobs_table_item(submitted.job_id)["status"] == "COMPLETED"
