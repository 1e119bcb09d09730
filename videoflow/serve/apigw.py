"""API Gateway (REST, Lambda proxy integration) on localhost: an HTTP request in, the handler's answer out.

`proxy_event` builds the event API Gateway sends a proxy-integrated function (payload
format 1.0: httpMethod, path, resource, pathParameters, query strings and headers in single-
and multi-value form, body, isBase64Encoded, requestContext); `http_response` turns the
function's answer back into status, headers and body bytes, as API Gateway does.

Routes come from the synthesized template, as deployed: each AWS::ApiGateway::Method with
an AWS_PROXY integration names a resource path (`/jobs/{job_id}/search`) and the function
behind it. Functions the stack does not wire to the API yet can be added as extra routes.
"""

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

from videoflow.local.template import ACCOUNT, LocalTemplate

STAGE = "local"
API_ID = "videoflowlocal"
# Who signs every request of `videoflow serve`: API Gateway's IAM authorization names the signer, and the
# jobs API's owner checks need one. The local account has one user; it is no administrator unless listed.
LOCAL_USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/videoflow-local"
# Bodies API Gateway passes as text; anything else reaches the function base64-encoded.
_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript)|[^;]*\+json)", re.I)
_BAD_GATEWAY = {"message": "Internal server error"}


@dataclass(frozen=True)
class Route:
    """One API Gateway method: `resource` is its path template, `function` the local function name."""

    method: str  # GET, POST, ..., or ANY
    resource: str
    function: str
    pattern: re.Pattern = field(compare=False, repr=False, default=None)

    def __post_init__(self):
        object.__setattr__(self, "pattern", _path_pattern(self.resource))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway picks the most specific resource: literal segments beat {param} beat {proxy+}."""
        segments = [s for s in self.resource.split("/") if s]
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (-greedy, len(segments), literal)


class Routes:
    def __init__(self, routes: list[Route]):
        # Most specific first; an explicit method beats ANY on the same resource.
        self.routes = sorted(routes, key=lambda r: (r.specificity, r.method != "ANY"), reverse=True)

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None

    def resource_exists(self, path: str) -> bool:
        return any(route.pattern.fullmatch(path) for route in self.routes)

    def __len__(self) -> int:
        return len(self.routes)


def routes_from_template(template: LocalTemplate) -> list[Route]:
    """Every proxy-integrated method of every REST API in the template, with its local function name."""
    resources = template.of_type("AWS::ApiGateway::Resource")

    def path_of(reference) -> str:
        if isinstance(reference, dict) and "Ref" in reference and reference["Ref"] in resources:
            properties = resources[reference["Ref"]]["Properties"]
            return path_of(properties["ParentId"]) + "/" + properties["PathPart"]
        return ""  # Fn::GetAtt [Api, RootResourceId]

    routes = []
    for method in template.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        integration = properties.get("Integration") or {}
        if integration.get("Type") != "AWS_PROXY":
            continue
        function = _function_in(integration.get("Uri"), template)
        if function is None:
            continue
        routes.append(Route(properties["HttpMethod"].upper(), path_of(properties["ResourceId"]) or "/",
                            template.names[function]))
    return routes


def proxy_event(method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, route: Route | None,
                path_parameters: dict[str, str] | None, source_ip: str = "127.0.0.1") -> dict:
    """The REST API proxy event (payload 1.0) for one HTTP request; `target` is the path and query, no /api."""
    path, _, query = target.partition("?")
    path = unquote(path) or "/"
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value  # API Gateway keeps the last value of a repeated header
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    is_text, text_body = not content_type or _TEXT_TYPES.match(content_type) is not None, None
    if is_text and body:
        try:
            text_body = body.decode()
        except UnicodeDecodeError:
            is_text = False
    now = time.time()
    resource = route.resource if route else path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": API_ID,
            "domainName": "localhost",
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": uuid.uuid4().hex[:16],
            "apiId": API_ID,
            "identity": {"sourceIp": source_ip, "userAgent": single_headers.get("User-Agent"),
                         "accountId": ACCOUNT, "caller": "AIDAVIDEOFLOWLOCAL", "user": "AIDAVIDEOFLOWLOCAL",
                         "userArn": LOCAL_USER_ARN, "accessKey": None,
                         "cognitoIdentityPoolId": None, "cognitoIdentityId": None,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                         "principalOrgId": None},
        },
        "body": (text_body if is_text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and not is_text,
    }


def http_response(ok: bool, answer) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway returns for the function's answer; a failed or malformed answer is a 502."""
    if not ok or not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        return _json_error(502, _BAD_GATEWAY)
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((name, str(value)))
        seen.add(name.lower())
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() not in seen:
            headers.append((name, str(value)))
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
    return answer["statusCode"], headers, data


def not_found(path: str, *, resource_exists: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    """API Gateway's answers for a request no method matches."""
    if resource_exists:
        return _json_error(405, {"message": f"Method not allowed on {path}"})
    return _json_error(404, {"message": f"No route for {path}"})


def _json_error(status: int, body: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _path_pattern(resource: str) -> re.Pattern:
    parts = []
    for segment in [s for s in resource.split("/") if s]:
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{_group(segment[1:-2])}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{_group(segment[1:-1])}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


def _group(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"unsupported path parameter name {name!r}")
    return name


def _function_in(uri, template: LocalTemplate) -> str | None:
    """The logical id of the function a Lambda proxy integration URI names (inside its Fn::Join)."""
    if isinstance(uri, dict):
        if "Fn::GetAtt" in uri:
            target = uri["Fn::GetAtt"]
            logical_id = target[0] if isinstance(target, list) else target.split(".", 1)[0]
            if template.resources.get(logical_id, {}).get("Type") == "AWS::Lambda::Function":
                return logical_id
        if "Ref" in uri and template.resources.get(uri["Ref"], {}).get("Type") == "AWS::Lambda::Function":
            return uri["Ref"]
        values = uri.values()
    elif isinstance(uri, list):
        values = uri
    else:
        return None
    for value in values:
        found = _function_in(value, template)
        if found:
            return found
    return None
