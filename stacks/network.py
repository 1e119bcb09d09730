"""Layer 03, network: the VPC the frame workers, the render tasks and the inference endpoint share.

It has no NAT gateway and no interface endpoint, so it costs nothing at rest: workers run in
public subnets with a public IP and no inbound rule, and reach S3 through a free gateway
endpoint (a route in their subnets' route tables, so S3 traffic in the region never leaves it).
The endpoint runs network-isolated in the isolated subnets.

What the workers may reach is what they call, over HTTPS: S3 (through the gateway endpoint),
Step Functions (the render task's heartbeats and result), and what Fargate itself needs for the
task (ECR for the image, CloudWatch Logs). Their security group allows outbound TCP 443 and
nothing else: no plain HTTP, no other port, no UDP (DNS goes to the VPC's resolver, which no
security group filters). Those APIs have no fixed addresses without interface endpoints (about
$7 a month each per zone, which would break "idle is zero"), so 443 is open to any address; the
ffmpeg they run on uploads reads only local files (`-protocol_whitelist file`).
"""

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

HTTPS = 443


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
            self, "Workers", vpc=self.vpc, allow_all_outbound=False,
            description="VideoFlow frame workers and render tasks: no inbound; outbound HTTPS to AWS APIs only",
        )
        self.workers_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS),
            "HTTPS to S3 (gateway endpoint), Step Functions, ECR and CloudWatch Logs",
        )
