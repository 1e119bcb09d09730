"""jobs_api's uploads: S3 multipart uploads presigned here, completed on request.

The caller PUTs each part to its URL, then asks to complete. The server picks the key (the
upload prefix, a random folder, a sanitized file name), so a caller can neither overwrite
another upload nor leave the prefix, and the completed object starts the workflow like any
other upload. Completing returns the job id the workflow will use (the same hash
start_pipeline computes), so the caller can follow the job at once.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from botocore.exceptions import ClientError

from lambdas.common.constants import INGEST_PREFIX
from lambdas.common.job_ids import job_id_for
from lambdas.common.models import SourceObject
from lambdas.jobs_api.models import (
    MAX_PARTS,
    CompleteRequest,
    InvalidRequest,
    NotAVideoType,
    PartUrl,
    UploadCompleted,
    UploadCreated,
    UploadNotFound,
    UploadRequest,
    UploadTooLarge,
    error_of,
)

MIB = 1024**2
MIN_PART_SIZE_BYTES = 8 * MIB  # S3 wants >= 5 MiB for every part but the last
MAX_PART_SIZE_BYTES = 5 * 1024**3  # S3's limit for one part
UPLOAD_URL_EXPIRES_S = 3600
MAX_FILE_NAME_CHARS = 120

_VIDEO_MEDIA_TYPE = re.compile(r"^video/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(filename: str) -> str:
    """The last path segment of `filename`, in letters, digits, '.', '_' and '-', at most 120 characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip("._-")
    if len(name) > MAX_FILE_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = f"{stem[:MAX_FILE_NAME_CHARS - len(extension) - 1].rstrip('._-')}.{extension}"
        else:
            name = name[:MAX_FILE_NAME_CHARS].rstrip("._-")
    return name or "video"


def part_size_for(size_bytes: int) -> int:
    """At least 8 MiB, in whole MiB, large enough that the file fits in MAX_PARTS parts."""
    size = max(MIN_PART_SIZE_BYTES, -(-size_bytes // MAX_PARTS))
    return -(-size // MIB) * MIB


def create_upload(request: UploadRequest, *, s3, bucket: str, max_size_bytes: int,
                  expires_in_s: int = UPLOAD_URL_EXPIRES_S) -> UploadCreated:
    """Start a multipart upload under the upload prefix and presign a PUT URL for each part."""
    if request.size_bytes == 0:
        raise InvalidRequest("The file is empty (0 bytes): there is nothing to upload.")
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if not _VIDEO_MEDIA_TYPE.match(media_type):
        raise NotAVideoType(f"Only video files can be uploaded: content_type must be video/*, "
                            f"not {request.content_type[:100]!r}.")
    if request.size_bytes > max_size_bytes:
        raise UploadTooLarge(f"The file is {_gib(request.size_bytes)}; the limit is {_gib(max_size_bytes)}.")
    part_size = part_size_for(request.size_bytes)
    if part_size > MAX_PART_SIZE_BYTES:
        raise UploadTooLarge(f"The file is {_gib(request.size_bytes)}: more than {MAX_PARTS} parts of 5 GiB, "
                             "the most one upload can take.")
    key = f"{INGEST_PREFIX}{uuid.uuid4().hex}/{safe_file_name(request.filename)}"
    started = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=media_type)
    upload_id = started["UploadId"]
    part_count = -(-request.size_bytes // part_size)
    parts = [
        PartUrl(part_number=number, url=s3.generate_presigned_url(
            "upload_part", HttpMethod="PUT", ExpiresIn=expires_in_s,
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
        ))
        for number in range(1, part_count + 1)
    ]
    return UploadCreated(bucket=bucket, key=key, upload_id=upload_id, part_size_bytes=part_size, parts=parts,
                         expires_in_s=expires_in_s)


def complete_upload(request: CompleteRequest, *, s3, bucket: str) -> UploadCompleted:
    """Complete the multipart upload; the object starts the workflow, whose job id is returned."""
    _check_upload_key(request.key)
    numbers = [part.part_number for part in request.parts]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise InvalidRequest(f"Each part may be listed once; part {repeated[0]} is listed more than once.")
    parts = [{"PartNumber": part.part_number, "ETag": _quoted(part.etag)}
             for part in sorted(request.parts, key=lambda part: part.part_number)]
    try:
        completed = s3.complete_multipart_upload(
            Bucket=bucket, Key=request.key, UploadId=request.upload_id, MultipartUpload={"Parts": parts},
        )
    except ClientError as error:
        code, message = error_of(error)
        if code == "NoSuchUpload":
            raise UploadNotFound(f"There is no upload {request.upload_id[:100]} for {request.key}: it was "
                                 "completed or aborted already, or never started.") from None
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidRequest", "InvalidArgument",
                    "MalformedXML"}:
            raise InvalidRequest(f"S3 refused to complete the upload ({code}): {message}") from None
        raise
    version_id = completed.get("VersionId") or None
    size_bytes = int(s3.head_object(Bucket=bucket, Key=request.key)["ContentLength"])
    source = SourceObject(bucket=bucket, key=request.key, version_id=version_id,
                          etag=completed.get("ETag", "").strip('"'), size_bytes=size_bytes)
    job_id = job_id_for(source)
    return UploadCompleted(bucket=bucket, key=request.key, version_id=version_id, job_id=job_id)


def _quoted(etag: str) -> str:
    """S3 returns ETags in double quotes; clients pass them on with or without."""
    return '"' + etag.strip('"') + '"'


def _check_upload_key(key: str) -> None:
    segments = key[len(INGEST_PREFIX):].replace("\\", "/").split("/")
    if not key.startswith(INGEST_PREFIX) or any(segment in ("", ".", "..") for segment in segments):
        raise InvalidRequest(f"The key must be the one POST /uploads returned, under {INGEST_PREFIX!r}.")


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB" if size_bytes >= 1024**3 else f"{size_bytes:,} bytes"
