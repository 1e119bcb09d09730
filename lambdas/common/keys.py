"""Where a job's objects live in the output bucket: one place, so writers and readers agree."""

from lambdas.common.constants import MANIFESTS_PREFIX, OUTPUTS_PREFIX


def manifest_key(job_id: str) -> str:
    """The published manifest of a job."""
    return f"{OUTPUTS_PREFIX}{job_id}/manifest.json"


def frame_manifest_key(job_id: str) -> str:
    """The frames of a job, in time order and in chunks, for the vision workers."""
    return f"{MANIFESTS_PREFIX}{job_id}/frames.json"
