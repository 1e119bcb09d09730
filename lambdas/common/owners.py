"""Who may see a job: the IAM principal that created it, or an administrator.

API Gateway (AWS_IAM authorization) passes the signer as `requestContext.identity.userArn`:
`arn:aws:iam::<account>:user/<name>` for an IAM user, `arn:aws:sts::<account>:assumed-role/<role>/<session>`
for a role session (IAM Identity Center names the session after the person). That ARN is the
caller, and the jobs API records it as the `owner` of each job it starts (POST /uploads/complete).

Administrators are the principals listed in ADMIN_PRINCIPAL_ARNS (cdk.json context
`admin_principal_arns`): an IAM user ARN, an IAM role ARN (every session of the role is an
administrator; a role's path is not part of its session ARN, so it is ignored), or one role
session's ARN. Nobody is an administrator unless listed. An administrator sees every job,
including the ones uploaded straight into the bucket (those have no owner: nobody else sees them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, Field

OWNER_ATTRIBUTE = "owner"
# The jobs table's index of each owner's jobs, newest first (stacks/state.py declares it).
OWNER_INDEX = "by_owner"
OWNER_LISTING_ATTRIBUTES = ("status", "source", "reason", "updated_at")  # projected beside the keys

_USER = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):user/(?:[^/]+/)*(?P<name>[^/]+)$")
_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<name>[^/]+)$")
_SESSION = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/"
                      r"(?P<session>[^/]+)$")
_ROOT = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):root$")


class AccessSettings(BaseModel):
    """The administrators, comma-separated principal ARNs (none: every caller sees only their own jobs)."""

    admin_principal_arns: str = Field("", alias="ADMIN_PRINCIPAL_ARNS")

    @property
    def admins(self) -> tuple[str, ...]:
        return tuple(arn.strip() for arn in self.admin_principal_arns.split(",") if arn.strip())


class NotSigned(Exception):
    """The request carries no IAM principal (API Gateway's IAM authorization always sets one)."""


def is_principal_arn(arn: str) -> bool:
    """An ARN that can name an administrator: an IAM user, an IAM role, a role session or an account root."""
    return any(pattern.match(arn) for pattern in (_USER, _ROLE, _SESSION, _ROOT))


def is_admin(caller_arn: str, admins: tuple[str, ...] | list[str]) -> bool:
    """The caller is one of `admins`, or a session of a role in `admins`."""
    session = _SESSION.match(caller_arn)
    for admin in admins:
        if caller_arn == admin:
            return True
        role = _ROLE.match(admin)
        if session and role and (session["partition"], session["account"], session["name"]) == (
                role["partition"], role["account"], role["name"]):
            return True
    return False


@dataclass(frozen=True)
class Caller:
    arn: str
    admin: bool

    def may_see(self, record: dict | None) -> bool:
        """An administrator sees every job; anyone else only a job whose recorded owner they are."""
        if self.admin:
            return True
        return bool(record) and record.get(OWNER_ATTRIBUTE) == self.arn


def caller_from(request_context: dict | None, admins: tuple[str, ...]) -> Caller:
    """The caller API Gateway authorized, from a REST or WebSocket $connect event's requestContext."""
    identity = (request_context or {}).get("identity") or {}
    arn = identity.get("userArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise NotSigned("This API needs requests signed with AWS Signature Version 4 by an IAM principal.")
    return Caller(arn=arn, admin=is_admin(arn, admins))
