"""What names a job: the same upload always gets the same id, and ids are safe in paths and keys.

start_pipeline names the execution after it (so a duplicate event starts nothing), and the
jobs API computes it before the upload exists (so a client knows where to look).
"""

import hashlib

from lambdas.common.constants import PIPELINE_VERSION
from lambdas.common.models import SourceObject

# What an API path or a subscription accepts as a job id (a job_id_for digest matches it).
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"


def job_id_for(source: SourceObject) -> str:
    """A hash of the pipeline version, bucket, key and object version (the ETag where unversioned)."""
    identity = source.version_id or source.etag
    digest = hashlib.sha256(f"{PIPELINE_VERSION}\0{source.bucket}\0{source.key}\0{identity}".encode())
    return digest.hexdigest()[:32]
