"""Logical ids that must not change when a construct moves in the tree.

CDK derives a resource's logical id from its construct path, and CloudFormation replaces a
resource whose logical id changes. For a topic, queue, key, log group or the state machine
that would mean a new resource: lost messages, a new ARN for subscribers, the executions
the jobs API redrives and record_cost reads gone. A role that work in flight runs as keeps
its id too (a running execution keeps the role it started with; the old one would be deleted
under it), and so does a policy resource on a topic or queue: CloudFormation creates the
renamed one first, then deletes the old one, and that delete clears the policy just set.
"""

import aws_cdk as cdk
from constructs import Construct


def keep_logical_id(construct: Construct, logical_id: str) -> None:
    """Give the construct's resource the logical id it has in the deployed stack.

    A rename on the stack rather than override_logical_id: Stack.get_logical_id, which cdk-nag
    acknowledgements (stacks/nag.py) and the infra tests name resources by, answers the kept
    id too."""
    stack = cdk.Stack.of(construct)
    stack.rename_logical_id(stack.get_logical_id(construct.node.default_child), logical_id)
