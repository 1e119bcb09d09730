"""Who holds the inference endpoint, and the capacity floor that follows from it.

Each job in flight is a member of one DynamoDB string set (ADD/DELETE are idempotent, so a
retried step changes nothing). While the set is not empty the endpoint's minimum capacity
is the warm floor; when the last job lets go it returns to the idle floor. The floor only
shapes latency: target tracking still scales on load, so a lost update is never an error.
"""

from lambdas.common import aws
from lambdas.common.models import Model
from lambdas.common.settings import Settings

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class InferenceFloor(Model):
    endpoint: str
    jobs_in_flight: int
    min_instances: int


def hold(job_id: str, settings: Settings) -> InferenceFloor:
    holders = _update(job_id, settings, "ADD")
    return _set_floor(settings, holders, settings.inference_warm_instances)


def release(job_id: str, settings: Settings) -> InferenceFloor:
    holders = _update(job_id, settings, "DELETE")
    return _set_floor(settings, holders, settings.inference_warm_instances if holders else
                      settings.inference_idle_instances)


def _update(job_id: str, settings: Settings, action: str) -> int:
    item = aws.table(settings.inference_leases_table).update_item(
        Key={"resource": settings.inference_endpoint_name},
        UpdateExpression=f"{action} holders :job",
        ExpressionAttributeValues={":job": {job_id}},
        ReturnValues="ALL_NEW",
    ).get("Attributes", {})
    return len(item.get("holders", ()))


def _set_floor(settings: Settings, holders: int, floor: int) -> InferenceFloor:
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{settings.inference_endpoint_name}/variant/{settings.inference_variant}",
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=floor,
        MaxCapacity=max(floor, settings.inference_max_instances),
    )
    return InferenceFloor(endpoint=settings.inference_endpoint_name, jobs_in_flight=holders, min_instances=floor)
