"""Small readers for a synthesized CloudFormation template (plain dicts, no CDK needed).

Tokens become readable placeholders: {"Ref": "X"} -> "${X}", {"Fn::GetAtt": ["X", "Arn"]}
-> "${X.Arn}", and an Fn::Join is joined. That is how the state machine's DefinitionString
is read: concatenate the Join, with placeholders for the tokens, then json.loads.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
# Policy documents as they appear per resource type: (type, path to the document(s)).
_POLICY_DOCUMENTS = {
    "AWS::IAM::Policy": lambda p: [p["PolicyDocument"]],
    "AWS::IAM::ManagedPolicy": lambda p: [p["PolicyDocument"]],
    "AWS::IAM::Role": lambda p: [doc["PolicyDocument"] for doc in p.get("Policies", [])],
    "AWS::S3::BucketPolicy": lambda p: [p["PolicyDocument"]],
    "AWS::SQS::QueuePolicy": lambda p: [p["PolicyDocument"]],
    "AWS::SNS::TopicPolicy": lambda p: [p["PolicyDocument"]],
}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def placeholder(value: Any) -> str:
    """A token or string as readable text: "${Logical.Arn}", "${AWS::Partition}", joined Joins."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (kind, arg), = value.items()
        if kind == "Ref":
            return "${" + arg + "}"
        if kind == "Fn::GetAtt":
            return "${" + ".".join(as_list(arg)) + "}"
        if kind == "Fn::Join":
            separator, parts = arg
            return separator.join(placeholder(part) for part in parts)
    raise ValueError(f"not a string or a simple token: {value!r}")


def ref(logical_id: str) -> str:
    return "${" + logical_id + "}"


def arn_of(logical_id: str) -> str:
    return "${" + logical_id + ".Arn}"


def resources(template: dict, type_: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def properties(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id].get("Properties", {})


def definition(template: dict, logical_id: str) -> dict:
    """The state machine definition, tokens replaced by placeholders."""
    text = properties(template, logical_id)["DefinitionString"]
    return json.loads(placeholder(text))


def iter_states(states: dict, parent: str | None = None) -> Iterator[tuple[str, dict, str | None]]:
    """(name, state, enclosing top-level state or None) for every state, Parallel and Map included."""
    for name, state in states.items():
        yield name, state, parent
        top = parent or name
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"], top)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_states(state[key]["States"], top)


def statements(template: dict) -> Iterator[tuple[str, dict]]:
    """(logical id, statement) for every policy statement in the template, identity or resource policy."""
    for logical_id, resource in template["Resources"].items():
        documents = _POLICY_DOCUMENTS.get(resource["Type"])
        if documents is None:
            continue
        for document in documents(resource.get("Properties", {})):
            for statement in as_list(document["Statement"]):
                yield logical_id, statement


def role_statements(template: dict, role_logical_id: str) -> list[dict]:
    """Every statement that applies to one role: its inline policies and the policies attached to it."""
    found = []
    role = properties(template, role_logical_id)
    for document in _POLICY_DOCUMENTS["AWS::IAM::Role"](role):
        found.extend(as_list(document["Statement"]))
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources(template, type_).values():
            attached = [placeholder(r) for r in policy["Properties"].get("Roles", [])]
            if ref(role_logical_id) in attached:
                found.extend(as_list(policy["Properties"]["PolicyDocument"]["Statement"]))
    return found


def getatt_target(value: Any) -> str:
    """The logical id behind {"Fn::GetAtt": [id, attr]} or {"Ref": id}."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    raise ValueError(f"not a Ref or GetAtt: {value!r}")


def allow_statements(template: dict) -> Iterator[tuple[str, dict]]:
    """(logical id, statement) for every statement that allows something."""
    for logical_id, statement in statements(template):
        if statement["Effect"] == "Allow":
            yield logical_id, statement


def project_functions(template: dict) -> dict[str, dict]:
    """Every function that runs this project's code (CDK's own custom-resource handlers excluded)."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in resources(template, LAMBDA_FUNCTION).items()
        if handler_of(resource["Properties"]).startswith("lambdas.")
        # render_short_clip: the render image behind the Lambda runtime interface client
        or resource["Properties"].get("ImageConfig", {}).get("Command") == ["lambda_handler.handler"]
    }


def handler_of(props: dict) -> str:
    """A function's handler: its Handler, or for a container image function its ImageConfig command."""
    return str(props.get("Handler") or (props.get("ImageConfig", {}).get("Command") or [""])[0])


def step_of(props: dict) -> str | None:
    """The step a function runs ("lambdas.record_cost.handler.handler" -> "record_cost"), zip or image."""
    handler = handler_of(props)
    return handler.split(".")[1] if handler.startswith("lambdas.") else None


def step_functions(template: dict) -> dict[str, str]:
    """Step name -> the logical id of its function."""
    return {step: logical_id for logical_id, props in project_functions(template).items()
            if (step := step_of(props))}


def task_states(workflow: dict) -> dict[str, dict]:
    """Every Task state of a definition, Parallel branches and Map iterations included, by name."""
    return {name: state for name, state, _ in iter_states(workflow["States"]) if state["Type"] == "Task"}


def lambda_function_of(task: dict, function_ids: set[str]) -> str | None:
    """The logical id of the function a Task invokes (plain ARN or lambda:invoke form), else None."""
    resource = task["Resource"]
    if resource.endswith(":states:::lambda:invoke") or resource.endswith(":states:::lambda:invoke.waitForTaskToken"):
        resource = task["Parameters"].get("FunctionName", "")
    match = re.fullmatch(r"\$\{(\w+)\.Arn\}(:.*)?", resource)
    if match and match.group(1) in function_ids:
        return match.group(1)
    return None
