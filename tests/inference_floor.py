"""The embedding model's holders and copies in moto: the leases table, the component's scalable target, and
the component itself (videoflow.local.inference_component, whose copy is the worker's inference server).

Shared by the unit tests of warm_inference, release_inference, handle_failure, compensate and
stall_monitor (the `endpoint_floor` fixture is in tests/unit/conftest.py). Everything is read back
with plain boto3, as an operator would.
"""

from contextlib import ExitStack

import boto3

from lambdas.common.events import EventLog
from lambdas.common.inference_floor import SCALABLE_DIMENSION
from lambdas.common.models import SourceObject
from videoflow.local.inference_component import LocalInferenceComponent

REGION = "us-east-1"
ENDPOINT = "videoflow-embeddings"
COMPONENT = "videoflow-embedder"
LEASES_TABLE = "videoflow-inference-leases"
WARM_COPIES, MAX_COPIES = 2, 3
RESOURCE_ID = f"inference-component/{COMPONENT}"
ENV = {
    "INFERENCE_ENDPOINT_NAME": ENDPOINT,
    "INFERENCE_COMPONENT_NAME": COMPONENT,
    "INFERENCE_LEASES_TABLE": LEASES_TABLE,
    "INFERENCE_WARM_COPIES": str(WARM_COPIES),
    "INFERENCE_MAX_COPIES": str(MAX_COPIES),
}


def job_state(job_id: str) -> dict:
    """The workflow state as WarmInference and ReleaseInference receive it (they read the job id)."""
    return {"job_id": job_id, "received_at": "2026-11-12T09:41:27+00:00",
            "source": SourceObject(bucket="videoflow-ingest", key=f"uploads/{job_id}.mp4", version_id="v1",
                                   size_bytes=1_000_000).model_dump(mode="json")}


class EndpointFloor:
    """The leases table, the component at zero copies and its scalable target at 0..MAX_COPIES, as deployed."""

    def __init__(self, server_url: str, stack: ExitStack):
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=LEASES_TABLE,
            KeySchema=[{"AttributeName": "resource", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "resource", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.component = stack.enter_context(
            LocalInferenceComponent(COMPONENT, ENDPOINT, copies=0, shared_url=server_url).installed())
        self._autoscaling = boto3.client("application-autoscaling", region_name=REGION)
        self._autoscaling.register_scalable_target(  # as stacks/inference.py registers it at deploy time
            ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID, ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=0, MaxCapacity=MAX_COPIES,
        )

    def holders(self) -> set[str]:
        item = boto3.resource("dynamodb", region_name=REGION).Table(LEASES_TABLE).get_item(
            Key={"resource": ENDPOINT}).get("Item", {})
        return set(item.get("holders", ()))

    def capacity(self) -> tuple[int, int]:
        """(MinCapacity, MaxCapacity) of the component's one scalable target."""
        (target,) = self._autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[RESOURCE_ID], ScalableDimension=SCALABLE_DIMENSION,
        )["ScalableTargets"]
        return target["MinCapacity"], target["MaxCapacity"]

    def copies(self) -> tuple[int, int]:
        """(DesiredCopyCount, CurrentCopyCount) once the component has settled, from DescribeInferenceComponent."""
        self.component.wait_until_in_service()
        runtime = boto3.client("sagemaker", region_name=REGION).describe_inference_component(
            InferenceComponentName=COMPONENT)["RuntimeConfig"]
        return runtime["DesiredCopyCount"], runtime["CurrentCopyCount"]

    def scheduled_actions(self) -> list[dict]:
        return self._autoscaling.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID,
                                                            ScalableDimension=SCALABLE_DIMENSION)["ScheduledActions"]

    @staticmethod
    def events(job_id: str) -> list[tuple[str, str, dict]]:
        return [(event.type, event.step, event.detail) for event in EventLog("videoflow-events").read(job_id)]
