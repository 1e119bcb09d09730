"""The inference endpoint and the search API as synthesized."""

from tests.infra import cfn


def _one(template_dict, type_: str) -> dict:
    (resource,) = cfn.resources(template_dict, type_).values()
    return resource["Properties"]


def test_the_model_runs_network_isolated_inside_the_vpc(template_dict):
    model = _one(template_dict, "AWS::SageMaker::Model")

    assert model["EnableNetworkIsolation"] is True
    assert model["VpcConfig"]["Subnets"] and model["VpcConfig"]["SecurityGroupIds"]
    assert "ModelDataUrl" in model["PrimaryContainer"]


def test_the_endpoint_config_is_encrypted_has_no_data_capture_and_uses_the_configured_gpu_instance(template_dict):
    config = _one(template_dict, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]

    assert "KmsKeyId" in config
    assert "DataCaptureConfig" not in config
    assert variant["InstanceType"].startswith("ml.g")
    assert variant["InitialInstanceCount"] >= 1


def test_the_endpoint_scales_on_invocations_per_instance_between_the_floor_and_the_ceiling(template_dict):
    target = _one(template_dict, "AWS::ApplicationAutoScaling::ScalableTarget")
    policy = _one(template_dict, "AWS::ApplicationAutoScaling::ScalingPolicy")

    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert 1 <= target["MinCapacity"] <= target["MaxCapacity"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


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


def test_the_search_function_may_invoke_only_the_endpoint(template_dict):
    invoking = [statement for _, statement in cfn.statements(template_dict)
                if "sagemaker:InvokeEndpoint" in cfn.as_list(statement["Action"])]

    assert invoking and all("*" not in cfn.as_list(s["Resource"]) for s in invoking)


def test_data_capture_when_turned_on_goes_encrypted_to_its_own_prefix(tmp_path):
    import aws_cdk as cdk
    from aws_cdk.assertions import Match, Template

    from stacks.app import STACK_NAME, build_app

    app = build_app(cdk.App(outdir=str(tmp_path), context={"videoflow": {"inference_data_capture_percent": 20}}))
    template = Template.from_stack(app.node.find_child(STACK_NAME))

    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "DataCaptureConfig": Match.object_like({
            "EnableCapture": True, "InitialSamplingPercentage": 20, "KmsKeyId": Match.any_value(),
        }),
    })
