from lambdas.common import aws
from lambdas.common.handler import step_handler
from lambdas.common.models import JobRequest
from lambdas.validate_upload.logic import validate_upload

handler = step_handler(
    "validate_upload", JobRequest, lambda request, step: validate_upload(request, aws.client("s3"), step.events)
)
