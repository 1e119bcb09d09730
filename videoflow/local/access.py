"""Who may do what in the local account: the synthesized template's IAM, enforced on every call.

moto enforces no IAM by default, and its own check evaluates most services at action level
only. Here every request that reaches moto (in-process or over HTTP from a container
process) is authorized as the principal that would make it in AWS, against the policies the
template gives that principal and the resource's own policy (bucket, topic, queue, function
or KMS key policy), with `videoflow.local.iam`. Who is calling:

- a function, in-process: the local Lambda runtime sets the caller for the invocation
  (`acting_as`); the function's role, read from the template;
- a container process (Batch child, Fargate render): its own credentials, issued here for its
  job or task role (`credentials`);
- the workflow: moto's Step Functions engine signs with the access key "ak", so that key is
  the state machine's role; the local adapters of its service integrations authorize the
  integration's documented permissions as the same role (`authorize_integration`);
- anyone else (the user uploading, a test reading results): unrestricted, like an admin.

A denial raises the service's own AccessDenied error in the caller, naming the principal, the
action and the resource, and is kept in `denials` so a run can say which step hit it.
"""

import contextvars
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock
from urllib.parse import unquote

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError as RESTError
from moto.s3.exceptions import S3ClientError

from videoflow.local.iam import AccessDenied, Principal, Request, ResourcePolicy, evaluate
from videoflow.local.template import ACCOUNT, REGION, LocalTemplate

_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("local_caller", default=None)
ENGINE_ACCESS_KEY = "ak"  # what moto's Step Functions engine signs its service calls with
# S3 API operations -> the IAM action that authorizes them.
_S3_ACTIONS = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
               "ListObjectVersions": "ListBucketVersions", "ListMultipartUploads": "ListBucketMultipartUploads",
               "ListBuckets": "ListAllMyBuckets"}
# The key policy of the AWS-managed key alias/aws/sns, as AWS writes it into every account.
AWS_MANAGED_SNS_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                   "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
    }, {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"], "Resource": "*",
    }],
}
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
_API_TO_IAM = {"lambda:Invoke": "lambda:InvokeFunction"}


class DeniedS3(S3ClientError):
    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


