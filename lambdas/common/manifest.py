"""Where a job's published manifest lives, and the one function that writes it."""

from lambdas.common import storage
from lambdas.common.keys import manifest_key
from lambdas.common.models import JobManifest, MediaInfo, SourceObject, SourceSummary


def source_summary(source: SourceObject, media: MediaInfo | None) -> SourceSummary:
    if media is None:
        return SourceSummary(name=source.name)
    return SourceSummary(
        name=source.name, duration_s=media.duration_s, width=media.width, height=media.height,
        has_audio=media.has_audio,
    )


def write_manifest(bucket: str, manifest: JobManifest) -> str:
    key = manifest_key(manifest.job_id)
    storage.put_json(bucket, key, manifest.model_dump(mode="json"))
    return key
