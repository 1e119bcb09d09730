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


def write_record_manifest(bucket: str, record: dict, source: SourceObject, media: MediaInfo | None) -> str:
    """The manifest of a job that ended other than COMPLETED, as its job record says (status, reason):
    the record decides how a job ended, and the manifest agrees with it."""
    return write_manifest(bucket, JobManifest(
        job_id=record["job_id"], status=record["status"], reason=record.get("reason"),
        reason_code=record.get("reason_code"), source=source_summary(source, media),
    ))
