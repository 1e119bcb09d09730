"""Who holds the embedding model, and how many copies of it run as a result.

The model is a SageMaker inference component on an endpoint that scales to zero instances
(stacks/inference.py): with no copy, no instance runs and nothing bills. Each job in flight is
a member of one DynamoDB string set (ADD/DELETE are idempotent, so a retried step changes
nothing). The first job in asks for its copies at once, so the minutes SageMaker takes to
start an instance overlap MediaConvert and the analysis; its scalable target's minimum is
raised too, so target tracking never scales a held model in. When the last job lets go, the
minimum returns to zero and so do the copies.

A hold taken while the last holder was releasing could see its copy removed: release reads
the set again after scaling in and puts the copies back if anyone holds them. And whatever
still goes wrong only costs latency: a function that finds no copy embeds on CPU itself
(lambdas/common/embedding.py), and the stall monitor lets go of holders whose job has ended.
"""

import logging
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from lambdas.common import aws
from lambdas.common.models import Model
from lambdas.common.settings import InferenceSettings

SCALABLE_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
logger = logging.getLogger(__name__)


class InferenceFloor(Model):
    endpoint: str
    component: str
    jobs_in_flight: int
    copies: int  # copies asked for after this change (0: the endpoint scales to zero)
    asked_at: str | None = None  # when a hold asked for them: now, or later by a scheduled action


def hold(job_id: str, settings: InferenceSettings, ask_in_s: float = 0.0) -> InferenceFloor:
    """Take the job's lease and ask for its copies: now, or `ask_in_s` from now through a scheduled action
    of the component's scalable target (its minimum rises then, and Application Auto Scaling scales out to it)."""
    holders = _update(job_id, settings, "ADD")
    now = datetime.now(UTC).replace(microsecond=0)
    if ask_in_s >= 1:
        at = now + timedelta(seconds=round(ask_in_s))
        aws.client("application-autoscaling").put_scheduled_action(
            ServiceNamespace="sagemaker", ScheduledActionName=_scheduled_action(job_id),
            ResourceId=_resource_id(settings), ScalableDimension=SCALABLE_DIMENSION,
            Schedule=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})", Timezone="UTC",
            ScalableTargetAction={"MinCapacity": settings.inference_warm_copies,
                                  "MaxCapacity": max(settings.inference_warm_copies, settings.inference_max_copies)},
        )
        return _floor(settings, len(holders), settings.inference_warm_copies, asked_at=at)
    _set_copies(settings, settings.inference_warm_copies)
    return _floor(settings, len(holders), settings.inference_warm_copies, asked_at=now)


def release(job_id: str, settings: InferenceSettings) -> InferenceFloor:
    _cancel_scheduled_ask(job_id, settings)
    holders = _update(job_id, settings, "DELETE")
    if holders:
        return _floor(settings, len(holders), settings.inference_warm_copies)
    _set_copies(settings, 0)
    holders = current_holders(settings)
    if holders:  # someone took hold while the copies were going: they get them back
        _set_copies(settings, settings.inference_warm_copies)
        return _floor(settings, len(holders), settings.inference_warm_copies)
    return _floor(settings, 0, 0)


def settle(settings: InferenceSettings) -> InferenceFloor | None:
    """Copies that nobody holds go to zero (a fresh deploy or a stack update starts the component with one: SageMaker
    creates none with zero); held ones are put back. None when the copies already match the holders."""
    holders = current_holders(settings)
    desired = _desired_copies(settings)
    if not holders and desired:
        _set_copies(settings, 0)
        return _floor(settings, 0, 0)
    if holders and desired < settings.inference_warm_copies:
        _set_copies(settings, settings.inference_warm_copies)
        return _floor(settings, len(holders), settings.inference_warm_copies)
    return None


def current_holders(settings: InferenceSettings) -> set[str]:
    item = aws.table(settings.inference_leases_table).get_item(
        Key={"resource": settings.inference_endpoint_name}, ConsistentRead=True).get("Item", {})
    return set(item.get("holders", ()))


def _update(job_id: str, settings: InferenceSettings, action: str) -> set[str]:
    item = aws.table(settings.inference_leases_table).update_item(
        Key={"resource": settings.inference_endpoint_name},
        UpdateExpression=f"{action} holders :job",
        ExpressionAttributeValues={":job": {job_id}},
        ReturnValues="ALL_NEW",
    ).get("Attributes", {})
    return set(item.get("holders", ()))


def _resource_id(settings: InferenceSettings) -> str:
    return f"inference-component/{settings.inference_component_name}"


def _scheduled_action(job_id: str) -> str:
    return f"videoflow-ask-{job_id}"


def _cancel_scheduled_ask(job_id: str, settings: InferenceSettings) -> None:
    """A job that lets go before its scheduled ask came (it failed, or ran faster) must not ask afterwards."""
    try:
        aws.client("application-autoscaling").delete_scheduled_action(
            ServiceNamespace="sagemaker", ScheduledActionName=_scheduled_action(job_id),
            ResourceId=_resource_id(settings), ScalableDimension=SCALABLE_DIMENSION)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException":
            raise


def _set_copies(settings: InferenceSettings, copies: int) -> None:
    """The scalable target's minimum first (so target tracking keeps the copies), then the copies themselves."""
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=_resource_id(settings),
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=copies,
        MaxCapacity=max(copies, settings.inference_max_copies),
    )
    desired = _desired_copies(settings)
    # Holding never takes copies away (target tracking may have added some); releasing sets zero.
    if (copies and desired < copies) or (not copies and desired):
        try:
            aws.client("sagemaker").update_inference_component_runtime_config(
                InferenceComponentName=settings.inference_component_name, DesiredRuntimeConfig={"CopyCount": copies})
        except ClientError as error:
            # An update already in progress refuses another; the scalable target's new minimum still
            # brings the copies there once it ends (and a release is re-read by the stall monitor).
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            logger.warning("inference component busy; its minimum is set, the copies follow",
                           extra={"copies": copies, "error": str(error)})


def _desired_copies(settings: InferenceSettings) -> int:
    return aws.client("sagemaker").describe_inference_component(
        InferenceComponentName=settings.inference_component_name).get("RuntimeConfig", {}).get("DesiredCopyCount", 0)


def _floor(settings: InferenceSettings, holders: int, copies: int, asked_at: datetime | None = None) -> InferenceFloor:
    return InferenceFloor(endpoint=settings.inference_endpoint_name, component=settings.inference_component_name,
                          jobs_in_flight=holders, copies=copies, asked_at=asked_at.isoformat() if asked_at else None)
