"""Layer 01, interface (the part issue 3 needs): the search API over the inference endpoint.

REST API with IAM authorization (callers sign with SigV4), request validation, access and
execution logs, X-Ray. `GET /jobs/{job_id}/search?q=...&k=...` returns the best moments.
"""

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw, aws_logs as logs
from constructs import Construct

from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction
from stacks.nag import acknowledge


class SearchApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, search: PipelineFunction, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays[config.log_retention],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self, "Api",
            description="VideoFlow jobs API (IAM-signed requests only)",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # bodies would carry users' queries into the logs
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True),
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_parameters=True, validate_request_body=True,
        )
        search_resource = self.api.root.add_resource("jobs").add_resource("{job_id}").add_resource("search")
        search_resource.add_method(
            "GET", apigw.LambdaIntegration(search.function),
            request_validator=validator,
            request_parameters={"method.request.querystring.q": True, "method.request.querystring.k": False},
        )
        acknowledge(self.api, {
            "AwsSolutions-APIG3": "No WAF web ACL by default: every request must be SigV4-signed by an IAM "
                                  "principal of this account, and the stage is throttled. Attach a web ACL "
                                  "when the API is exposed to browsers (interface layer).",
            "AwsSolutions-COG4": "Authorization is IAM (SigV4), not Cognito, by design: callers are services and "
                                 "operators with IAM credentials.",
        })
        cloud_watch_role = self.api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            acknowledge(cloud_watch_role, {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": "API Gateway's account-level role for execution logs; "
                                                         "the AWS-managed policy only allows writing logs.",
            })
        self.url = self.api.url
