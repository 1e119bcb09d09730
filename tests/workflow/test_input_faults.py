"""Faults in the input that only show once something reads further than the header.

A fast-start MP4 cut short (its index intact, its media gone), a header that understates the
length, an upload overwritten while MediaConvert reads it, a transcode that reports success
without its proxy, damage in the middle of the media, and a playlist posing as MXF. Each is
injected through the upload itself or through the MediaConvert adapter; the workflow's own
Catch (REJECTED through HandleFailure) or failure path (FAILED through compensate) answers.
"""

from pathlib import Path

import pytest

from tests.media import (
    MXF_PARTITION_KEY,
    make_corrupted_middle,
    make_duration_lie,
    make_playlist,
    make_truncated,
    make_video,
)
from tests.workflow.fakes import MediaConvertCallCounter
from videoflow.local.access import acting_as
from videoflow.local.mediaconvert import create_job_sync

DERIVATIVES = "mediaconvert:createJob.sync"


def _rejected(job) -> dict:
    assert job.execution["status"] == "SUCCEEDED"  # a rejection is an answer, not an outage
    assert job.manifest["status"] == "REJECTED"
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "REJECTED"
    return next(e for e in reversed(job.events) if e["type"] == "job.rejected")["detail"]


def _uploads_replaced_with(path: Path, key: str) -> type:
    """A MediaConvert adapter class: the user uploads `path` under `key` as the job starts, then it runs."""

    class UploadOverwrittenAsTranscodeStartsFake:
        def __init__(self, pipeline):
            self.pipeline = pipeline

        def __call__(self, parameters: dict) -> dict:
            with acting_as(None):  # the user, not MediaConvert's role, writes the new version
                self.pipeline.s3.put_object(Bucket=self.pipeline.ingest_bucket, Key=key, Body=path.read_bytes())
            return create_job_sync(parameters)  # MediaConvert reads the key by URL: the newer bytes

    return UploadOverwrittenAsTranscodeStartsFake


class ProxyLostAfterTranscodeFake:
    """The real transcode reports COMPLETE, but its proxy is not in S3 (an output that never landed)."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __call__(self, parameters: dict) -> dict:
        result = create_job_sync(parameters)
        with acting_as(None):
            s3, bucket = self.pipeline.s3, self.pipeline.output_bucket
            for item in s3.list_objects_v2(Bucket=bucket, Prefix="derivatives/").get("Contents", []):
                if "/proxy/" in item["Key"]:
                    s3.delete_object(Bucket=bucket, Key=item["Key"])
        return result


def test_a_faststart_mp4_cut_short_is_rejected_from_its_index_before_mediaconvert_is_paid(run_job, tmp_path):
    counter = MediaConvertCallCounter()

    job = run_job(make_truncated(tmp_path / "cut.mp4", fraction=0.5, faststart=True, seconds=2),
                  adapters={DERIVATIVES: counter})

    detail = _rejected(job)
    assert (detail["failed_step"], detail["reason_code"]) == ("ProbeMedia", "UNREADABLE_MEDIA")
    assert "the index points at media up to byte" in detail["reason"] or "declares" in detail["reason"]
    assert "truncated" in detail["reason"]
    assert counter.calls == 0


def test_an_mp4_whose_header_claims_2_s_but_holds_8_is_held_to_the_limit_by_its_measured_length(run_job, tmp_path):
    counter = MediaConvertCallCounter()

    job = run_job(make_duration_lie(tmp_path / "short.mp4", seconds=8, claimed_s=2),
                  adapters={DERIVATIVES: counter}, environment={"MAX_DURATION_S": "5"})

    detail = _rejected(job)
    assert (detail["failed_step"], detail["reason_code"]) == ("EnforceLimits", "DURATION_LIMIT")
    assert detail["reason"] == "The video lasts 0:00:08 (its header claims 0:00:02); the limit is 0:00:05."
    assert counter.calls == 0


def test_a_matroska_whose_duration_element_claims_1_s_but_holds_4_is_rejected_once_decoded(run_job, tmp_path):
    job = run_job(make_duration_lie(tmp_path / "short.mkv", seconds=4, claimed_s=1, container="mkv"),
                  environment={"MAX_DURATION_S": "2.5"})

    detail = _rejected(job)
    assert (detail["failed_step"], detail["reason_code"]) == ("RecordDerivatives", "DURATION_LIMIT")
    assert detail["reason"] == "The video lasts 4.0 s once decoded (the file stated 1.0 s); the limit is 2.5 s."
    assert "derivatives.recorded" not in job.event_types


def test_an_upload_overwritten_while_mediaconvert_reads_it_is_rejected_as_replaced(run_job, tmp_path):
    original = make_video(tmp_path / "talk.mp4", seconds=2)
    newer = make_video(tmp_path / "newer.mp4", seconds=2, width=320, height=180)

    job = run_job(original, adapters={DERIVATIVES: _uploads_replaced_with(newer, "uploads/talk.mp4")})

    detail = _rejected(job)
    assert (detail["failed_step"], detail["reason_code"]) == ("RecordDerivatives", "SOURCE_MISSING")
    assert "replaced by a newer upload while it was being processed" in detail["reason"]
    assert "derivatives.recorded" not in job.event_types
    assert "derivatives" not in job.pipeline.jobs_table_item(job.job_id)  # nothing from the newer bytes is kept
    versions = job.pipeline.s3.list_object_versions(Bucket=job.pipeline.ingest_bucket, Prefix="uploads/talk.mp4")
    assert len(versions["Versions"]) == 2  # both uploads are kept as they were


def test_a_transcode_that_reports_success_without_its_proxy_fails_the_job_with_the_reason(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "talk.mp4", seconds=2), adapters={DERIVATIVES: ProxyLostAfterTranscodeFake})

    assert job.execution["status"] == "FAILED"
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason"].startswith("RecordDerivatives failed: The proxy video was not written (expected s3://")
    failed = job.events[-1]
    assert (failed["type"], failed["detail"]["failed_step"]) == ("job.failed", "RecordDerivatives")


def test_a_video_damaged_in_the_middle_is_processed_with_what_decodes(run_job, tmp_path):
    job = run_job(make_corrupted_middle(tmp_path / "damaged.mp4", seconds=2))

    assert job.manifest["status"] == "COMPLETED"
    recorded = next(event for event in job.events if event["type"] == "derivatives.recorded")
    # The decoder conceals the damaged stretch; the proxy still covers the whole video.
    assert recorded["detail"]["proxy_duration_s"] == pytest.approx(2.0, abs=0.1)


def test_a_playlist_carrying_the_mxf_key_is_rejected_before_anything_decodes_it(run_job, tmp_path):
    secret = make_video(tmp_path / "secret.ts", seconds=1, container="ts")
    playlist = make_playlist(tmp_path / "clip.mxf", [secret.as_uri(), "http://169.254.169.254/latest/meta-data/"],
                             comment=MXF_PARTITION_KEY)

    job = run_job(playlist)

    detail = _rejected(job)
    assert (detail["failed_step"], detail["reason_code"]) == ("ValidateUpload", "NOT_A_VIDEO")
    assert detail["reason"].startswith("The file is an HLS playlist (.m3u8): a list of other files or addresses")
    assert "media.probed" not in job.event_types
