"""cdk-nag and checkov acknowledgements: every one names the finding and says why it is acceptable."""

import aws_cdk as cdk
from constructs import Construct


def logical_id(construct: Construct) -> str:
    """The CloudFormation logical id of an L2 construct's resource (cdk-nag names findings by it)."""
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)


def acknowledge(construct: Construct, findings: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings on one construct, each with the reason a reviewer reads."""
    cdk.Validations.of(construct).acknowledge(
        *(cdk.Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
    )


def checkov_skip(construct: Construct, findings: dict[str, str]) -> None:
    """Acknowledge checkov findings on one construct's resource (in its Metadata), each with its reason.

    Checks that cannot apply anywhere in the stack are skipped in .checkov.yaml instead."""
    resource = construct.node.default_child
    skips = (resource.get_metadata("checkov") or {}).get("skip", [])
    resource.add_metadata("checkov", {"skip": [*skips, *({"id": check, "comment": reason}
                                                          for check, reason in findings.items())]})


def object_wildcard(bucket, prefix: str) -> str:
    """The cdk-nag name of the resource `<bucket ARN>/<prefix>*`."""
    return f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{prefix}*]"


def any_task_definition_revision(task_definition) -> str:
    """The cdk-nag name of `<task definition family>:*`, which CDK's EcsRunTask grants ecs:RunTask on."""
    ref = f'{{"Ref":"{logical_id(task_definition)}"}}'

    def part(index: int) -> str:
        return f'{{"Fn::Select":[{index},{{"Fn::Split":[":",{ref}]}}]}}'

    def family(index: int) -> str:
        return f'{{"Fn::Select":[{index},{{"Fn::Split":["/",{part(5)}]}}]}}'

    return f"AwsSolutions-IAM5[Resource::arn:{part(1)}:{part(2)}:{part(3)}:{part(4)}:{family(0)}/{family(1)}:*]"
