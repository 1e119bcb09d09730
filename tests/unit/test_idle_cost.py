"""videoflow/idle_cost.py: the idle cost per month, priced from a template's resources.

A small hand-made template with one resource of each billing kind, and a price table of round figures,
so every expected figure is a hand calculation. The synthesized app's own figure is checked in
tests/infra/test_idle_cost.py.
"""

import json

import pytest

from lambdas.common.prices import PRICES
from videoflow.cost import add_cost_parser, run_cost
from videoflow.idle_cost import idle_cost

PRICES_ROUND = PRICES.model_copy(update={
    "version": "test-idle",
    "sagemaker_per_instance_hour": {"ml.g5.xlarge": 1.0},
    "nat_gateway_per_hour": 0.05,
    "interface_endpoint_per_az_hour": 0.01,
    "public_ipv4_per_hour": 0.005,
    "kms_key_per_month": 1.0,
    "cloudwatch_alarm_per_month": 0.10,
    "cloudwatch_high_resolution_alarm_per_month": 0.30,
    "ec2_per_vcpu_hour": 0.04,
})

TEMPLATE = {"Resources": {
    "Model": {"Type": "AWS::SageMaker::Model", "Properties": {}},
    "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
        {"InitialInstanceCount": 3, "InstanceType": "ml.g5.xlarge", "VariantName": "AllTraffic"}]}},
    "Endpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}, "EndpointName": "embeddings"}},
    "Floor": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
        "MinCapacity": 2, "MaxCapacity": 4, "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {"Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
                                         "/variant/AllTraffic"]]}}},
    "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
    "NatIp": {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}},
    "Interface": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
        "VpcEndpointType": "Interface", "SubnetIds": [{"Ref": "A"}, {"Ref": "B"}]}},
    "Gateway": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
    "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
    "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 300}},
    "FastAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 10}},
    "Ec2Compute": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {
        "Type": "managed", "ComputeResources": {"Type": "EC2", "MinvCpus": 4, "MaxvCpus": 16}}},
    "SpotCompute": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {
        "Type": "managed", "ComputeResources": {"Type": "FARGATE_SPOT", "MaxvCpus": 16}}},
    "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}},
    "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
}}


def test_each_billing_resource_is_a_line_priced_by_hand():
    cost = idle_cost(TEMPLATE, PRICES_ROUND)

    assert {item.logical_id: item.quantity for item in cost.items} == {
        "Endpoint": 2,  # the autoscaling floor, not the initial count
        "Nat": 1, "NatIp": 1,
        "Interface": 2,  # one per subnet (AZ)
        "Key": 1, "Alarm": 1, "FastAlarm": 1,
        "Ec2Compute": 4,  # MinvCpus; the Fargate Spot environment has none
    }
    assert {item.logical_id: item.usd_per_month for item in cost.items} == pytest.approx({
        "Endpoint": 2 * 1.0 * 730, "Nat": 0.05 * 730, "NatIp": 0.005 * 730, "Interface": 2 * 0.01 * 730,
        "Key": 1.0, "Alarm": 0.10, "FastAlarm": 0.30, "Ec2Compute": 4 * 0.04 * 730,
    })
    assert cost.total_usd_per_month == pytest.approx(1460 + 36.5 + 3.65 + 14.6 + 1 + 0.1 + 0.3 + 116.8)
    assert (cost.unclassified, cost.notes, cost.prices_version) == ([], [], "test-idle")


def test_without_a_scalable_target_the_endpoint_runs_its_initial_count():
    resources = {lid: r for lid, r in TEMPLATE["Resources"].items() if lid in ("Config", "Endpoint")}

    cost = idle_cost({"Resources": resources}, PRICES_ROUND)

    assert [(item.logical_id, item.quantity) for item in cost.items] == [("Endpoint", 3)]


def test_a_resource_neither_priced_nor_known_free_is_reported_not_priced_at_zero():
    resources = {"Box": {"Type": "AWS::EC2::Instance", "Properties": {}},
                 "Provisioned": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PROVISIONED"}}}

    cost = idle_cost({"Resources": resources}, PRICES_ROUND)

    assert cost.unclassified == ["Box (AWS::EC2::Instance)", "Provisioned (AWS::DynamoDB::Table)"]
    assert cost.total_usd_per_month == 0


def test_an_instance_type_without_a_price_is_a_note():
    config = {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
        {"InitialInstanceCount": 1, "InstanceType": "ml.unknown", "VariantName": "AllTraffic"}]}}
    resources = {"Config": config, "Endpoint": TEMPLATE["Resources"]["Endpoint"]}

    cost = idle_cost({"Resources": resources}, PRICES_ROUND)

    assert cost.items == [] and cost.notes[0].startswith("Endpoint: no SageMaker price for ml.unknown")


def _cost_args(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_cost_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["cost", *argv])


