"""How the workflow waits out what is not the job's fault: a transient error briefly, a quota for minutes.

Every task retries its transient errors (a 5xx, a dropped connection) 4 times from a short first wait,
doubling, with full jitter: about a minute in all. Throttling and quotas are different: when many uploads
arrive at once, Lambda, MediaConvert, Transcribe and Batch refuse calls until others finish, and that lasts
minutes. Those errors get a retrier of their own that backs off from 10 s to at most 5 minutes a wait,
10 times: up to about 30 minutes (half that on average, with full jitter) before the job fails.
"""

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn

from lambdas.common.errors import TransientError

TRANSIENT_ATTEMPTS = 4
THROTTLED_FIRST_WAIT_S = 10
THROTTLED_MAX_WAIT_S = 300
THROTTLED_ATTEMPTS = 10

# Step Functions' default Lambda retry omits throttling; it is named below, with the quotas.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    TransientError.__name__,
]
LAMBDA_THROTTLED_ERRORS = ["Lambda.TooManyRequestsException"]
MEDIACONVERT_TRANSIENT_ERRORS = ["MediaConvert.InternalServerErrorException"]
# CreateJob's API rate and the account's job quotas; jobs beyond the queue's concurrency wait in the queue.
MEDIACONVERT_THROTTLED_ERRORS = ["MediaConvert.TooManyRequestsException", "MediaConvert.ServiceQuotaExceededException"]
TRANSCRIBE_TRANSIENT_ERRORS = ["Transcribe.InternalFailureException"]
# Transcribe answers both its request rate and its concurrent-job quota with LimitExceededException.
TRANSCRIBE_THROTTLED_ERRORS = ["Transcribe.LimitExceededException"]
BATCH_TRANSIENT_ERRORS = ["Batch.ServerException"]
# Batch throttles its API per account (429 TooManyRequestsException); compute beyond the quota waits RUNNABLE.
BATCH_THROTTLED_ERRORS = ["Batch.TooManyRequestsException"]


def retry_transient(task: sfn.TaskStateBase, errors: list[str], interval_s: int) -> None:
    task.add_retry(errors=errors, interval=cdk.Duration.seconds(interval_s), max_attempts=TRANSIENT_ATTEMPTS,
                   backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)


def retry_throttled(task: sfn.TaskStateBase, errors: list[str]) -> None:
    task.add_retry(errors=errors, interval=cdk.Duration.seconds(THROTTLED_FIRST_WAIT_S),
                   max_delay=cdk.Duration.seconds(THROTTLED_MAX_WAIT_S), max_attempts=THROTTLED_ATTEMPTS,
                   backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)


def retry_lambda(task: sfn.TaskStateBase, interval_s: int = 2) -> None:
    retry_transient(task, LAMBDA_TRANSIENT_ERRORS, interval_s)
    retry_throttled(task, LAMBDA_THROTTLED_ERRORS)
