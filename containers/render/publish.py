"""Publishing a rendered file so that its key only ever holds a whole, checked file.

An attempt uploads to `<key>.partial-<attempt id>`, checks the size that landed, and copies
that object (by its ETag) to the key; then the partials go, its own and any an earlier,
killed attempt left. A retried render rewrites the same key with the same clip, so there are
never two copies, and a stopped one leaves nothing under the key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

if __package__:
    from containers.render.errors import RenderError, s3_call
    from containers.render.heartbeat import StopSignal
else:  # run as a script inside the image: the modules sit beside this file
    from errors import RenderError, s3_call  # type: ignore[no-redef]
    from heartbeat import StopSignal  # type: ignore[no-redef]


def partial_key(output_key: str, attempt_id: str) -> str:
    """Where an attempt uploads its clip before the check: <output key>.partial-<attempt id>."""
    return f"{output_key}.partial-{attempt_id}"


def publish(s3, path: Path, location, content_type: str, metadata: dict, attempt_id: str, stop: StopSignal,
            log: Callable[[str], None]) -> None:
    """Upload to <key>.partial-<attempt>, check its size, copy it (by ETag) to the key, delete the partials.

    The key therefore only ever holds a whole, checked file; a retry rewrites the same key.
    """
    size = path.stat().st_size
    temporary = partial_key(location.key, attempt_id)
    try:
        stop.check()
        s3_call(lambda: s3.upload_file(str(path), location.bucket, temporary,
                                       ExtraArgs={"ContentType": content_type, "Metadata": metadata}),
                f"uploading to s3://{location.bucket}/{temporary}")
        landed = s3_call(lambda: s3.head_object(Bucket=location.bucket, Key=temporary),
                         f"checking s3://{location.bucket}/{temporary}")
        if int(landed.get("ContentLength", -1)) != size:
            raise RenderError(f"s3://{location.bucket}/{temporary} holds {landed.get('ContentLength')} bytes, "
                              f"the file has {size}")
        stop.check()
        s3_call(lambda: s3.copy({"Bucket": location.bucket, "Key": temporary}, location.bucket, location.key,
                                ExtraArgs={"ContentType": content_type, "Metadata": metadata,
                                           "MetadataDirective": "REPLACE", "CopySourceIfMatch": landed["ETag"]}),
                f"publishing {location.uri}")
    except BaseException:
        # Whatever stopped it (an error, TaskLost, SIGTERM), the partial goes; deleting a key that
        # was never written is a no-op.
        _delete_quietly(s3, location.bucket, temporary, log)
        raise
    _delete_quietly(s3, location.bucket, temporary, log)
    _delete_stale_partials(s3, location.bucket, location.key, log)


def _delete_quietly(s3, bucket: str, key: str, log: Callable[[str], None]) -> None:
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception as error:  # noqa: BLE001 - best effort; compensate removes what is left
        log(f"could not delete s3://{bucket}/{key}: {error}")


def _delete_stale_partials(s3, bucket: str, output_key: str, log: Callable[[str], None]) -> None:
    """Partials an earlier, killed attempt left beside the clip: the clip is published, they are garbage."""
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=partial_key(output_key, ""))
    except Exception as error:  # noqa: BLE001 - best effort
        log(f"could not list partials of s3://{bucket}/{output_key}: {error}")
        return
    for item in listed.get("Contents") or []:
        _delete_quietly(s3, bucket, item["Key"], log)
