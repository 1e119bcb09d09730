"""The Derivatives step: one MediaConvert job (createJob.sync), bounded by the video's length, its errors sorted.

- CreateJob refused for throttling or a quota (many uploads at once): retried for minutes (stacks/retries.py);
  a 5xx: retried briefly.
- The job ends in ERROR: the `.sync` task fails with States.TaskFailed and the job as the Cause. The workflow
  reads the job's ErrorCode. A code that means the input is at fault (MediaConvert User Guide, "Error codes")
  ends the job REJECTED through HandleFailure, with MediaConvert's message as the reason. Any other code
  (a service fault such as 1550 or 1999, a settings or permissions error, a code this list does not know) gets
  one more attempt in DerivativesRetry, a second task with no Catch: if that fails too, the execution fails AT
  it, compensate records FAILED with the reason, and a redrive (the jobs API's retry) runs it again.
  MediaConvert does not bill a job that ends in ERROR.
- The job never finishes: each attempt is bounded by TimeoutSecondsPath, sized per job from the measured
  duration (SizeTimeouts, stacks/workflow.py); States.Timeout fails the execution there with "timed out".
"""

from aws_cdk import (
    aws_iam as iam,
    aws_stepfunctions as sfn,
    aws_stepfunctions_tasks as tasks,
)
from constructs import Construct

from lambdas.common.errors import MediaUnreadable, NoVideoStream
from stacks.retries import (
    MEDIACONVERT_THROTTLED_ERRORS,
    MEDIACONVERT_TRANSIENT_ERRORS,
    retry_throttled,
    retry_transient,
)

# Job error codes that mean the input is at fault, with the error they are recorded as (REJECTED).
# From the MediaConvert User Guide's error code table: 1010 input can't be opened (corrupt, unsupported
# format), 1020 no video stream, 1021 no audio stream (the probe said there was one), 1030 unsupported codec
# or container, 1075 demuxer parse error, 1076 source read error (an unexpected end of file), 1092 the audio
# can't be decoded. The 3xxx codes are about HTTP(S) inputs, which this pipeline never uses (it reads S3).
INPUT_FAULT_CODES: dict[int, str] = {
    1010: MediaUnreadable.__name__,
    1020: NoVideoStream.__name__,
    1021: MediaUnreadable.__name__,
    1030: MediaUnreadable.__name__,
    1075: MediaUnreadable.__name__,
    1076: MediaUnreadable.__name__,
    1092: MediaUnreadable.__name__,
}
# Where the ErrorCode may sit in the parsed Cause: the job ({"Job": {...}} as GetJob returns it, or the job
# itself) or the job's state-change event (its detail, or the detail alone).
_CODE_PATHS = ("Job.ErrorCode", "ErrorCode", "errorCode", "detail.errorCode")
ERROR_PATH = "$.mediaconvert_error"
TIMEOUT_PATH = "$.timeouts.mediaconvert_s"


def derivatives(scope: Construct, *, role: iam.IRole, on_input_fault: sfn.IChainable) -> sfn.Chain:
    """Derivatives, its classification and DerivativesRetry; the chain ends when either attempt succeeded."""
    first = _create_job(scope, "Derivatives", role)
    again = _create_job(scope, "DerivativesRetry", role)
    first.add_catch(_classify(scope, on_input_fault, again), errors=["States.TaskFailed"], result_path=ERROR_PATH)
    return sfn.Chain.custom(first, [first, again], again)


def _create_job(scope: Construct, name: str, role: iam.IRole) -> tasks.MediaConvertCreateJob:
    task = tasks.MediaConvertCreateJob(
        scope, name,
        create_job_request={
            "Role": role.role_arn,
            "Settings": sfn.JsonPath.object_at("$.mediaconvert.settings"),
            "UserMetadata": {"job_id": sfn.JsonPath.string_at("$.job_id")},
            "StatusUpdateInterval": "SECONDS_60",
        },
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        result_selector={
            "id": sfn.JsonPath.string_at("$.Job.Id"),
            "status": sfn.JsonPath.string_at("$.Job.Status"),
        },
        result_path="$.mediaconvert_job",
        task_timeout=sfn.Timeout.at(TIMEOUT_PATH),
    )
    retry_throttled(task, MEDIACONVERT_THROTTLED_ERRORS)
    retry_transient(task, MEDIACONVERT_TRANSIENT_ERRORS, interval_s=5)
    return task


def _classify(scope: Construct, on_input_fault: sfn.IChainable, again: sfn.IChainable) -> sfn.IChainable:
    """The caught job error -> REJECTED (the input's fault) or one more attempt (anything else)."""
    read = sfn.Pass(
        scope, "ReadMediaConvertError",
        parameters={"cause": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause"))},
        result_path=f"{ERROR_PATH}.parsed",
    )
    kind = sfn.Choice(scope, "InputFault?")
    for error in sorted(set(INPUT_FAULT_CODES.values())):
        codes = [code for code, name in INPUT_FAULT_CODES.items() if name == error]
        kind.when(_any_code(codes), sfn.Pass(
            scope, f"MediaConvert{error}",
            parameters={"Error": error, "Cause": sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause")},
            result_path="$.error",
        ).next(on_input_fault))
    read.next(kind.otherwise(again))
    # A Cause that is not a JSON object cannot be read: not the input's fault as far as anyone can tell.
    return (sfn.Choice(scope, "MediaConvertErrorReadable?")
            .when(sfn.Condition.string_matches(f"{ERROR_PATH}.Cause", "{*}"), read)
            .otherwise(again))


def _any_code(codes: list[int]) -> sfn.Condition:
    def at(path: str) -> sfn.Condition:
        path = f"{ERROR_PATH}.parsed.cause.{path}"
        # And/Or stop at the first answer, so a path that is absent is never compared.
        return sfn.Condition.and_(sfn.Condition.is_present(path), sfn.Condition.is_numeric(path),
                                  _one_of([sfn.Condition.number_equals(path, code) for code in codes]))
    return _one_of([at(path) for path in _CODE_PATHS])


def _one_of(conditions: list[sfn.Condition]) -> sfn.Condition:
    return conditions[0] if len(conditions) == 1 else sfn.Condition.or_(*conditions)
