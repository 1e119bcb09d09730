"""IAM policy evaluation, as AWS does it within one account, for the local run.

`evaluate` decides one request: who (a `Principal`), which action, which resource, the
request's condition keys, and the policies that apply (the principal's identity policies,
and the resource's own policy when it has one: a bucket, topic, queue or function policy, or
a KMS key policy). The rules are AWS's for a single account:

- an explicit Deny in any applicable policy wins;
- otherwise an Allow in an identity policy, or in a resource policy that names the principal,
  allows, with one exception: a KMS key policy must allow the request itself, or allow the
  account (its root), in which case identity policies decide;
- a service principal (events.amazonaws.com, cloudwatch.amazonaws.com) has no identity
  policies: only a resource policy can let it in.

What it does not model (README, "What the local run proves"): permission boundaries, SCPs,
session policies, cross-account access, and condition keys other than those the caller
passes in (the local runner passes aws:SecureTransport, aws:SourceArn, aws:SourceAccount,
aws:PrincipalArn, aws:PrincipalServiceName, s3:prefix and kms:ViaService).
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache


class AccessDenied(Exception):
    """A request that AWS would refuse; the message reads like AWS's own."""

    def __init__(self, principal: "Principal", action: str, resource: str, reason: str):
        self.principal, self.action, self.resource, self.reason = principal, action, resource, reason
        super().__init__(f"User: {principal.arn} ({principal.label}) is not authorized to perform: {action} "
                         f"on resource: {resource} because {reason}")


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a role (its session ARN and identity policies) or an AWS service."""

    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION, or "events.amazonaws.com" for a service
    label: str  # what it is in the project's words: "function record_cost", "the workflow", ...
    policies: tuple[dict, ...] = ()
    role_arn: str = ""  # the role's own ARN (what aws:PrincipalArn and Principal {"AWS": ...} name)
    service: str = ""  # set for a service principal

    @property
    def account(self) -> str:
        return "" if self.service else self.arn.split(":")[4]


@dataclass(frozen=True)
class ResourcePolicy:
    document: dict
    kind: str = "resource"  # "resource" or "key" (a KMS key policy)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass
class Request:
    principal: Principal
    action: str
    resource: str
    context: dict[str, object] = field(default_factory=dict)


def evaluate(request: Request, resource_policy: ResourcePolicy | None = None) -> Decision:
    principal = request.principal
    context = {"aws:PrincipalArn": principal.role_arn or principal.arn, "aws:SecureTransport": "true",
               **({"aws:PrincipalServiceName": principal.service} if principal.service else
                  {"aws:PrincipalAccount": principal.account}),
               **request.context}
    identity = [] if principal.service else [s for p in principal.policies for s in _statements(p)]
    resource = [] if resource_policy is None else _statements(resource_policy.document)
    identity_effects = {s["Effect"] for s in identity if _applies(s, request, context)}
    resource_matches = [s for s in resource if _applies(s, request, context) and _names(s, principal)]
    if "Deny" in identity_effects:
        return Decision(False, "an identity-based policy explicitly denies it")
    if any(s["Effect"] == "Deny" for s in resource_matches):
        return Decision(False, f"the {_kind(resource_policy)} explicitly denies it")
    allowed_by_resource = [s for s in resource_matches if s["Effect"] == "Allow"]
    if resource_policy is not None and resource_policy.kind == "key":
        direct = [s for s in allowed_by_resource if not _names_account_only(s, principal)]
        if direct:
            return Decision(True, "the key policy allows it")
        if not allowed_by_resource:
            return Decision(False, f"no statement of the key policy allows {request.action} for this principal")
        # The key policy lets the account's IAM policies decide.
    elif allowed_by_resource and not all(_names_account_only(s, principal) for s in allowed_by_resource):
        return Decision(True, f"the {_kind(resource_policy)} allows it")
    if "Allow" in identity_effects:
        return Decision(True, "an identity-based policy allows it")
    if principal.service:
        return Decision(False, f"no {_kind(resource_policy)} allows the service {principal.service} "
                               f"to perform {request.action}")
    return Decision(False, f"no identity-based policy allows the {request.action} action")


def authorize(request: Request, resource_policy: ResourcePolicy | None = None) -> None:
    decision = evaluate(request, resource_policy)
    if not decision.allowed:
        raise AccessDenied(request.principal, request.action, request.resource, decision.reason)


def _kind(policy: ResourcePolicy | None) -> str:
    return "key policy" if policy is not None and policy.kind == "key" else "resource-based policy"


def _statements(document: dict) -> list[dict]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _applies(statement: dict, request: Request, context: dict) -> bool:
    if "Action" in statement and not any(_glob(p, request.action, fold=True) for p in _listed(statement["Action"])):
        return False
    if "NotAction" in statement and any(_glob(p, request.action, fold=True) for p in _listed(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(_glob(p, request.resource) for p in _listed(statement["Resource"])):
        return False
    if "NotResource" in statement and any(_glob(p, request.resource) for p in _listed(statement["NotResource"])):
        return False
    return all(_condition(operator, key, values, context)
               for operator, block in statement.get("Condition", {}).items()
               for key, values in block.items())


def _names(statement: dict, principal: Principal) -> bool:
    """Whether a resource-policy statement's Principal covers this principal."""
    if "NotPrincipal" in statement:
        return not _principal_in(statement["NotPrincipal"], principal)
    return _principal_in(statement.get("Principal"), principal)


