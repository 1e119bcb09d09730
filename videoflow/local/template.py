"""Read the synthesized template as a local account would see it after deployment.

Each resource gets a local physical name; CloudFormation tokens (Ref, Fn::GetAtt,
Fn::Join, pseudo parameters) resolve to those names and ARNs, exactly once, here. The
workflow definition keeps every state as synthesized except the Resource of tasks whose
service has no local stand-in in moto; those point at local adapter functions.
"""

import copy
import json
import re
from dataclasses import dataclass, field

REGION = "us-east-1"
ACCOUNT = "123456789012"
# Services whose Step Functions integrations the local runner replaces with adapters.
ADAPTED_SERVICES = ("mediaconvert", "batch", "ecs", "sagemaker", "transcribe", "bedrock")
_INTEGRATION = re.compile(
    r"^arn:aws:states:::(aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
    r"(?P<suffix>\.sync(:2)?|\.waitForTaskToken)?$"
)
# Resources whose Ref is their ARN rather than their name.
_REF_IS_ARN = {"AWS::StepFunctions::StateMachine", "AWS::Batch::JobDefinition", "AWS::Batch::JobQueue",
               "AWS::SNS::Topic", "AWS::ECS::TaskDefinition"}


# A resource the stack names itself keeps that name locally (its ARN is built from it in policies).
_NAME_PROPERTY = {"AWS::SageMaker::Endpoint": "EndpointName", "AWS::ECS::TaskDefinition": "Family"}


class TemplateError(ValueError):
    pass


@dataclass
class LocalTemplate:
    template: dict
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for logical_id, resource in self.resources.items():
            explicit = resource.get("Properties", {}).get(_NAME_PROPERTY.get(resource["Type"], ""))
            self.names[logical_id] = explicit if isinstance(explicit, str) else _local_name(logical_id, resource["Type"])

    @property
    def resources(self) -> dict:
        return self.template["Resources"]

    def of_type(self, type_name: str) -> dict[str, dict]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == type_name}

    def find(self, type_name: str, logical_prefix: str) -> str:
        matches = [lid for lid in self.of_type(type_name) if lid.startswith(logical_prefix)]
        if len(matches) != 1:
            raise TemplateError(f"expected one {type_name} named {logical_prefix}*, found {matches}")
        return matches[0]

    def arn(self, logical_id: str) -> str:
        name, kind = self.names[logical_id], self.resources[logical_id]["Type"]
        return {
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::Batch::JobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{name}:1",
            "AWS::Batch::JobQueue": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
            "AWS::ECS::TaskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}:1",
            "AWS::ECS::Cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        }.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT}:{kind}/{name}")

    def resolve(self, value):
        """Replace every CloudFormation token in `value` by its local value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(part)) for part in parts)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(
                    self.resolve(variables[m[1]]) if m[1] in variables
                    else self._get_att(*m[1].split(".", 1)) if "." in m[1] else self._ref(m[1])), text)
            if key.startswith("Fn::"):
                raise TemplateError(f"unsupported intrinsic {key}")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "VideoFlow", "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if self.resources[name]["Type"] in _REF_IS_ARN:
            return self.arn(name)
        return self.names[name]

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn" or attribute.endswith("Arn") and attribute != "StreamArn":
            return self.arn(logical_id)  # JobQueueArn, JobDefinitionArn, ... are the resource's ARN
        if attribute == "Name" or attribute.endswith("Name"):  # EndpointName, ModelName, ...
            return self.names[logical_id]
        if attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        # Security groups, subnets, a VPC's default group...: a stable local id is all a local run needs.
        return self.names[logical_id] if attribute in ("GroupId", "Id") else f"{self.names[logical_id]}.{attribute}"

    def state_machine_definition(self, logical_id: str) -> dict:
        return json.loads(self.resolve(self.resources[logical_id]["Properties"]["DefinitionString"]))


def adapter_name(integration: str) -> str:
    """The local function that stands in for an integration: "mediaconvert:createJob.sync" ->
    "local-mediaconvert-createJob-sync"."""
    return "local-" + re.sub(r"[^A-Za-z0-9-]", "-", integration)


def rewrite_integrations(definition: dict) -> tuple[dict, set[str]]:
    """Point tasks of adapted services at local adapter functions; nothing else changes.

    Returns the new definition and the integrations found, e.g. "mediaconvert:createJob.sync".
    """
    rewritten = copy.deepcopy(definition)
    found: set[str] = set()

    def walk(states: dict) -> None:
        for state in states.values():
            resource = state.get("Resource", "")
            match = _INTEGRATION.match(resource) if state.get("Type") == "Task" else None
            if match and match["service"] in ADAPTED_SERVICES:
                integration = f"{match['service']}:{match['action']}{match['suffix'] or ''}"
                found.add(integration)
                if match["suffix"] == ".waitForTaskToken":
                    # The adapter starts the work and returns; the work itself answers with the task
                    # token, so the engine keeps waiting (and counting heartbeats) as in AWS.
                    state["Resource"] = "arn:aws:states:::lambda:invoke.waitForTaskToken"
                    state["Parameters"] = {"FunctionName": adapter_name(integration),
                                           "Payload": state.get("Parameters", {})}
                else:
                    state["Resource"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{adapter_name(integration)}"
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(state[key]["States"])

    walk(rewritten["States"])
    return rewritten, found


def _local_name(logical_id: str, type_name: str) -> str:
    base = f"vf-{logical_id}"
    if type_name == "AWS::S3::Bucket":
        return base.lower()[:63]
    return base[:64]
