"""The embedding model (an inference component on an endpoint that scales to zero) and the search API."""

import json

import pytest

from stacks.config import VideoFlowConfig
from tests.infra import cfn


def _one(template_dict, type_: str) -> dict:
    (resource,) = cfn.resources(template_dict, type_).values()
    return resource["Properties"]


def test_the_model_runs_network_isolated_inside_the_vpc(template_dict):
    model = _one(template_dict, "AWS::SageMaker::Model")
    config = _one(template_dict, "AWS::SageMaker::EndpointConfig")

    for holder in (model, config):
        assert holder["EnableNetworkIsolation"] is True
        assert holder["VpcConfig"]["Subnets"] and holder["VpcConfig"]["SecurityGroupIds"]
    assert "ModelDataUrl" in model["PrimaryContainer"]


def test_the_endpoint_config_holds_no_model_and_scales_its_gpu_instances_down_to_zero(template_dict):
    config = _one(template_dict, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]

    assert "ExecutionRoleArn" in config
    # ml.g5 keeps its data on local NVMe storage, encrypted by the instance; SageMaker refuses a key for it.
    assert "KmsKeyId" not in config
    assert "DataCaptureConfig" not in config
    assert "ModelName" not in variant
    assert variant["InstanceType"] == "ml.g5.xlarge"
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}


def test_the_model_is_an_inference_component_of_the_endpoint_with_one_gpu_per_copy(synth, template_dict):
    component = _one(template_dict, "AWS::SageMaker::InferenceComponent")
    inference = synth.stack.pipeline.inference

    assert component["InferenceComponentName"] == "videoflow-embedding-minilm"
    assert component["EndpointName"] == {"Fn::GetAtt": [synth.stack.get_logical_id(inference.endpoint), "EndpointName"]}
    assert component["VariantName"] == "AllTraffic"
    assert component["Specification"]["ModelName"] == {"Fn::GetAtt": [synth.stack.get_logical_id(inference.model),
                                                                       "ModelName"]}
    assert component["Specification"]["ComputeResourceRequirements"] == {
        "MinMemoryRequiredInMb": 2048, "NumberOfCpuCoresRequired": 1, "NumberOfAcceleratorDevicesRequired": 1}
    assert component["RuntimeConfig"] == {"CopyCount": 1}  # the API's minimum at creation


