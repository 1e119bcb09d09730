"""A job whose embedding model never gets a copy (no GPU capacity in the Region, say) still completes: after
INFERENCE_WARM_WAIT_S (or at once, when the copy has failed), keyframe_inference builds the search index on its own CPU
with the same model, and says so.
The fault is injected where SageMaker would fail to start the copy (the local component's server)."""

from contextlib import contextmanager

from lambdas.common.search import load_index
from tests.media import make_video
from videoflow.search import InferenceServerFailed


@contextmanager
def no_capacity_server_fake():
    """A copy that can never start: SageMaker found no instance for it."""
    raise InferenceServerFailed("InsufficientInstanceCapacity: no ml.g5.xlarge capacity for the inference component")
    yield  # pragma: no cover - never reached


def test_given_a_model_that_never_gets_a_copy_then_the_job_completes_with_its_index_built_on_cpu(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "talk.mp4", seconds=2), inference_server=no_capacity_server_fake)

    assert job.manifest["status"] == "COMPLETED"
    indexed = next(e["detail"] for e in job.events if e["type"] == "search.indexed")
    # The copy failed to start (its component says Failed): nothing to wait for, not the 300 s bound.
    assert indexed["embedded_on"] == "cpu" and indexed["waited_for_copy_s"] < 5
    assert len(load_index(job.pipeline.output_bucket, job.job_id)) == indexed["segments"] >= 1
    assert any(change.startswith("failed: InsufficientInstanceCapacity") for _, change in job.pipeline.inference.history)
    assert next(e["detail"] for e in job.events if e["type"] == "inference.released")["copies"] == 0
