"""boto3 clients and resources, created once per process and reused across invocations."""

from functools import cache

import boto3
from botocore.config import Config

# Standard retry mode backs off on throttling, which a burst of 38 functions will meet.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str):
    return boto3.client(service, config=_CONFIG)


@cache
def table(name: str):
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


@cache
def websocket_management(endpoint_url: str):
    """The API Gateway Management API of a WebSocket stage (https://{api}.execute-api.{region}.amazonaws.com/{stage})."""
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests and the local runner start a fresh moto)."""
    client.cache_clear()
    table.cache_clear()
    websocket_management.cache_clear()
