"""Layer 04, AI runtime: the embedding model as a SageMaker inference component that scales to zero.

The endpoint holds no model of its own: the model runs as an inference component (its copies)
on instances that managed instance scaling adds and removes, down to `inference_min_instances`
(0 by default: with no copy, no instance, nothing bills). At rest the component has no copy.
warm_inference asks for `inference_warm_copies` at ingest (the scalable target's minimum, then the
copies), so the minutes that scaling from zero takes overlap MediaConvert and the analysis;
release_inference sets the minimum and the copies back to zero when the last job in flight lets
go. Target tracking on invocations per copy adds copies up to `inference_max_copies` meanwhile.
A function that finds no copy embeds on CPU itself with the same model (containers/embedding).

What this relies on (SageMaker developer guide, "Scale an endpoint to zero instances", and the
API reference): scale to zero needs an endpoint that hosts inference components, whose endpoint
config has an ExecutionRoleArn, no model on its variant, ManagedInstanceScaling with
MinInstanceCount 0 and the component registered as a scalable target
(`inference-component/<name>`, `sagemaker:inference-component:DesiredCopyCount`) with
MinCapacity 0. ComputeResourceRequirements.MinMemoryRequiredInMb is required (at least 128);
NumberOfAcceleratorDevicesRequired gives a copy its GPU. CreateInferenceComponent refuses
CopyCount 0 (reported from the API in stdapi-ai/stdapi.ai#43), so a new component starts with
one copy; the first release, or the stall monitor finding no holder, takes it down to zero.
An endpoint config's KmsKeyId is refused for instance types with local NVMe storage (ml.g5 among
them, API reference, CreateEndpointConfig): there the instance encrypts it, and the key is used
for captured data only.
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
SCALABLE_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
# Created with one copy (the API's minimum): it serves until the first release takes it to zero.
INITIAL_COPIES = 1
LOG_GROUPS = ("/aws/sagemaker/Endpoints/*", "/aws/sagemaker/InferenceComponents/*")


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


def names(stack_name: str) -> tuple[str, str]:
    """(endpoint, inference component) names, in lower case: SageMaker writes every ARN in lower case and IAM
    compares ARNs case by case, so a policy naming a mixed-case name would never match the call."""
    return f"{stack_name}-embedding".lower(), f"{stack_name}-embedding-minilm".lower()


class InferenceEndpoint(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, network: Network, config: VideoFlowConfig,
                 capture_bucket: s3.IBucket):
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # A new endpoint name (it was "<stack>-embeddings" with a model on its variant): CloudFormation
        # replaces that endpoint rather than asking SageMaker to turn it into one for inference components.
        endpoint_name, component_name = names(stack.stack_name)
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True,
            description="VideoFlow inference: the endpoint's storage volume (types without local NVMe) and captured data",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(ROOT / "containers" / "inference"),
            build_args={"BACKEND": config.inference_backend},
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        artifact = s3_assets.Asset(self, "ModelArtifact", path=str(model_archive()))
        self.role = self._role(image, artifact)
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
            # The instance's storage volume, where it is one; local NVMe storage is encrypted by the instance
            # itself, and SageMaker refuses a key for it (config.inference_has_local_storage).
            kms_key_id=None if config.inference_has_local_storage else self.key.key_arn,
            # An endpoint for inference components: the role, the network isolation and the VPC are the
            # endpoint's, and its variant names instances, not a model.
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=True,
            vpc_config=sagemaker.CfnEndpointConfig.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id], subnets=isolated.subnet_ids,
            ),
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                instance_type=config.inference_instance_type,
                # The endpoint starts with one instance (for the component's first copy); managed instance
                # scaling then keeps between the minimum (0: none at rest) and the maximum.
                initial_instance_count=max(1, config.inference_min_instances),
                managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                    status="ENABLED",
                    min_instance_count=config.inference_min_instances,
                    max_instance_count=config.inference_max_instances,
                ),
                routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                    routing_strategy="LEAST_OUTSTANDING_REQUESTS"),
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
        self.endpoint_config.node.add_dependency(self.role)
        self._allow_encryption_and_capture(config, capture_bucket)
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            endpoint_name=endpoint_name,
        )
        self.endpoint_name = self.endpoint.attr_endpoint_name
        self.endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)
        self.component = sagemaker.CfnInferenceComponent(
            self, "Component",
            inference_component_name=component_name,
            endpoint_name=self.endpoint.attr_endpoint_name,
            variant_name=VARIANT,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=self.model.attr_model_name,
                compute_resource_requirements=self._copy_requirements(config),
            ),
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
                copy_count=INITIAL_COPIES),
        )
        self.component_name = component_name
        self.component_arn = stack.format_arn(service="sagemaker", resource="inference-component",
                                              resource_name=component_name)
        self.scaling_resource_id = f"inference-component/{component_name}"
        self.scaling = appscaling.ScalableTarget(
            self, "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=self.scaling_resource_id,
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=0,
            max_capacity=config.inference_max_copies,
        )
        self.scaling.node.add_dependency(self.component)  # its resource id names the component, not a reference
        # Application Auto Scaling creates this policy's two CloudWatch alarms when it is deployed.
        self.scaling.scale_to_track_metric(
            "InvocationsPerCopy",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            target_value=config.inference_invocations_per_copy,
            scale_in_cooldown=cdk.Duration.minutes(10),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )
        # Jobs in flight hold a lease on the model; it keeps copies while any does.
        self.leases = dynamodb.Table(
            self, "Leases",
            partition_key=dynamodb.Attribute(name="resource", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    @staticmethod
    def _copy_requirements(config: VideoFlowConfig):
        """What one copy reserves on an instance: memory and cores, and on a GPU type one GPU (without it the
        copy's container would see no GPU)."""
        return sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
            min_memory_required_in_mb=config.inference_copy_memory_mb,
            number_of_cpu_cores_required=config.inference_copy_cpu_cores,
            number_of_accelerator_devices_required=1 if config.inference_has_gpu else None,
        )

    def _role(self, image: ecr_assets.DockerImageAsset, artifact: s3_assets.Asset) -> iam.Role:
        role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="VideoFlow inference: pull its image, read its model artifact, write its logs",
        )
        image.repository.grant_pull(role)
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[artifact.bucket.arn_for_objects(artifact.s3_object_key)],
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], resources=["*"],
        ))
        stack = cdk.Stack.of(self)
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[stack.format_arn(service="logs", resource="log-group", resource_name=group,
                                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME) for group in LOG_GROUPS],
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                     "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                     "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                     "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
            resources=["*"],
        ))
        logs = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        acknowledge(role, {
            "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken, cloudwatch:PutMetricData and the EC2 "
                                              "network-interface actions SageMaker needs for a VPC endpoint have no "
                                              "resource-level permissions.",
            f"{logs}{LOG_GROUPS[0]}]": "SageMaker writes the endpoint's logs under its log group and names the "
                                       "streams itself.",
            f"{logs}{LOG_GROUPS[1]}]": "SageMaker writes each copy's container logs under the inference "
                                       "component's log group and names the streams itself.",
        })
        return role

    def _allow_encryption_and_capture(self, config: VideoFlowConfig, capture_bucket: s3.IBucket) -> None:
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
