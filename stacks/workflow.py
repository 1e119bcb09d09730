"""Layer 02, orchestration: the Step Functions definition of one job.

Every task retries transient errors by name and catches everything else into
HandleFailure, which records REJECTED (the input's fault, never retried) or FAILED. State
carries references only; each step stores its small result under its own path.
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.common.errors import TransientError
from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction

# Step Functions' default Lambda retry omits throttling; name it explicitly.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    TransientError.__name__,
]
MEDIACONVERT_TRANSIENT_ERRORS = [
    "MediaConvert.TooManyRequestsException",
    "MediaConvert.InternalServerErrorException",
    "MediaConvert.ServiceQuotaExceededException",
]


class JobWorkflow(Construct):
    """Builds the chain of states; the caller wraps it in a state machine."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, PipelineFunction],
        mediaconvert_role: iam.IRole,
        config: VideoFlowConfig,
    ):
        super().__init__(scope, construct_id)
        self._functions = functions

        failed = sfn.Fail(self, "JobFailed", error="VideoFlow.JobFailed", cause="See the job's events for the reason.")
        handle_failure = self._step("HandleFailure", "handle_failure", "$.failure", catch=False)
        handle_failure.add_catch(failed, errors=["States.ALL"], result_path="$.failure_error")
        handle_failure.next(
            sfn.Choice(self, "Rejected?")
            .when(sfn.Condition.string_equals("$.failure.status", "REJECTED"), sfn.Succeed(self, "Rejected"))
            .otherwise(failed)
        )
        self._on_error = handle_failure

        derivatives = tasks.MediaConvertCreateJob(
            self, "Derivatives",
            create_job_request={
                "Role": mediaconvert_role.role_arn,
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
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(config.mediaconvert_timeout_min)),
        )
        derivatives.add_retry(
            errors=MEDIACONVERT_TRANSIENT_ERRORS,
            interval=cdk.Duration.seconds(5),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        derivatives.add_catch(handle_failure, errors=["States.ALL"], result_path="$.error")

        publish = self._step("PublishResults", "publish_results", "$.result")
        process = (
            self._step("BuildMediaConvertJob", "build_mediaconvert_job", "$.mediaconvert")
            .next(derivatives)
            .next(self._step("RecordDerivatives", "record_derivatives", "$.derivatives"))
            .next(self._step("BuildFrameManifest", "build_frame_manifest", "$.frame_manifest"))
            .next(publish)
        )
        self.chain = (
            self._step("ValidateUpload", "validate_upload", "$.upload")
            .next(self._step("ProbeMedia", "probe_media", "$.media"))
            .next(self._step("EnforceLimits", "enforce_limits", "$.limits"))
            .next(self._step("RegisterJob", "register_job", "$.job"))
            .next(self._step("CheckDuplicate", "check_duplicate", "$.duplicate"))
            .next(
                sfn.Choice(self, "Duplicate?")
                # The same content was already processed: publish its results, pay for nothing.
                .when(sfn.Condition.is_string("$.duplicate.duplicate_of"), publish)
                .otherwise(process)
            )
        )
        publish.next(sfn.Succeed(self, "Completed"))

    def _step(self, state_name: str, function: str, result_path: str, *, catch: bool = True) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, state_name,
            lambda_function=self._functions[function].function,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
            # The function's own timeout plus room for a cold start.
            task_timeout=sfn.Timeout.duration(self._functions[function].timeout.plus(cdk.Duration.seconds(30))),
        )
        task.add_retry(
            errors=LAMBDA_TRANSIENT_ERRORS,
            interval=cdk.Duration.seconds(2),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        if catch:
            task.add_catch(self._on_error, errors=["States.ALL"], result_path="$.error")
        return task