def _principal_in(block, principal: Principal) -> bool:
    if block == "*":
        return True
    if not isinstance(block, dict):
        return False
    if principal.service:
        return principal.service in _listed(block.get("Service"))
    for entry in _listed(block.get("AWS")):
        if entry == "*" or entry in (principal.role_arn, principal.arn):
            return True
        if entry in (principal.account, f"arn:aws:iam::{principal.account}:root"):
            return True
    return False


def _names_account_only(statement: dict, principal: Principal) -> bool:
    """A statement that names the account (its root), not this principal: it delegates to IAM."""
    entries = _listed((statement.get("Principal") or {}).get("AWS")) if isinstance(statement.get("Principal"), dict) \
        else []
    account_entries = {principal.account, f"arn:aws:iam::{principal.account}:root"}
    return bool(entries) and not principal.service and all(e in account_entries for e in entries)


def _condition(operator: str, key: str, expected, context: dict) -> bool:
    expected = [str(v).lower() if isinstance(v, bool) else str(v) for v in _listed(expected)]
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    qualifier, _, operator = operator.rpartition(":")
    actual = context.get(key)
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if actual is None:
        return if_exists or operator.startswith(("StringNot", "ArnNot", "NumericNot"))
    actuals = [str(v).lower() if isinstance(v, bool) else str(v) for v in _listed(actual)]
    negated = operator.startswith(("StringNot", "ArnNot", "NumericNot"))
    test = _OPERATORS.get(operator.replace("Not", "", 1) if negated else operator)
    if test is None:
        raise ValueError(f"condition operator {operator} is not modelled locally")
    matches = [any(test(a, e) for e in expected) != negated for a in actuals]
    return all(matches) if qualifier == "ForAllValues" else any(matches)


def _number(text: str) -> float:
    return float(text)


_OPERATORS = {
    "StringEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: _glob(e, a),
    "ArnEquals": lambda a, e: _glob(e, a),
    "ArnLike": lambda a, e: _glob(e, a),
    "Bool": lambda a, e: a.lower() == e.lower(),
    "NumericEquals": lambda a, e: _number(a) == _number(e),
    "NumericLessThan": lambda a, e: _number(a) < _number(e),
    "NumericLessThanEquals": lambda a, e: _number(a) <= _number(e),
    "NumericGreaterThan": lambda a, e: _number(a) > _number(e),
    "NumericGreaterThanEquals": lambda a, e: _number(a) >= _number(e),
}


def _glob(pattern: str, value: str, fold: bool = False) -> bool:
    """IAM's wildcards: * any run of characters (including / and :), ? exactly one."""
    return _compiled(str(pattern), fold).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compiled(pattern: str, fold: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if fold else re.DOTALL)