class DeniedJson(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("AccessDeniedException", message)


class DeniedQuery(RESTError):
    code = 403

    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


class DeniedTopicKey(RESTError):
    """SNS Publish refused because the topic's KMS key would not give the publisher a data key."""

    code = 400

    def __init__(self, message: str):
        super().__init__("KMSAccessDenied", message)


def current_caller() -> Principal | None:
    return _CALLER.get()


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    token = _CALLER.set(principal)
    try:
        yield
    finally:
        _CALLER.reset(token)


class LocalAccess:
    def __init__(self, template: LocalTemplate):
        self.template = template
        self.denials: list[AccessDenied] = []
        self._lock = threading.Lock()
        self._by_key: dict[str, Principal] = {}
        self._roles = {template.arn(lid): lid for lid in template.of_type("AWS::IAM::Role")}
        self._policies: dict[str, list[dict]] = {lid: [] for lid in template.of_type("AWS::IAM::Role")}
        for lid, role in template.of_type("AWS::IAM::Role").items():
            for inline in role["Properties"].get("Policies", []):
                self._policies[lid].append(template.resolve(inline["PolicyDocument"]))
            for managed in role["Properties"].get("ManagedPolicyArns", []):
                if isinstance(managed, dict) and "Ref" in managed and managed["Ref"] in template.resources:
                    document = template.resources[managed["Ref"]]["Properties"]["PolicyDocument"]
                    self._policies[lid].append(template.resolve(document))
        attached = {**template.of_type("AWS::IAM::Policy"), **template.of_type("AWS::IAM::ManagedPolicy")}
        for policy in attached.values():
            for role in policy["Properties"].get("Roles", []):
                if isinstance(role, dict) and role.get("Ref") in self._policies:
                    self._policies[role["Ref"]].append(template.resolve(policy["Properties"]["PolicyDocument"]))
        self._resource_policies = self._read_resource_policies()
        self._topic_keys = self._read_topic_keys()
        self.workflow = self.role_principal(self._state_machine_role(), "the workflow (state machine role)")
        self._by_key[ENGINE_ACCESS_KEY] = self.workflow

    # -- principals ------------------------------------------------------------------------
    def role_principal(self, role_arn: str, label: str) -> Principal:
        logical_id = self._roles.get(role_arn)
        if logical_id is None:
            raise KeyError(f"no role {role_arn} in the template")
        name = self.template.names[logical_id]
        session = label.split()[-1].strip("()") or "local"
        return Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"[:200], label=label,
                         policies=tuple(self._policies[logical_id]), role_arn=role_arn)

    def function_principal(self, function_logical_id: str, label: str) -> Principal:
        role = self.template.resolve(self.template.resources[function_logical_id]["Properties"]["Role"])
        return self.role_principal(role, label)

    def assumed_by(self, role_arn: str, service: str, label: str) -> Principal:
        """The role a service acts as (MediaConvert, ECS tasks), if the role's trust policy lets it."""
        trust = self.template.resolve(self.template.resources[self._roles[role_arn]]["Properties"]
                                      ["AssumeRolePolicyDocument"])
        services = {s for statement in trust.get("Statement", []) if statement.get("Effect") == "Allow"
                    for s in _listed((statement.get("Principal") or {}).get("Service"))}
        if service not in services:
            self._deny(AccessDenied(self.service_principal(service), "sts:AssumeRole", role_arn,
                                    f"the role's trust policy does not name {service}"))
        return self.role_principal(role_arn, label)

    def template_task_definition(self, reference: str) -> dict:
        """An ECS task definition of the template, by ARN or family (RunTask takes either): its ARN
        and the roles the workflow passes when it runs one."""
        family = reference.split("/")[-1].split(":")[0]
        for lid, resource in self.template.of_type("AWS::ECS::TaskDefinition").items():
            if family == self.template.names[lid]:
                props = self.template.resolve(resource["Properties"])
                return {"arn": self.template.arn(lid),
                        "roles": [props[k] for k in ("TaskRoleArn", "ExecutionRoleArn") if props.get(k)]}
        raise KeyError(f"no task definition {reference} in the template")

    @staticmethod
    def service_principal(service: str) -> Principal:
        return Principal(arn=service, label=f"the service {service}", service=service)

    def credentials(self, principal: Principal) -> dict[str, str]:
        """Environment credentials for a container process acting as `principal`."""
        key = "ASIA" + uuid.uuid4().hex[:16].upper()
        with self._lock:
            self._by_key[key] = principal
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}

    def _state_machine_role(self) -> str:
        (machine,) = self.template.of_type("AWS::StepFunctions::StateMachine").values()
        return self.template.resolve(machine["Properties"]["RoleArn"])

    # -- decisions ---------------------------------------------------------------------------
    def check(self, principal: Principal, action: str, resource: str, context: dict | None = None,
              policy_of: str | None = None) -> None:
        """Raise AccessDenied unless `principal` may do `action` on `resource`; `policy_of`: the ARN
        whose resource policy applies (the bucket of an object; the resource itself by default)."""
        request = Request(principal, action, resource, dict(context or {}))
        decision = evaluate(request, self.resource_policy(policy_of or resource))
        if not decision.allowed:
            self._deny(AccessDenied(principal, action, resource, decision.reason))

    def _deny(self, denied: AccessDenied) -> None:
        """Keep the denial for the run's report, then raise it in the caller."""
        with self._lock:
            self.denials.append(denied)
        raise denied

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        if arn.startswith("arn:aws:s3:::"):
            arn = "arn:aws:s3:::" + arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return self._resource_policies.get(arn)

    def _read_resource_policies(self) -> dict[str, ResourcePolicy]:
        t, found = self.template, {}
        for policy in t.of_type("AWS::S3::BucketPolicy").values():
            found[f"arn:aws:s3:::{t.resolve(policy['Properties']['Bucket'])}"] = ResourcePolicy(
                t.resolve(policy["Properties"]["PolicyDocument"]))
        for policy in t.of_type("AWS::SNS::TopicPolicy").values():
            for topic in policy["Properties"]["Topics"]:
                found[t.resolve(topic)] = ResourcePolicy(t.resolve(policy["Properties"]["PolicyDocument"]))
        for policy in t.of_type("AWS::SQS::QueuePolicy").values():
            for queue in policy["Properties"]["Queues"]:
                found[self.queue_arn(t.resolve(queue))] = ResourcePolicy(
                    t.resolve(policy["Properties"]["PolicyDocument"]))
        for lid, key in t.of_type("AWS::KMS::Key").items():
            found[t.arn(lid)] = ResourcePolicy(t.resolve(key["Properties"]["KeyPolicy"]), kind="key")
        found[AWS_MANAGED_SNS_KEY] = ResourcePolicy(AWS_MANAGED_SNS_KEY_POLICY, kind="key")
        permissions: dict[str, list[dict]] = {}
        for permission in t.of_type("AWS::Lambda::Permission").values():
            props = t.resolve(permission["Properties"])
            statement = {"Effect": "Allow", "Action": props["Action"], "Resource": props["FunctionName"],
                         "Principal": {"Service": props["Principal"]} if props["Principal"].endswith(
                             ".amazonaws.com") else {"AWS": props["Principal"]}}
            if "SourceArn" in props:
                statement["Condition"] = {"ArnLike": {"aws:SourceArn": props["SourceArn"]}}
            permissions.setdefault(props["FunctionName"], []).append(statement)
        for function, statements in permissions.items():
            found[function] = ResourcePolicy({"Version": "2012-10-17", "Statement": statements})
        return found

    def _read_topic_keys(self) -> dict[str, str]:
        """Topic ARN -> the ARN (or alias) of the KMS key that encrypts it."""
        t = self.template
        keys = {t.names[lid]: t.arn(lid) for lid in t.of_type("AWS::KMS::Key")}
        found = {}
        for topic_id, topic in t.of_type("AWS::SNS::Topic").items():
            key = topic["Properties"].get("KmsMasterKeyId")
            if key is not None:
                key = t.resolve(key)
                found[t.arn(topic_id)] = keys.get(key, key)
        return found

    def check_topic_key(self, principal, topic_arn: str, context: dict | None = None) -> None:
        """Publishing to an encrypted topic uses its KMS key through SNS: the key policy decides."""
        key = self._topic_keys.get(topic_arn)
        if key is None:
            return
        via = {**(context or {}), "kms:ViaService": f"sns.{REGION}.amazonaws.com",
               **({} if principal.service else {"kms:CallerAccount": ACCOUNT})}
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            self.check(principal, action, key, via)

    @staticmethod
    def queue_arn(queue_url_or_name: str) -> str:
        name = queue_url_or_name.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    # -- the seam in moto --------------------------------------------------------------------
    @contextmanager
    def installed(self) -> Iterator["LocalAccess"]:
        """Every request moto serves, in-process or over HTTP, is authorized here first."""
        access = self

        def authorize(response, iam_request_cls, resource: str = "*") -> None:
            access._authorize_moto_request(response, resource)

        with mock.patch.object(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize):
            yield self

    def _authorize_moto_request(self, response, moto_resource: str) -> None:
        authorization = response.headers.get("Authorization") or response.headers.get("authorization") or ""
        scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
        access_key, signing_name = (scope[0], scope[3]) if len(scope) > 3 else ("", "")
        principal = self._by_key.get(access_key) or current_caller()
        if principal is None or not signing_name or signing_name in ("sts", "iam"):
            return
        if signing_name == "s3":
            action = "s3:" + _S3_ACTIONS.get(response.data.get("Action", ""), response.data.get("Action", ""))
            context = {}
            if action == "s3:ListBucket":
                prefix = response.querystring.get("prefix", [""])
                context["s3:prefix"] = prefix[0] if isinstance(prefix, list) else prefix
            resources, dependent = [unquote(moto_resource)], []
            error = DeniedS3
        else:
            service = signing_name
            api = response._get_action()
            action = _API_TO_IAM.get(f"{service}:{api}", f"{service}:{api}")
            params = _parameters(response)
            resources, context = request_resources(service, api, params, response)
            error = DeniedJson if _is_json(response) else DeniedQuery
            dependent = dependent_requests(service, api, params)
        try:
            for resource in resources:
                self.check(principal, action, resource, context)
            for other_action, other_resource in dependent:
                self.check(principal, other_action, other_resource)
        except AccessDenied as denied:
            raise error(str(denied)) from None
        if action == "sns:Publish":
            try:
                self.check_topic_key(principal, resources[0])
            except AccessDenied as denied:
                # SNS asks the topic's key for a data key as the publisher; a refusal is SNS's KMSAccessDenied.
                raise DeniedTopicKey(str(denied)) from None


