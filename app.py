#!/usr/bin/env python3
"""The VideoFlow CDK app: `cdk deploy --all` in AWS; `videoflow run` synthesizes it locally."""

import os

import aws_cdk as cdk

from stacks.app import build_app

app = build_app(cdk.App(outdir=os.environ.get("CDK_OUTDIR")))
app.synth()
