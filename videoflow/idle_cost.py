"""What the deployed stack costs in a month with no job at all, computed from the synthesized template.

    videoflow cost --idle [--json] [--template FILE]

`idle_cost(template)` walks the template's Resources and prices, from the one price table
(lambdas/common/prices.py), every resource that bills by the hour or the month while nothing runs:
SageMaker endpoint instances (with managed instance scaling, its MinInstanceCount: 0 scales to zero;
else the autoscaling floor, else the initial count), NAT gateways, interface VPC endpoints (per
subnet, that is per AZ), KMS keys, CloudWatch alarms (also the two that Application Auto Scaling
creates at deploy for each target-tracking policy: they are ordinary alarms in the account and bill
as such), the minimum vCPUs of a Batch EC2 compute environment (Fargate ones have none), Elastic IPs
(public IPv4). An inference component bills nothing itself: its copies run on the endpoint's
instances. Out of scope: stored data and logs (S3, DynamoDB storage, CloudWatch Logs, ECR), which
grow with use.

Every other resource type must be in FREE_AT_REST; a type in neither list is reported in
`unclassified`, so a new billing resource is never silently priced at zero.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from lambdas.common.prices import HOURS_PER_MONTH, PRICES, Prices

# Free with no job running (billed per request, per run or per GB stored, which is out of scope). A
# predicate instead of True: free only in that configuration (e.g. an on-demand DynamoDB table).
FREE_AT_REST: dict[str, Callable[[dict], bool] | bool] = {
    **dict.fromkeys([
        "AWS::ApiGateway::Account", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Model", "AWS::ApiGateway::RequestValidator", "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Stage",
        "AWS::ApplicationAutoScaling::ScalableTarget",  # its MinCapacity is read with the endpoint it scales
        "AWS::Batch::JobDefinition", "AWS::Batch::JobQueue", "AWS::EC2::FlowLog", "AWS::EC2::InternetGateway",
        "AWS::EC2::Route", "AWS::EC2::RouteTable", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress", "AWS::EC2::Subnet", "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC", "AWS::EC2::VPCGatewayAttachment", "AWS::ECS::Cluster", "AWS::ECS::TaskDefinition",
        "AWS::ECR::Repository", "AWS::Events::Rule", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy",
        "AWS::IAM::Role", "AWS::KMS::Alias", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Function", "AWS::Lambda::LayerVersion", "AWS::Lambda::Permission", "AWS::Logs::LogGroup",
        "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription", "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
        "AWS::SageMaker::EndpointConfig",  # its instances are priced with the endpoint that runs them
        "AWS::SageMaker::Model", "AWS::Scheduler::Schedule", "AWS::StepFunctions::StateMachine",
        "AWS::SageMaker::InferenceComponent",  # its copies run on the endpoint's instances, priced with it
        "AWS::CDK::Metadata", "AWS::CloudFormation::CustomResource",
    ], True),
    "AWS::DynamoDB::Table": lambda props: props.get("BillingMode") == "PAY_PER_REQUEST",
    "AWS::ApiGateway::Stage": lambda props: not props.get("CacheClusterEnabled"),
    "AWS::EC2::VPCEndpoint": lambda props: props.get("VpcEndpointType", "Gateway") == "Gateway",
    "AWS::Batch::ComputeEnvironment": lambda props: not (props.get("ComputeResources") or {}).get("MinvCpus"),
    # A step-scaling policy creates no alarm (its alarms are AWS::CloudWatch::Alarm resources of their own).
    "AWS::ApplicationAutoScaling::ScalingPolicy": lambda props: "TargetTrackingScalingPolicyConfiguration" not in props,
}


class IdleItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    logical_id: str
    resource_type: str
    what: str
    quantity: float
    unit: str  # what the unit price is per: "instance-hour", "key-month", ...
    unit_price_usd: float
    usd_per_month: float


class IdleCost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prices_version: str
    region: str
    currency: str
    hours_per_month: int
    items: list[IdleItem]
    total_usd_per_month: float
    unclassified: list[str]  # "LogicalId (Type)" of resources neither priced nor known free at rest
    notes: list[str]


def idle_cost(template: dict, prices: Prices = PRICES) -> IdleCost:
    """Price every resource of `template` that bills with no job running, for HOURS_PER_MONTH hours."""
    resources: dict = template.get("Resources", {})
    items: list[IdleItem] = []
    unclassified: list[str] = []
    notes: list[str] = []

    def hourly(lid, rtype, what, quantity, unit, per_hour):
        items.append(IdleItem(logical_id=lid, resource_type=rtype, what=what, quantity=quantity, unit=unit,
                              unit_price_usd=per_hour, usd_per_month=quantity * per_hour * HOURS_PER_MONTH))

    def monthly(lid, rtype, what, quantity, unit, per_month):
        items.append(IdleItem(logical_id=lid, resource_type=rtype, what=what, quantity=quantity, unit=unit,
                              unit_price_usd=per_month, usd_per_month=quantity * per_month))

    floors = _autoscaling_floors(resources)
    for lid, resource in resources.items():
        rtype, props = resource.get("Type", ""), resource.get("Properties") or {}
        if rtype == "AWS::SageMaker::Endpoint":
            config = resources.get(next(iter(_refs(props.get("EndpointConfigName"))), ""), {})
            for variant in (config.get("Properties") or {}).get("ProductionVariants", []):
                instance_type, name = variant.get("InstanceType"), variant.get("VariantName", "")
                if not instance_type:  # serverless: billed per request
                    continue
                count, what = _instances_at_rest(lid, variant, floors, notes)
                rate = prices.sagemaker_per_instance_hour.get(instance_type)
                if rate is None:
                    notes.append(f"{lid}: no SageMaker price for {instance_type}; its {count} instance(s) not counted")
                    continue
                hourly(lid, rtype, f"{what}, {instance_type} ({name})", count, "instance-hour", rate)
        elif rtype == "AWS::ApplicationAutoScaling::ScalingPolicy" and "TargetTrackingScalingPolicyConfiguration" in props:
            tracking = props["TargetTrackingScalingPolicyConfiguration"]
            alarms = 1 if tracking.get("DisableScaleIn") else 2  # high, and low unless scale-in is off
            metric = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "")
            high = metric.endswith("HighResolution")
            monthly(lid, rtype, "target-tracking alarms (made at deploy)" + (", high resolution" if high else ""),
                    alarms, "alarm-month",
                    prices.cloudwatch_high_resolution_alarm_per_month if high else prices.cloudwatch_alarm_per_month)
        elif rtype == "AWS::EC2::NatGateway":
            hourly(lid, rtype, "NAT gateway", 1, "gateway-hour", prices.nat_gateway_per_hour)
        elif rtype == "AWS::EC2::EIP":
            hourly(lid, rtype, "Elastic IP (public IPv4)", 1, "address-hour", prices.public_ipv4_per_hour)
        elif rtype == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
            azs = len(props.get("SubnetIds") or []) or 1
            hourly(lid, rtype, f"interface endpoint, {azs} AZ", azs, "endpoint-AZ-hour",
                   prices.interface_endpoint_per_az_hour)
        elif rtype in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
            monthly(lid, rtype, "KMS key", 1, "key-month", prices.kms_key_per_month)
        elif rtype == "AWS::CloudWatch::Alarm":
            high = 0 < int(props.get("Period", 60)) < 60
            monthly(lid, rtype, "alarm, high resolution" if high else "alarm", 1, "alarm-month",
                    prices.cloudwatch_high_resolution_alarm_per_month if high else prices.cloudwatch_alarm_per_month)
        elif rtype == "AWS::Batch::ComputeEnvironment" and (props.get("ComputeResources") or {}).get("MinvCpus"):
            vcpus = props["ComputeResources"]["MinvCpus"]
            hourly(lid, rtype, "Batch minimum vCPUs (EC2)", vcpus, "vCPU-hour", prices.ec2_per_vcpu_hour)
        elif not _free_at_rest(rtype, props):
            unclassified.append(f"{lid} ({rtype})")
    total = round(sum(item.usd_per_month for item in items), 2)
    return IdleCost(prices_version=prices.version, region=prices.region, currency=prices.currency,
                    hours_per_month=HOURS_PER_MONTH, items=items, total_usd_per_month=total,
                    unclassified=unclassified, notes=notes)


def _free_at_rest(rtype: str, props: dict) -> bool:
    if rtype.startswith("Custom::"):  # a Lambda-backed custom resource runs at deploy time only
        return True
    rule = FREE_AT_REST.get(rtype, False)
    return rule(props) if callable(rule) else rule


def _refs(value) -> set[str]:
    """The logical ids a property value refers to (Ref, Fn::GetAtt), however deeply nested."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return {target[0] if isinstance(target, list) else str(target).split(".")[0]}
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _text(value) -> str:
    """The literal strings of a property value, joined (enough to find "/variant/NAME")."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "".join(_text(v) for v in value.values())
    if isinstance(value, list):
        return "".join(_text(v) for v in value)
    return ""


def _instances_at_rest(endpoint: str, variant: dict, floors: dict, notes: list[str]) -> tuple[int, str]:
    """(instances the variant keeps with no job, what that is called). With managed instance scaling (an endpoint
    for inference components) its MinInstanceCount, at least one while a component keeps copies at rest;
    else the autoscaling floor of the variant, else its initial count."""
    scaling = variant.get("ManagedInstanceScaling") or {}
    if scaling.get("Status") == "ENABLED":
        count = int(scaling.get("MinInstanceCount", 1))
        if count == 0 and floors.get((endpoint, "inference-component"), 0) > 0:
            notes.append(f"{endpoint}: an inference component keeps copies at rest, so at least one instance runs")
            return 1, "endpoint at rest"
        if count == 0:
            notes.append(f"{endpoint}: scales to zero (managed instance scaling, MinInstanceCount 0): "
                         "no instance bills with no job")
            return 0, "endpoint at rest, scales to zero"
        return count, "endpoint at rest"
    return floors.get((endpoint, variant.get("VariantName", "")), variant.get("InitialInstanceCount", 1)), \
        "endpoint floor"


def _autoscaling_floors(resources: dict) -> dict[tuple[str, str], int]:
    """(endpoint logical id, variant name) -> the MinCapacity of the SageMaker scalable target on it, and
    (endpoint logical id, "inference-component") -> the largest MinCapacity of a component's copies on it."""
    names = {(r.get("Properties") or {}).get("EndpointName"): lid for lid, r in resources.items()
             if r.get("Type") == "AWS::SageMaker::Endpoint"}
    floors = {}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::ApplicationAutoScaling::ScalableTarget" or \
                props.get("ServiceNamespace") != "sagemaker":
            continue
        resource_id = props.get("ResourceId")
        text = _text(resource_id)
        if text.startswith("inference-component/"):
            endpoint = _component_endpoint(resources, names, text.split("/", 1)[1])
            if endpoint:
                key = (endpoint, "inference-component")
                floors[key] = max(floors.get(key, 0), int(props.get("MinCapacity", 0)))
            continue
        variant = text.rsplit("/variant/", 1)[-1] if "/variant/" in text else ""
        endpoints = [ref for ref in _refs(resource_id) if ref in names.values()] or \
            [lid for name, lid in names.items() if isinstance(name, str) and f"endpoint/{name}/" in text]
        for endpoint in endpoints:
            floors[(endpoint, variant)] = int(props.get("MinCapacity", 1))
    return floors