def _listed(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _is_json(response) -> bool:
    content_type = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
    return "json" in content_type or bool(response.headers.get("X-Amz-Target") or response.headers.get("x-amz-target"))


def _parameters(response) -> dict:
    body = response.body
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if body and body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            return {}
    return {key: value[0] if isinstance(value, list) and len(value) == 1 else value
            for key, value in (response.querystring or {}).items()}


def dependent_requests(service: str, api: str, params: dict) -> list[tuple[str, str]]:
    """Actions AWS also checks on the caller for one request (a service acting on its behalf)."""
    resource_id = str(params.get("ResourceId", ""))
    if service == "application-autoscaling" and api == "RegisterScalableTarget" and \
            params.get("ServiceNamespace") == "sagemaker" and resource_id.startswith("endpoint/"):
        endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{resource_id.split('/')[1].lower()}"
        return [("sagemaker:DescribeEndpoint", endpoint), ("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint)]
    if service == "application-autoscaling" and api == "RegisterScalableTarget" and \
            params.get("ServiceNamespace") == "sagemaker" and resource_id.startswith("inference-component/"):
        component = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{resource_id.split('/')[1].lower()}"
        return [("sagemaker:DescribeInferenceComponent", component),
                ("sagemaker:UpdateInferenceComponentRuntimeConfig", component)]
    return []


def request_resources(service: str, api: str, params: dict, response=None) -> tuple[list[str], dict]:
    """The ARNs a request acts on (IAM's resource for the action), computed from its parameters."""
    base = f"{REGION}:{ACCOUNT}"
    if service == "dynamodb":
        tables = list(params.get("RequestItems", {})) or [
            item[kind]["TableName"] for item in params.get("TransactItems", []) for kind in item] or \
            [params.get("TableName", "*")]
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [f"arn:aws:dynamodb:{base}:table/{name}{index}" for name in tables], {}
    if service == "states":
        for key in ("executionArn", "stateMachineArn"):
            if params.get(key):
                return [params[key]], {}
        return ["*"], {}
    if service == "sns":
        return [params.get("TopicArn") or params.get("TargetArn") or "*"], {}
    if service == "sqs":
        return [LocalAccess.queue_arn(params["QueueUrl"]) if params.get("QueueUrl") else "*"], {}
    if service == "events" and api == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])} or {"default"}
        return [bus if bus.startswith("arn:") else f"arn:aws:events:{base}:event-bus/{bus}" for bus in buses], {}
    if service == "lambda":
        name = (getattr(response, "uri_match", None) or {}).get("FunctionName") or params.get("FunctionName", "*")
        name = unquote(name)
        if name.split(":function:")[-1].startswith("local-"):
            return [], {}  # a local adapter of a service integration: authorized as that integration
        return [name if name.startswith("arn:") else f"arn:aws:lambda:{base}:function:{name}"], {}
    if service == "application-autoscaling":
        # A scalable target's ARN ends in an id AWS assigns; locally a stable one from its resource id.
        target = hashlib.sha1(str(params.get("ResourceId", "")).encode()).hexdigest()[:12]
        return [f"arn:aws:application-autoscaling:{base}:scalable-target/{target}"], {}
    if service == "sagemaker" and params.get("InferenceComponentName"):
        return [f"arn:aws:sagemaker:{base}:inference-component/{params['InferenceComponentName'].lower()}"], {}
    if service == "sagemaker" and params.get("EndpointName"):
        return [f"arn:aws:sagemaker:{base}:endpoint/{params['EndpointName'].lower()}"], {}
    return ["*"], {}


