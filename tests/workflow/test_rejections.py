"""Bad input ends REJECTED with a reason a person understands, and the original is untouched."""

import pytest

from tests.media import make_audio_only, make_empty, make_not_a_video, make_truncated, make_video


def rejected(job) -> str:
    assert job.execution["status"] == "SUCCEEDED"  # a rejection is an answer, not an outage
    assert job.manifest["status"] == "REJECTED"
    assert job.event_types[-1] == "job.rejected"
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "REJECTED"
    return job.manifest["reason"]


def original_is_untouched(job, path, key):
    s3, bucket = job.pipeline.s3, job.pipeline.ingest_bucket
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    assert len(versions) == 1
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == path.read_bytes()


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (make_empty, "empty.mp4", "empty"),
        (lambda p: make_not_a_video(p, kind="text"), "notes.mp4", "not a video"),
        (lambda p: make_not_a_video(p, kind="pdf"), "slides.mov", "PDF"),
        (lambda p: make_truncated(p), "cut.mp4", "truncated"),
        (lambda p: make_audio_only(p), "podcast.mp4", "no video stream"),
    ],
    ids=["empty", "text-named-mp4", "pdf-named-mov", "truncated", "audio-only"],
)
def test_a_file_that_is_not_a_usable_video_is_rejected_with_its_reason(run_job, tmp_path, make, name, expected):
    path = make(tmp_path / name)

    job = run_job(path)

    assert expected.lower() in rejected(job).lower()
    original_is_untouched(job, path, f"uploads/{name}")


def test_a_video_longer_than_the_limit_is_rejected(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "long.mp4", seconds=3), environment={"MAX_DURATION_S": "2"})

    assert "limit is 0:00:02" in rejected(job)
    assert job.manifest["source"]["duration_s"] == pytest.approx(3, abs=0.1)


def test_a_file_larger_than_the_limit_is_rejected(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "big.mp4", seconds=2), environment={"MAX_SIZE_BYTES": "1000"})

    assert "the limit is" in rejected(job)


def test_an_unsafe_key_is_rejected_before_anything_reads_it(run_job, tmp_path):
    path = make_video(tmp_path / "x.mp4", seconds=1)

    job = run_job(path, key="uploads/../../etc/x.mp4")

    assert job.manifest["reason_code"] == "UNSAFE_KEY"
    assert "upload.validated" not in job.event_types
    rejected(job)
