"""What the render workflow tests share: the generated talk, and how to look at what a job rendered."""

import json
import re
import subprocess

import pytest

from lambdas.common.keys import clips_prefix
from videoflow.sample import speech_clips

RENDER_TASK = "ecs:runTask.waitForTaskToken"
ALL_ON_FARGATE = {"RENDER_LAMBDA_MAX_CLIP_S": "0"}
SMALL_CLIPS = {"RENDER_SHORT_SIDE": "540"}  # 540x960 for 9:16: quicker renders where the size is not the point
SHORT_HEARTBEAT_S = 6

needs_speech = pytest.mark.skipif(not speech_clips(), reason="needs Debian's pocketsphinx-testdata (make tools)")


def ffprobe(path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                           str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def integrated_loudness_lufs(path) -> float:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def clip_objects(job) -> list[str]:
    s3, bucket = job.pipeline.s3, job.pipeline.output_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=clips_prefix(job.job_id)).get("Contents", [])
    return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed)


def history_types(job) -> list[str]:
    arn = job.execution["executionArn"]
    return [event["type"] for event in job.pipeline.sfn.get_execution_history(executionArn=arn,
                                                                              maxResults=1000)["events"]]