def integration_requests(access: LocalAccess, integration: str, parameters: dict) -> list[tuple]:
    """(action, resource[, context]) tuples the state machine's role needs for one service integration, as the
    Step Functions developer guide lists them ("IAM policies for integrated services")."""
    base = f"{REGION}:{ACCOUNT}"

    def rule(name: str) -> list[tuple[str, str]]:
        arn = f"arn:aws:events:{base}:rule/{name}"
        return [("events:PutTargets", arn), ("events:PutRule", arn), ("events:DescribeRule", arn)]

    if integration == "mediaconvert:createJob.sync":
        return [("mediaconvert:CreateJob", f"arn:aws:mediaconvert:{base}:queues/Default"),
                ("mediaconvert:GetJob", f"arn:aws:mediaconvert:{base}:jobs/*"),
                ("mediaconvert:CancelJob", f"arn:aws:mediaconvert:{base}:jobs/*"),
                ("iam:PassRole", parameters.get("Role", ""), {"iam:PassedToService": "mediaconvert.amazonaws.com"}),
                *rule("StepFunctionsGetEventsForMediaConvertJobRule")]
    if integration == "batch:submitJob.sync":
        return [("batch:SubmitJob", parameters["JobQueue"]), ("batch:SubmitJob", parameters["JobDefinition"]),
                # .sync follows the job and terminates it when the execution stops or times out.
                ("batch:DescribeJobs", "*"), ("batch:TerminateJob", f"arn:aws:batch:{base}:job/*"),
                *rule("StepFunctionsGetEventsForBatchJobsRule")]
    if integration == "ecs:runTask.waitForTaskToken":
        task_definition = access.template_task_definition(parameters["TaskDefinition"])
        return [("ecs:RunTask", task_definition["arn"]),
                *(("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
                  for role in task_definition["roles"])]
    if integration.startswith("transcribe:"):
        action = integration.split(":")[1]
        name = parameters.get("TranscriptionJobName", "*")
        return [(f"transcribe:{action[0].upper()}{action[1:]}", f"arn:aws:transcribe:{base}:transcription-job/{name}")]
    raise KeyError(f"the permissions of {integration} are not modelled locally")


def authorize_integration(access: LocalAccess, integration: str, parameters: dict) -> None:
    for action, resource, *context in integration_requests(access, integration, parameters):
        access.check(access.workflow, action, resource, *context)


class CallerChecked:
    """Wraps a local stand-in (MediaConvert Probe by ffprobe, InvokeEndpoint over local HTTP) so
    that each of its calls is authorized as the calling function, as the real API call would be."""

    def __init__(self, access: LocalAccess, inner, action: str, resource):
        self._access, self._inner, self._action, self._resource = access, inner, action, resource

    def __getattr__(self, name: str):
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        def checked(*args, **kwargs):
            caller = current_caller()
            if caller is not None:  # the runner's own calls are unrestricted
                self._access.check(caller, self._action, self._resource())
            return attribute(*args, **kwargs)

        return checked
