"""The workers' network: S3 through the gateway endpoint, HTTPS out to the APIs they call, nothing else.

The frame workers (Batch on Fargate) and the render tasks (ECS RunTask from the workflow) share
one security group: no inbound rule, one outbound rule (TCP 443). Their subnets route S3
through the gateway endpoint. The inference endpoint has no outbound at all. Nothing bills by
the hour: no NAT gateway, no interface endpoint.
"""

import pytest


@pytest.fixture(scope="module")
def network(synth):
    return synth.stack.pipeline.network


def _resources(template_dict: dict, kind: str) -> dict[str, dict]:
    return {lid: r["Properties"] for lid, r in template_dict["Resources"].items() if r["Type"] == kind}


def test_the_workers_security_group_allows_https_out_and_nothing_in(synth, template_dict, network):
    group = template_dict["Resources"][synth.logical_id(network.workers_security_group)]

    assert group["Properties"]["SecurityGroupEgress"] == [{
        "CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "Description": "HTTPS to S3 (gateway endpoint), Step Functions, ECR and CloudWatch Logs"}]
    assert "SecurityGroupIngress" not in group["Properties"]
    workers = synth.logical_id(network.workers_security_group)
    standalone = [rule for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
                  for rule in _resources(template_dict, kind).values()
                  if rule.get("GroupId") == {"Fn::GetAtt": [workers, "GroupId"]}]
    assert standalone == []


def test_the_frame_workers_and_the_render_tasks_run_in_that_group_in_the_workers_subnets(
        synth, template_dict, network, workflow):
    workers = synth.logical_id(network.workers_security_group)
    public = [{"Ref": synth.logical_id(subnet)} for subnet in network.vpc.public_subnets]
    (compute,) = _resources(template_dict, "AWS::Batch::ComputeEnvironment").values()
    run_tasks = [state for state in _states(workflow) if state.get("Resource", "").startswith(
        "arn:${AWS::Partition}:states:::ecs:runTask")]

    assert compute["ComputeResources"]["SecurityGroupIds"] == [{"Fn::GetAtt": [workers, "GroupId"]}]
    assert compute["ComputeResources"]["Subnets"] == public
    assert run_tasks
    for state in run_tasks:
        vpc = state["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["SecurityGroups"] == [f"${{{workers}.GroupId}}"]
        assert vpc["Subnets"] == [f"${{{subnet['Ref']}}}" for subnet in public]


def test_s3_is_reached_through_the_gateway_endpoint_from_the_workers_subnets(synth, template_dict, network):
    (endpoint,) = _resources(template_dict, "AWS::EC2::VPCEndpoint").values()
    worker_tables = [{"Ref": synth.stack.get_logical_id(subnet.node.find_child("RouteTable"))}
                     for subnet in network.vpc.public_subnets]

    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"] == {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}
    assert all(table in endpoint["RouteTableIds"] for table in worker_tables)


def test_nothing_in_the_network_bills_by_the_hour(template_dict):
    assert _resources(template_dict, "AWS::EC2::NatGateway") == {}
    assert [e["VpcEndpointType"] for e in _resources(template_dict, "AWS::EC2::VPCEndpoint").values()] == ["Gateway"]


def test_the_inference_endpoint_has_no_way_out(synth, template_dict):
    group = template_dict["Resources"][synth.logical_id(synth.stack.pipeline.inference.security_group)]["Properties"]

    # CDK's placeholder for "no egress": ICMP type 252 code 86 to one broadcast address matches no real traffic.
    assert group["SecurityGroupEgress"] == [{"CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic",
                                             "FromPort": 252, "IpProtocol": "icmp", "ToPort": 86}]


def _states(definition: dict):
    """Every state of the definition, inside Parallel branches and Map iterators too."""
    for state in definition.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])

