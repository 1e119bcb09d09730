"""Assembles the layers into one stack and turns cdk-nag AwsSolutions findings into synth errors.

One stack, constructs by layer: cross-stack exports would freeze the bucket and table
names the pipeline imports, and the data is kept on delete by its removal policy anyway.
"""

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.config import VideoFlowConfig, load_config
from stacks.nag import acknowledge
from stacks.names import STACK_NAME
from stacks.pipeline import PipelineLayer
from stacks.state import StateLayer


class VideoFlowStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: VideoFlowConfig, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        self.state = StateLayer(self, "State", config=config)
        self.pipeline = PipelineLayer(self, "Pipeline", state=self.state, config=config)
        for name, value, description in (
            ("IngestBucketName", self.state.ingest_bucket.bucket_name, "Upload originals under uploads/ here"),
            ("OutputBucketName", self.state.output_bucket.bucket_name, "Derivatives and outputs/<job_id>/manifest.json"),
            ("JobsTableName", self.state.jobs_table.table_name, "One item per job"),
            ("EventsTableName", self.state.events_table.table_name, "Every job's event log"),
            ("StateMachineArn", self.pipeline.orchestration.state_machine.state_machine_arn, "The job workflow"),
            ("AlarmTopicArn", self.pipeline.operations.alarm_topic.topic_arn, "Subscribe to hear about failed jobs"),
            ("NotificationTopicArn", self.pipeline.operations.notifications.topic_arn, "Subscribe to hear about completed jobs"),
            ("ApiUrl", self.pipeline.api.url, "Jobs API (IAM-signed): uploads, jobs, events, search (openapi.json)"),
            ("WebSocketUrl", self.pipeline.live_push.url,
             "Live job events (IAM-signed $connect): send {action: subscribe, job_id, after}"),
            ("InferenceEndpointName", self.pipeline.inference.endpoint_name, "The embedding endpoint"),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(child, {
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]": "CDK's own deploy-time handler that turns on EventBridge "
                    "notifications for the ingest bucket; the managed policy only lets it write its logs.",
                })


CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def cdk_json_context() -> dict:
    """cdk.json's context: the "videoflow" settings and the CDK feature flags (those of a current
    `cdk init`, e.g. access logs delivered under a bucket policy, so the log bucket can disable ACLs)."""
    return json.loads(CDK_JSON.read_text())["context"]


# What the CDK CLI adds to every synth's context by default (its pathMetadata and assetMetadata settings).
CLI_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def build_app(app: cdk.App) -> cdk.App:
    # The CDK CLI passes cdk.json's context to app.py; `python app.py` alone (tests, local mode) gets
    # none. Whatever the app was not given comes from cdk.json (and the CLI's defaults), so every synth
    # path writes the same template as `cdk synth`, and -c on the CLI still overrides a setting.
    for key, value in {**CLI_CONTEXT, **cdk_json_context()}.items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)
    config = load_config(app.node.try_get_context("videoflow"))
    VideoFlowStack(app, STACK_NAME, config=config,
                   description="VideoFlow: upload a video, get edit-ready derivatives and AI-chosen clips")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
