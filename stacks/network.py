"""Layer 03, network: the VPC the frame workers, the render tasks and the inference endpoint share.

It has no NAT gateway, so it costs nothing at rest: workers run in public subnets with a
public IP and no inbound rule, and reach S3 through a free gateway endpoint. The endpoint
runs network-isolated in the isolated subnets.
"""

from aws_cdk import aws_ec2 as ec2
from constructs import Construct


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str):
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self, "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="workers", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={"Rejected": ec2.FlowLogOptions(traffic_type=ec2.FlowLogTrafficType.REJECT)},
        )
        self.workers_security_group = ec2.SecurityGroup(
            self, "Workers", vpc=self.vpc, allow_all_outbound=True,
            description="VideoFlow frame workers: no inbound traffic at all",
        )