def test_the_components_copies_scale_on_invocations_per_copy_from_zero_to_the_ceiling(synth, template_dict):
    target = _one(template_dict, "AWS::ApplicationAutoScaling::ScalableTarget")
    policy = _one(template_dict, "AWS::ApplicationAutoScaling::ScalingPolicy")
    scaling = cfn.resources(template_dict, "AWS::ApplicationAutoScaling::ScalableTarget")

    assert target["ServiceNamespace"] == "sagemaker"
    assert target["ResourceId"] == "inference-component/videoflow-embedding-minilm"
    assert target["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
    # The resource id is a name, not a reference: the target waits for the component explicitly.
    (target_id,) = scaling
    assert synth.stack.get_logical_id(synth.stack.pipeline.inference.component) in \
        cfn.as_list(template_dict["Resources"][target_id].get("DependsOn", []))
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "SageMakerInferenceComponentInvocationsPerCopy"


def test_the_leases_table_keeps_its_logical_id(synth):
    assert synth.logical_id(synth.stack.pipeline.inference.leases) == "PipelineInferenceLeasesAC7D861F"


@pytest.mark.parametrize(("step", "memory_mb", "timeout_s"), [("keyframe_inference", 3008, 900),
                                                              ("search_api", 2048, 29)])
def test_the_functions_that_embed_run_the_embedding_image_with_their_own_handler(template_dict, step, memory_mb,
                                                                                timeout_s):
    props = template_dict["Resources"][cfn.step_functions(template_dict)[step]]["Properties"]

    assert props["PackageType"] == "Image" and "Handler" not in props and "Layers" not in props
    assert props["ImageConfig"] == {"Command": [f"lambdas.{step}.handler.handler"]}
    assert (props["MemorySize"], props["Timeout"]) == (memory_mb, timeout_s)


def test_both_functions_that_embed_share_one_image_asset(template_dict):
    functions = cfn.step_functions(template_dict)
    images = {json.dumps(template_dict["Resources"][functions[step]]["Properties"]["Code"]["ImageUri"])
              for step in ("keyframe_inference", "search_api")}

    assert len(images) == 1


def test_the_embedding_image_holds_the_steps_common_code_and_the_encoder_at_their_package_paths(synth):
    (directory,) = [asset["source"]["directory"] for manifest in synth.outdir.glob("*.assets.json")
                    for asset in json.loads(manifest.read_text()).get("dockerImages", {}).values()
                    if (synth.outdir / asset["source"]["directory"] / "Dockerfile").read_text().count(
                        "lambdas.keyframe_inference.handler.handler")]
    staged = synth.outdir / directory

    for path in ("lambdas/keyframe_inference/handler.py", "lambdas/search_api/handler.py",
                 "lambdas/common/embedding.py", "containers/inference/model.py", "containers/__init__.py",
                 "requirements.txt"):
        assert (staged / path).is_file(), path
    assert not (staged / "lambdas" / "jobs_api").exists()  # only the steps it runs
    assert not list(staged.rglob("__pycache__"))


@pytest.mark.parametrize("step", ["warm_inference", "release_inference", "compensate", "handle_failure",
                                  "stall_monitor", "keyframe_inference", "search_api"])
def test_the_functions_of_the_model_are_told_its_endpoint_component_and_bounds(template_dict, step):
    environment = template_dict["Resources"][cfn.step_functions(template_dict)[step]]["Properties"][
        "Environment"]["Variables"]
    holders = {"INFERENCE_LEASES_TABLE", "INFERENCE_WARM_COPIES", "INFERENCE_MAX_COPIES"}

    (endpoint,) = cfn.resources(template_dict, "AWS::SageMaker::Endpoint")
    assert environment["INFERENCE_ENDPOINT_NAME"] == {"Fn::GetAtt": [endpoint, "EndpointName"]}
    assert environment["INFERENCE_COMPONENT_NAME"] == "videoflow-embedding-minilm"
    assert environment["INFERENCE_WARM_WAIT_S"] == "300"
    if step in ("keyframe_inference", "search_api"):
        assert not holders & set(environment)
    else:
        assert (environment["INFERENCE_WARM_COPIES"], environment["INFERENCE_MAX_COPIES"]) == ("1", "2")
        assert "INFERENCE_LEASES_TABLE" in environment
    assert not {"INFERENCE_VARIANT", "INFERENCE_IDLE_INSTANCES", "INFERENCE_WARM_INSTANCES",
                "INFERENCE_MAX_INSTANCES"} & set(environment)


def test_warm_and_release_surround_the_job_and_keyframe_inference_follows_the_analysis(workflow):
    states = workflow["States"]

    assert states["Duplicate?"]["Default"] == "WarmInference"
    assert states["Analysis"]["Next"] == "KeyframeInference"
    # Nothing after the index needs the endpoint: judgment and render run without holding it.
    assert states["KeyframeInference"]["Next"] == "ReleaseInference"
    assert states["AfterReleaseInference"]["Next"] == "CheckBudget"
    assert states["AfterRecordCost"]["Next"] == "PublishResults"
    # A failed job lets go of the endpoint in compensate (lambdas/compensate), after the execution ends.


def test_the_search_route_requires_iam_signatures_and_a_query(template_dict):
    methods = [m for m in cfn.resources(template_dict, "AWS::ApiGateway::Method").values()
               if m["Properties"]["HttpMethod"] == "GET"
               and "method.request.querystring.q" in m["Properties"].get("RequestParameters", {})]

    (method,) = methods
    assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
    assert method["Properties"]["RequestParameters"]["method.request.querystring.q"] is True
    assert "RequestValidatorId" in method["Properties"]


def test_no_function_may_invoke_or_scale_sagemaker_on_a_wildcard(template_dict):
    sagemaker = [statement for _, statement in cfn.statements(template_dict)
                 if any(action.startswith("sagemaker:") for action in cfn.as_list(statement["Action"]))]

    assert sagemaker and all("*" not in cfn.placeholder(resource) for s in sagemaker
                             for resource in cfn.as_list(s["Resource"]))


@pytest.mark.parametrize(("settings", "message"), [
    ({"inference_instance_type": "ml.c6i.large"}, "inference_backend=cupy needs an instance type with an NVIDIA GPU"),
    ({"inference_min_instances": 3}, "inference_min_instances=3 is more than inference_max_instances=2"),
    ({"inference_warm_copies": 3}, "inference_warm_copies=3 is more than inference_max_copies=2"),
    ({"inference_warm_wait_s": 700}, "less than or equal to 600"),
    ({"inference_min_instances": -1}, "greater than or equal to 0"),
    ({"inference_idle_instances": 1}, "Extra inputs are not permitted"),  # the old key, gone
])
def test_an_inconsistent_inference_configuration_is_refused_with_the_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        VideoFlowConfig.model_validate(settings)


def test_the_cpu_option_needs_no_gpu_and_asks_none_per_copy():
    from stacks.inference import InferenceEndpoint

    config = VideoFlowConfig(inference_instance_type="ml.c6i.large", inference_backend="numpy")
    requirements = InferenceEndpoint._copy_requirements(config)

    assert not config.inference_has_gpu
    assert requirements.number_of_accelerator_devices_required is None
    assert requirements.min_memory_required_in_mb == 2048


@pytest.mark.parametrize(("instance_type", "local"), [("ml.g5.xlarge", True), ("ml.g4dn.xlarge", True),
                                                    ("ml.p4d.24xlarge", True), ("ml.m5d.large", True),
                                                    ("ml.c6i.large", False), ("ml.g4ad.xlarge", True),
                                                    ("ml.p3.2xlarge", False)])
def test_instance_types_with_local_nvme_storage_are_known(instance_type, local):
    backend = "cupy" if instance_type.startswith(("ml.g", "ml.p")) else "numpy"
    config = VideoFlowConfig(inference_instance_type=instance_type, inference_backend=backend)

    assert config.inference_has_local_storage is local


def test_on_a_cpu_type_kept_at_rest_with_data_capture_the_volume_and_the_captures_are_encrypted_with_the_key(
        tmp_path):
    import aws_cdk as cdk
    from aws_cdk.assertions import Match, Template

    from stacks.app import STACK_NAME, build_app

    app = build_app(cdk.App(outdir=str(tmp_path), context={"videoflow": {
        "inference_data_capture_percent": 20, "inference_min_instances": 1,
        "inference_instance_type": "ml.c6i.large", "inference_backend": "numpy"}}))
    template = Template.from_stack(app.node.find_child(STACK_NAME))

    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "KmsKeyId": Match.any_value(),
        "DataCaptureConfig": Match.object_like({
            "EnableCapture": True, "InitialSamplingPercentage": 20, "KmsKeyId": Match.any_value(),
        }),
        "ProductionVariants": [Match.object_like({
            "InstanceType": "ml.c6i.large", "InitialInstanceCount": 1,
            "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 2}}),
        ],
    })
    template.has_resource_properties("AWS::SageMaker::InferenceComponent", {"Specification": Match.object_like({
        "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 2048, "NumberOfCpuCoresRequired": 1}})})
