"""The synthesized app's idle cost (videoflow cost --idle): the README's figure, and no billing type skipped."""

import pytest

from lambdas.common.prices import PRICES
from videoflow.idle_cost import FREE_AT_REST, idle_cost

# Types idle_cost prices (some only in a configuration: an Interface endpoint, an EC2 Batch minimum, a
# target-tracking scaling policy).
PRICED = {"AWS::SageMaker::Endpoint", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::VPCEndpoint",
          "AWS::KMS::Key", "AWS::KMS::ReplicaKey", "AWS::CloudWatch::Alarm", "AWS::Batch::ComputeEnvironment",
          "AWS::ApplicationAutoScaling::ScalingPolicy"}
TARGET_USD_PER_MONTH = 5.0  # issue 11: an idle deployment costs almost nothing


def test_the_idle_cost_is_two_keys_and_seven_alarms_for_the_endpoint_scales_to_zero(template_dict):
    cost = idle_cost(template_dict)

    (endpoint,) = [item for item in cost.items if item.resource_type == "AWS::SageMaker::Endpoint"]
    assert (endpoint.quantity, endpoint.usd_per_month) == (0, 0)
    assert "scales to zero" in endpoint.what
    # Two KMS keys, the five alarms of the stack and the two Application Auto Scaling makes for target tracking.
    assert cost.total_usd_per_month == pytest.approx(2 * PRICES.kms_key_per_month
                                                     + 7 * PRICES.cloudwatch_alarm_per_month, abs=0.01)
    assert cost.total_usd_per_month == pytest.approx(2.70, abs=0.01)  # the README's table
    assert cost.total_usd_per_month <= TARGET_USD_PER_MONTH


def test_every_resource_type_of_the_template_is_priced_or_known_free_at_rest(template_dict):
    types = {resource["Type"] for resource in template_dict["Resources"].values()}

    unknown = {t for t in types if t not in PRICED and t not in FREE_AT_REST and not t.startswith("Custom::")}
    assert unknown == set()
    assert idle_cost(template_dict).unclassified == []
