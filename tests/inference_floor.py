"""The inference endpoint's floor in moto: the leases table and the scalable target, as the stack declares them.

Shared by test_warm_inference.py and test_release_inference.py (the `endpoint_floor` fixture is
in tests/unit/conftest.py). The warm floor differs from the idle floor here (the defaults are
both 1), so a test can tell which one is set; everything is read back with plain boto3.
"""

import boto3

from lambdas.common.events import EventLog
from lambdas.common.inference_floor import SCALABLE_DIMENSION
from lambdas.common.models import SourceObject

REGION = "us-east-1"
ENDPOINT = "videoflow-embeddings"
VARIANT = "AllTraffic"
LEASES_TABLE = "videoflow-inference-leases"
IDLE_INSTANCES, WARM_INSTANCES, MAX_INSTANCES = 1, 3, 4
RESOURCE_ID = f"endpoint/{ENDPOINT}/variant/{VARIANT}"
ENV = {
    "INFERENCE_ENDPOINT_NAME": ENDPOINT,
    "INFERENCE_VARIANT": VARIANT,
    "INFERENCE_LEASES_TABLE": LEASES_TABLE,
    "INFERENCE_IDLE_INSTANCES": str(IDLE_INSTANCES),
    "INFERENCE_WARM_INSTANCES": str(WARM_INSTANCES),
    "INFERENCE_MAX_INSTANCES": str(MAX_INSTANCES),
}


def job_state(job_id: str) -> dict:
    """The workflow state as WarmInference and ReleaseInference receive it (they read the job id)."""
    return {"job_id": job_id, "received_at": "2026-11-12T09:41:27+00:00",
            "source": SourceObject(bucket="videoflow-ingest", key=f"uploads/{job_id}.mp4", version_id="v1",
                                   size_bytes=1_000_000).model_dump(mode="json")}


class EndpointFloor:
    """Creates the leases table and the endpoint's scalable target at the idle floor; reads both back."""

    def __init__(self):
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=LEASES_TABLE,
            KeySchema=[{"AttributeName": "resource", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "resource", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self._autoscaling = boto3.client("application-autoscaling", region_name=REGION)
        self._autoscaling.register_scalable_target(  # as stacks/inference.py registers it at deploy time
            ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID, ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=IDLE_INSTANCES, MaxCapacity=MAX_INSTANCES,
        )

    def holders(self) -> set[str]:
        item = boto3.resource("dynamodb", region_name=REGION).Table(LEASES_TABLE).get_item(
            Key={"resource": ENDPOINT}).get("Item", {})
        return set(item.get("holders", ()))

    def capacity(self) -> tuple[int, int]:
        """(MinCapacity, MaxCapacity) of the endpoint variant's one scalable target."""
        (target,) = self._autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[RESOURCE_ID], ScalableDimension=SCALABLE_DIMENSION,
        )["ScalableTargets"]
        return target["MinCapacity"], target["MaxCapacity"]

    @staticmethod
    def events(job_id: str) -> list[tuple[str, str, dict]]:
        return [(event.type, event.step, event.detail) for event in EventLog("videoflow-events").read(job_id)]