def test_cost_idle_prints_a_line_per_resource_and_the_total(tmp_path, capsys):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(TEMPLATE))

    code = run_cost(_cost_args("--idle", "--template", str(path)))

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[1].split()[:3] == ["resource", "what", "quantity"]
    assert lines[-1].split() == ["total", f"{idle_cost(TEMPLATE).total_usd_per_month:.2f}"]
    assert len(lines) == 2 + 8 + 1


def test_cost_idle_json_is_the_model(tmp_path, capsys):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(TEMPLATE))

    assert run_cost(_cost_args("--idle", "--json", "--template", str(path))) == 0

    assert json.loads(capsys.readouterr().out) == idle_cost(TEMPLATE).model_dump(mode="json")


def test_cost_without_a_job_or_idle_exits_2(capsys):
    assert run_cost(_cost_args()) == 2
    assert "--idle" in capsys.readouterr().err


# -- an endpoint for inference components: managed instance scaling sets what runs at rest -----------------

def _component_template(min_instances: int, min_copies: int = 0, tracking: dict | None = None) -> dict:
    """An endpoint whose variant holds no model, its inference component, and the component's scalable target."""
    return {"Resources": {
        "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [{
            "VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1,
            "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": min_instances, "MaxInstanceCount": 2},
        }]}},
        "Endpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}, "EndpointName": "embedding"}},
        "Component": {"Type": "AWS::SageMaker::InferenceComponent", "Properties": {
            "InferenceComponentName": "embedding-minilm", "EndpointName": {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
            "RuntimeConfig": {"CopyCount": 1}}},
        "Copies": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
            "ServiceNamespace": "sagemaker", "ResourceId": "inference-component/embedding-minilm",
            "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
            "MinCapacity": min_copies, "MaxCapacity": 2}},
        "Tracking": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {
            "PolicyType": "TargetTrackingScaling", "ScalingTargetId": {"Ref": "Copies"},
            "TargetTrackingScalingPolicyConfiguration": tracking or {
                "TargetValue": 600, "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}}}},
    }}


def test_an_endpoint_that_scales_to_zero_bills_no_instance_and_says_so():
    cost = idle_cost(_component_template(min_instances=0), PRICES_ROUND)

    (endpoint,) = [item for item in cost.items if item.logical_id == "Endpoint"]
    assert (endpoint.quantity, endpoint.usd_per_month) == (0, 0)
    assert endpoint.what == "endpoint at rest, scales to zero, ml.g5.xlarge (AllTraffic)"
    assert cost.notes == ["Endpoint: scales to zero (managed instance scaling, MinInstanceCount 0): "
                          "no instance bills with no job"]
    assert cost.unclassified == []  # the inference component is free at rest: its copies run on the instances


def test_an_endpoint_that_keeps_one_instance_bills_that_instance_every_hour():
    cost = idle_cost(_component_template(min_instances=1), PRICES_ROUND)

    (endpoint,) = [item for item in cost.items if item.logical_id == "Endpoint"]
    assert (endpoint.quantity, endpoint.unit, endpoint.unit_price_usd) == (1, "instance-hour", 1.0)
    assert endpoint.usd_per_month == pytest.approx(730.0)  # 1 instance x $1/h x 730 h


def test_a_component_that_keeps_copies_at_rest_keeps_an_instance_even_with_a_minimum_of_zero():
    cost = idle_cost(_component_template(min_instances=0, min_copies=1), PRICES_ROUND)

    (endpoint,) = [item for item in cost.items if item.logical_id == "Endpoint"]
    assert endpoint.quantity == 1 and endpoint.usd_per_month == pytest.approx(730.0)
    assert cost.notes == ["Endpoint: an inference component keeps copies at rest, so at least one instance runs"]


def test_a_target_tracking_policy_bills_the_two_alarms_application_auto_scaling_creates_for_it():
    cost = idle_cost(_component_template(min_instances=0), PRICES_ROUND)

    (alarms,) = [item for item in cost.items if item.logical_id == "Tracking"]
    assert (alarms.quantity, alarms.unit, alarms.usd_per_month) == (2, "alarm-month", pytest.approx(0.20))
    assert cost.total_usd_per_month == pytest.approx(0.20)


def test_a_target_tracking_policy_without_scale_in_on_a_high_resolution_metric_bills_one_high_resolution_alarm():
    tracking = {"TargetValue": 5, "DisableScaleIn": True, "PredefinedMetricSpecification": {
        "PredefinedMetricType": "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"}}

    cost = idle_cost(_component_template(min_instances=0, tracking=tracking), PRICES_ROUND)

    (alarms,) = [item for item in cost.items if item.logical_id == "Tracking"]
    assert (alarms.quantity, alarms.usd_per_month) == (1, pytest.approx(0.30))


def test_a_step_scaling_policy_is_free_its_alarm_is_a_resource_of_its_own():
    resources = {"Step": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {
        "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"}}}}

    cost = idle_cost({"Resources": resources}, PRICES_ROUND)

    assert (cost.items, cost.unclassified) == ([], [])
