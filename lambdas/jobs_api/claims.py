"""The uploads this API started: who started each, under which key, and how many bytes were declared.

POST /uploads writes one claim per multipart upload; POST /uploads/complete reads it to check
that the caller is the one who started the upload and that the parts hold exactly the bytes
declared, and records the completion on it (a repeated complete gets the same answer). A claim
expires a day after S3's lifecycle rule has aborted an upload left incomplete (7 days).
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from lambdas.common import aws
from lambdas.common.dynamo import from_dynamo, to_dynamo

CLAIM_TTL_S = 8 * 24 * 3600


class UploadClaim(BaseModel):
    upload_id: str
    key: str
    owner: str
    size_bytes: int
    part_size_bytes: int
    created_at_s: int
    expires_at: int
    version_id: str | None = None  # these three once completed
    etag: str | None = None
    job_id: str | None = None

    def part_sizes(self) -> dict[int, int]:
        """Part number -> the bytes that part must hold: the part size, and the rest in the last part."""
        count = -(-self.size_bytes // self.part_size_bytes)
        return {number: min(self.part_size_bytes, self.size_bytes - (number - 1) * self.part_size_bytes)
                for number in range(1, count + 1)}


class UploadClaims:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def put(self, upload_id: str, *, key: str, owner: str, size_bytes: int, part_size_bytes: int,
            now_s: float | None = None) -> UploadClaim:
        now = int(time.time() if now_s is None else now_s)
        claim = UploadClaim(upload_id=upload_id, key=key, owner=owner, size_bytes=size_bytes,
                            part_size_bytes=part_size_bytes, created_at_s=now, expires_at=now + CLAIM_TTL_S)
        self._table.put_item(Item=to_dynamo(claim.model_dump(exclude_none=True)))
        return claim

    def get(self, upload_id: str) -> UploadClaim | None:
        item = self._table.get_item(Key={"upload_id": upload_id}, ConsistentRead=True).get("Item")
        return UploadClaim.model_validate(from_dynamo(item)) if item else None

    def completed(self, claim: UploadClaim, version_id: str | None, etag: str, job_id: str) -> UploadClaim:
        done = claim.model_copy(update={"version_id": version_id, "etag": etag, "job_id": job_id})
        self._table.put_item(Item=to_dynamo(done.model_dump(exclude_none=True)))
        return done

    def delete(self, upload_id: str) -> None:
        self._table.delete_item(Key={"upload_id": upload_id})
