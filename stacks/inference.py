"""Layer 04, AI runtime: the latency-critical embedding endpoint on SageMaker.

A real-time endpoint cannot scale below one instance, so its idle cost is that instance's
price (see README, "Inference"): `inference_idle_instances` is the floor kept between jobs,
`inference_warm_instances` the floor while any job is in flight. warm_inference raises the
floor at ingest, so the endpoint has capacity by the time frames and transcript are ready;
release_inference lowers it when the last job in flight lets go. Target tracking on
invocations per instance scales between the floor and `inference_max_instances`.
"""

import hashlib
import os
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import (
    aws_applicationautoscaling as appscaling,
    aws_dynamodb as dynamodb,
    aws_ec2 as ec2,
    aws_ecr_assets as ecr_assets,
    aws_iam as iam,
    aws_kms as kms,
    aws_s3 as s3,
    aws_s3_assets as s3_assets,
    aws_sagemaker as sagemaker,
)
from constructs import Construct

from stacks.config import VideoFlowConfig
from stacks.nag import acknowledge, object_wildcard
from stacks.network import Network

ROOT = Path(__file__).resolve().parent.parent
VARIANT = "AllTraffic"
DATA_CAPTURE_PREFIX = "datacapture/"


def model_archive() -> Path:
    """model.tar.gz of the packaged model, built once per model content and kept in build/."""
    from containers.inference.model import default_model_dir, write_model_archive

    source = default_model_dir()
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(source)}:{path.stat().st_size}".encode())
    archive = ROOT / "build" / "model" / f"model-{digest.hexdigest()[:16]}.tar.gz"
    if not archive.exists():  # written aside, then renamed: synths side by side never see half of it
        partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
        write_model_archive(partial, source)
        partial.replace(archive)
    return archive


class InferenceEndpoint(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, network: Network, config: VideoFlowConfig,
                 capture_bucket: s3.IBucket):
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True,
            description="VideoFlow inference: the endpoint's storage volume",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(ROOT / "containers" / "inference"),
            build_args={"BACKEND": config.inference_backend},
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        artifact = s3_assets.Asset(self, "ModelArtifact", path=str(model_archive()))
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="VideoFlow inference: pull its image, read its model artifact, write its logs",
        )
        image.repository.grant_pull(self.role)
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[artifact.bucket.arn_for_objects(artifact.s3_object_key)],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], resources=["*"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[cdk.Stack.of(self).format_arn(
                service="logs", resource="log-group", resource_name="/aws/sagemaker/Endpoints/*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                     "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                     "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                     "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
            resources=["*"],
        ))
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description="VideoFlow inference endpoint: no inbound, no outbound (network isolation)",
        )
        isolated = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.model = sagemaker.CfnModel(
            self, "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.image_uri, model_data_url=artifact.s3_object_url,
                environment={"INFERENCE_BACKEND": config.inference_backend, "LOG_LEVEL": "INFO"},
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id], subnets=isolated.subnet_ids,
            ),
            # The server needs no network: SageMaker itself fetches the image and the artifact.
            enable_network_isolation=True,
        )
        self.model.node.add_dependency(self.role)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self, "EndpointConfig",
            kms_key_id=self.key.key_arn,
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT, model_name=self.model.attr_model_name,
                initial_instance_count=config.inference_idle_instances,
                instance_type=config.inference_instance_type,
            )],
            # Off by default: captured requests would store users' queries.
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=config.inference_data_capture_percent,
                destination_s3_uri=capture_bucket.s3_url_for_object(DATA_CAPTURE_PREFIX.rstrip("/")),
                kms_key_id=self.key.key_arn,
                capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode)
                                 for mode in ("Input", "Output")],
            ) if config.inference_data_capture_percent else None,
        )
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
            resources=[self.key.key_arn],
        ))
        if config.inference_data_capture_percent:
            self.role.add_to_policy(iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[capture_bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}*")],
            ))
            acknowledge(self.role, {object_wildcard(capture_bucket, DATA_CAPTURE_PREFIX):
                                    "SageMaker names captured request files by date and hour."})
        acknowledge(self.role, {
            "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken, cloudwatch:PutMetricData and the EC2 "
                                              "network-interface actions SageMaker needs for a VPC endpoint have no "
                                              "resource-level permissions.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/sagemaker/Endpoints/*]": "SageMaker writes the container's logs under the endpoint's log group; "
                                           "naming the endpoint here would make the role depend on it (a cycle).",
        })
        # Named, in lower case: SageMaker writes every ARN in lower case and IAM compares ARNs case by case,
        # so a policy naming a generated (mixed-case) endpoint name would never match InvokeEndpoint.
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            endpoint_name=f"{cdk.Stack.of(self).stack_name}-embeddings".lower(),
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        self.endpoint_arn = cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint.endpoint_name,
        )
        self.scaling = appscaling.ScalableTarget(
            self, "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=config.inference_idle_instances,
            max_capacity=config.inference_max_instances,
        )
        self.scaling.node.add_dependency(self.endpoint)
        self.scaling.scale_to_track_metric(
            "InvocationsPerInstance",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            target_value=config.inference_invocations_per_instance,
            scale_in_cooldown=cdk.Duration.minutes(10),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )
        # Jobs in flight hold a lease on the endpoint; the floor is raised while any does.
        self.leases = dynamodb.Table(
            self, "Leases",
            partition_key=dynamodb.Attribute(name="resource", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
