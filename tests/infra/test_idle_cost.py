"""The synthesized app's idle cost (videoflow cost --idle): the README's figure, and no billing type skipped."""

import pytest

from lambdas.common.prices import HOURS_PER_MONTH, PRICES
from videoflow.idle_cost import FREE_AT_REST, idle_cost

# Types idle_cost prices (some only in a configuration: an Interface endpoint, an EC2 Batch minimum).
PRICED = {"AWS::SageMaker::Endpoint", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::VPCEndpoint",
          "AWS::KMS::Key", "AWS::KMS::ReplicaKey", "AWS::CloudWatch::Alarm", "AWS::Batch::ComputeEnvironment"}


def test_the_idle_cost_is_the_endpoint_floor_two_keys_and_five_alarms(template_dict):
    cost = idle_cost(template_dict)

    endpoint = 1 * PRICES.sagemaker_per_instance_hour["ml.g5.xlarge"] * HOURS_PER_MONTH
    assert cost.total_usd_per_month == pytest.approx(endpoint + 2 * 1.0 + 5 * 0.10, abs=0.01)
    assert cost.total_usd_per_month == pytest.approx(1030.34, abs=0.01)  # the README's table


def test_every_resource_type_of_the_template_is_priced_or_known_free_at_rest(template_dict):
    types = {resource["Type"] for resource in template_dict["Resources"].values()}

    unknown = {t for t in types if t not in PRICED and t not in FREE_AT_REST and not t.startswith("Custom::")}
    assert unknown == set()
    assert idle_cost(template_dict).unclassified == []
