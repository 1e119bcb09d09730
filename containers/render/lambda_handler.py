"""render_short_clip: the Lambda path of the renderer, for clips short enough to finish in a function.

The same image as the Fargate task (containers/render), started by awslambdaric with this
handler. The event is one item of the render list (build_render_specs): {"spec_s3": "s3://..."}
plus what the workflow carries along. It renders in /tmp (the function's ephemeral storage,
sized for the largest source choose_render_target lets through) and returns the render's
output document. A failed render raises RenderFailed with the one-line cause, so the
workflow can catch it by name; the partial object is already gone by then.
"""

from __future__ import annotations

import os

if __package__:
    from containers.render.clip import render_clip
    from containers.render.config import RenderConfig, client_config, load_spec
    from containers.render.errors import RenderError
else:  # inside the image: the modules sit beside this file
    from clip import render_clip  # type: ignore[no-redef]
    from config import RenderConfig, client_config, load_spec  # type: ignore[no-redef]
    from errors import RenderError  # type: ignore[no-redef]


class RenderFailed(Exception):
    """The render could not be made; the message says why in one line."""


def handler(event: dict, context) -> dict:
    spec_s3 = event.get("spec_s3") if isinstance(event, dict) else None
    if not spec_s3:
        raise RenderFailed("the event has no spec_s3 (s3://bucket/key of the render spec)")
    import boto3

    try:
        config = RenderConfig.from_env({**os.environ, "RENDER_SPEC": "", "RENDER_SPEC_S3": spec_s3,
                                        "TASK_TOKEN": ""})
        s3 = boto3.client("s3", config=client_config())
        spec = load_spec(config, s3)
        request_id = getattr(context, "aws_request_id", "") or ""
        return render_clip(spec, s3, attempt_id=request_id.replace("-", "")[:32] or None,
                           work_dir=config.work_dir or "/tmp", preset=config.preset, ffmpeg=config.ffmpeg,
                           ffprobe=config.ffprobe)
    except RenderError as error:
        raise RenderFailed(str(error)) from None
