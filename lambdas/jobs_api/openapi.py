"""The jobs API's OpenAPI document, generated from the Powertools routes (the code is the spec).

    python -m lambdas.jobs_api.openapi            # rewrites openapi.json at the repository root
    python -m lambdas.jobs_api.openapi --check    # exits 1 when the committed file is stale

tests/unit/test_jobs_api_openapi.py fails when the committed openapi.json differs from what
the routes generate, and drives requests generated from this document through the handler.
"""

import argparse
import json
import sys
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"
REGENERATE = "python -m lambdas.jobs_api.openapi"
TITLE = "VideoFlow jobs API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Upload a video and follow its job. Every request is signed with AWS Signature Version 4 "
    "(service execute-api) by an IAM principal allowed execute-api:Invoke on this API; an unsigned "
    "request gets 403 from API Gateway. Every error body is JSON with a `message`."
)
SIGV4 = APIKey(
    in_=APIKeyIn.header, name="Authorization",
    description="AWS Signature Version 4 for service execute-api (awscurl --service execute-api, or botocore's "
                "SigV4Auth); API Gateway checks it (AuthorizationType AWS_IAM).",
    openapi_extensions={"x-amazon-apigateway-authtype": "awsSigv4"},
)


def document() -> str:
    """openapi.json as it should be committed: stable key order, two-space indent, final newline."""
    from lambdas.jobs_api.handler import app

    text = app.get_openapi_json_schema(
        title=TITLE, version=VERSION, description=DESCRIPTION,
        servers=[Server(url="https://{api_id}.execute-api.{region}.amazonaws.com/v1",
                        description="the stack output ApiUrl",
                        variables={"api_id": {"default": "api_id"}, "region": {"default": "us-east-1"}})],
        security_schemes={"sigv4": SIGV4}, security=[{"sigv4": []}],
    )
    return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that openapi.json is current")
    args = parser.parse_args(argv)
    wanted = document()
    current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    if args.check:
        if current != wanted:
            print(f"{DOCUMENT.name} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        DOCUMENT.write_text(wanted)
        print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