def _component_endpoint(resources: dict, endpoint_names: dict, component: str) -> str | None:
    """The logical id of the endpoint the inference component named `component` runs on, if the template has it."""
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::SageMaker::InferenceComponent" and props.get("InferenceComponentName") == component:
            refs = [ref for ref in _refs(props.get("EndpointName")) if ref in endpoint_names.values()]
            named = endpoint_names.get(props.get("EndpointName")) if isinstance(props.get("EndpointName"), str) else None
            return named or (refs[0] if refs else None)
    return None


def format_idle_table(cost: IdleCost) -> list[str]:
    """The idle cost as aligned lines: one per resource, then the total."""
    money = cost.currency
    rid = max([len("resource"), *(len(item.logical_id) for item in cost.items)])
    what = max([len("what"), *(len(item.what) for item in cost.items)])
    lines = [f"Idle cost per month ({cost.hours_per_month} h) in {money}, approximate "
             f"(prices {cost.prices_version}, {cost.region}, on-demand list prices; storage and logs not included)",
             f"  {'resource':<{rid}}  {'what':<{what}}  {'quantity':>8}  {'unit price':>10}  {'unit':<16}  "
             f"{money + '/month':>10}"]
    for item in cost.items:
        lines.append(f"  {item.logical_id:<{rid}}  {item.what:<{what}}  {item.quantity:>8g}  "
                     f"{item.unit_price_usd:>10.4f}  {item.unit:<16}  {item.usd_per_month:>10.2f}")
    lines.append(f"  {'total':<{rid}}  {'':<{what}}  {'':>8}  {'':>10}  {'':<16}  {cost.total_usd_per_month:>10.2f}")
    lines += [f"  note: {note}" for note in cost.notes]
    lines += [f"  NOT PRICED (neither priced nor known free at rest): {entry}" for entry in cost.unclassified]
    return lines
