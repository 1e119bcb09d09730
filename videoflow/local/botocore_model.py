"""Requests to the local stand-ins are checked against botocore's model of the real API.

A workflow that passes a stand-in a request the service would refuse must fail locally too,
so every adapter (MediaConvert, Transcribe, Batch, ECS) checks its request here, with one
reading of the model and one wording of the problems, before doing any work. botocore's own
ParamValidator checks types and required members only; the services also refuse a value off
its enum, its pattern or its range, so the walk here checks those too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import botocore.session
from botocore.model import Shape

# Extra checks a service makes on a structure beyond its shape: (value, shape, path) -> problems.
StructureRule = Callable[[dict, Shape, str], list[str]]

_MAX_PROBLEMS_REPORTED = 10


def validate_request(service: str, operation: str, request: dict, error: type[Exception], **options) -> None:
    """Raise `error` naming what `request` gets wrong for the operation, as the API would refuse it.

    `options` are those of `request_problems`.
    """
    problems = request_problems(service, operation, request, **options)
    if problems:
        raise error("; ".join(problems[:_MAX_PROBLEMS_REPORTED]))


def request_problems(service: str, operation: str, request: dict, *, member: str | None = None,
                     whole_value_patterns: bool = False, structure_rule: StructureRule | None = None) -> list[str]:
    """Everything `request` (or its `member`) gets wrong against the operation's input shape.

    Checks every key against its shape (recursively), enum values, string patterns and lengths,
    number ranges and types, and required members. Names are those Step Functions passes:
    each member's with its first letter upper-cased (Batch's `jobName` is `JobName`).
    `whole_value_patterns`: the service matches a pattern against the whole value (Transcribe
    does), not a prefix of it (MediaConvert's `^s3:\\/\\/`).
    """
    shape = _service_model(service).operation_model(operation).input_shape
    if member is not None:
        shape = shape.members[member]
    walk = _Walk(whole_value_patterns, structure_rule)
    return walk.problems(request, shape, member or operation)


@cache
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def _step_functions_name(member: str) -> str:
    return member[:1].upper() + member[1:]


@cache
def _compiled(pattern: str) -> re.Pattern | None:
    """None for a pattern Python's `re` cannot read (ECS's `\\p{L}` classes): left unchecked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


class _Walk:
    def __init__(self, whole_value_patterns: bool, structure_rule: StructureRule | None):
        self.whole_value_patterns = whole_value_patterns
        self.structure_rule = structure_rule

    def problems(self, value, shape: Shape, path: str) -> list[str]:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(value, shape, path)
        if kind == "list":
            if not isinstance(value, list):
                return [f"{path}: expected a list, got {type(value).__name__}"]
            found = _bound_problems(len(value), shape, path, "length ")
            for index, item in enumerate(value):
                found += self.problems(item, shape.member, f"{path}[{index}]")
            return found
        if kind == "map":
            if not isinstance(value, dict):
                return [f"{path}: expected an object, got {type(value).__name__}"]
            found = []
            for key, item in value.items():
                found += self.problems(key, shape.key, f"{path}<key {key!r}>")
                found += self.problems(item, shape.value, f"{path}[{key!r}]")
            return found
        if kind == "string":
            return self._string(value, shape, path)
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return [f"{path}: expected an integer, got {value!r}"]
            return _bound_problems(value, shape, path)
        if kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return [f"{path}: expected a number, got {value!r}"]
            return _bound_problems(value, shape, path)
        if kind == "boolean":
            return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
        return []

    def _structure(self, value, shape: Shape, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        members = {_step_functions_name(name): member for name, member in shape.members.items()}
        found = [f"{path}: missing required {name}"
                 for name in map(_step_functions_name, shape.required_members) if name not in value]
        for key, item in value.items():
            if key not in members:
                found.append(f"{path}: unknown key {key!r} (not in {shape.name})")
            else:
                found += self.problems(item, members[key], f"{path}.{key}")
        if self.structure_rule:
            found += self.structure_rule(value, shape, path)
        return found

    def _string(self, value, shape: Shape, path: str) -> list[str]:
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        found = _bound_problems(len(value), shape, path, "length ")
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} is not one of {shape.name} {list(shape.enum)}")
        pattern = _compiled(shape.metadata["pattern"]) if "pattern" in shape.metadata else None
        if pattern:
            matched = pattern.fullmatch(value) if self.whole_value_patterns else pattern.search(value)
            if not matched:
                found.append(f"{path}: {value!r} does not match the regular expression pattern {pattern.pattern}")
        return found


def _bound_problems(value, shape: Shape, path: str, what: str = "") -> list[str]:
    """`value` (a number, or a length when `what` is "length ") against the shape's min and max."""
    found = []
    if "min" in shape.metadata and value < shape.metadata["min"]:
        found.append(f"{path}: {what}{value} below minimum {shape.metadata['min']}")
    if "max" in shape.metadata and value > shape.metadata["max"]:
        found.append(f"{path}: {what}{value} above maximum {shape.metadata['max']}")
    return found
