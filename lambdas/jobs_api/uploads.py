"""jobs_api's uploads: S3 multipart uploads presigned here, completed on request.

The caller PUTs each part to its URL, then asks to complete. The server picks the key (the
upload prefix, a random folder, a sanitized file name), so a caller can neither overwrite
another upload nor leave the prefix, and the completed object starts the workflow like any
other upload. Completing returns the job id the workflow will use (the same hash
start_pipeline computes), so the caller can follow the job at once.

Each part URL is signed with the part's exact size (Content-Length is a signed header), so S3
refuses a part of any other size. Before completing, the parts S3 holds are checked against
the size declared when the upload started (ListParts): a part missing can still be sent; a
part of the wrong size aborts the upload. Only the principal that started an upload may
complete it, and it becomes the owner of the job (claims.py, owned.py).
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from botocore.exceptions import ClientError

from lambdas.common.constants import INGEST_PREFIX
from lambdas.common.job_ids import job_id_for
from lambdas.common.models import SourceObject
from lambdas.common.owners import Caller
from lambdas.jobs_api.claims import UploadClaim, UploadClaims
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
    stem, dot, extension = _UNSAFE_NAME_CHARS.sub("_", name).rpartition(".")
    stem, extension = stem.strip("._-"), extension.strip("._-")
    if dot and extension and len(extension) <= 10:
        name = f"{stem or 'video'}.{extension}"  # "動画.mp4" -> "video.mp4", not "mp4"
    else:
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


def create_upload(request: UploadRequest, *, s3, bucket: str, max_size_bytes: int, claims: UploadClaims,
                  owner: str, expires_in_s: int = UPLOAD_URL_EXPIRES_S) -> UploadCreated:
    """Start a multipart upload under the upload prefix, claim it for `owner`, presign a PUT URL for each part."""
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
    try:
        claim = claims.put(upload_id, key=key, owner=owner, size_bytes=request.size_bytes, part_size_bytes=part_size)
    except Exception:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    parts = [
        PartUrl(part_number=number, size_bytes=size, url=s3.generate_presigned_url(
            "upload_part", HttpMethod="PUT", ExpiresIn=expires_in_s,
            # ContentLength is signed: S3 takes exactly `size` bytes at this URL, or refuses the PUT.
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number, "ContentLength": size},
        ))
        for number, size in claim.part_sizes().items()
    ]
    return UploadCreated(bucket=bucket, key=key, upload_id=upload_id, part_size_bytes=part_size, parts=parts,
                         expires_in_s=expires_in_s)


def complete_upload(request: CompleteRequest, *, s3, bucket: str, claims: UploadClaims, caller: Caller,
                    on_completed=None) -> UploadCompleted:
    """Check the parts against the declared size, complete the upload, and return the job it starts.

    `on_completed(job_id, source)` runs once the object exists (the jobs API records the owner there).
    """
    _check_upload_key(request.key)
    claim = claims.get(request.upload_id)
    if claim is None or claim.key != request.key or claim.owner != caller.arn:
        raise _no_upload(request)
    if claim.job_id:  # completed already: the same answer again
        return _answer(claim, bucket, on_completed)
    numbers = [part.part_number for part in request.parts]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise InvalidRequest(f"Each part may be listed once; part {repeated[0]} is listed more than once.")
    expected = claim.part_sizes()
    if sorted(numbers) != sorted(expected):
        raise InvalidRequest(f"List every part of the upload once, numbers 1 to {len(expected)}, each with the ETag "
                             "its PUT returned.")
    _check_part_sizes(s3, bucket, claim, expected, claims)
    parts = [{"PartNumber": part.part_number, "ETag": _quoted(part.etag)}
             for part in sorted(request.parts, key=lambda part: part.part_number)]
    try:
        completed = s3.complete_multipart_upload(
            Bucket=bucket, Key=request.key, UploadId=request.upload_id, MultipartUpload={"Parts": parts},
        )
    except ClientError as error:
        code, message = error_of(error)
        if code == "NoSuchUpload":
            raise _no_upload(request) from None
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidRequest", "InvalidArgument",
                    "MalformedXML"}:
            raise InvalidRequest(f"S3 refused to complete the upload ({code}): {message}") from None
        raise
    version_id = completed.get("VersionId") or None
    etag = completed.get("ETag", "").strip('"')
    job_id = job_id_for(SourceObject(bucket=bucket, key=claim.key, version_id=version_id, etag=etag,
                                     size_bytes=claim.size_bytes))
    # Recorded first: a complete repeated after a failure below gets this answer, and the owner is written then.
    return _answer(claims.completed(claim, version_id, etag, job_id), bucket, on_completed)


def _answer(claim: UploadClaim, bucket: str, on_completed) -> UploadCompleted:
    source = SourceObject(bucket=bucket, key=claim.key, version_id=claim.version_id, etag=claim.etag or "",
                          size_bytes=claim.size_bytes)
    if on_completed is not None:
        on_completed(claim.job_id, source)
    return UploadCompleted(bucket=bucket, key=claim.key, version_id=claim.version_id, job_id=claim.job_id)


def _check_part_sizes(s3, bucket: str, claim: UploadClaim, expected: dict[int, int], claims: UploadClaims) -> None:
    """Every part is in S3 with exactly its declared size; a part of another size aborts the upload."""
    held = _parts_held(s3, bucket, claim)
    missing = [number for number in expected if number not in held]
    if missing:
        raise InvalidRequest(f"Part {missing[0]} has not been uploaded: PUT it to its URL, then complete again.")
    wrong = next((number for number, size in expected.items() if held[number] != size), None)
    if wrong is not None:
        s3.abort_multipart_upload(Bucket=bucket, Key=claim.key, UploadId=claim.upload_id)
        claims.delete(claim.upload_id)
        raise InvalidRequest(
            f"Part {wrong} holds {held[wrong]:,} bytes where {expected[wrong]:,} were declared: the parts do not add up "
            f"to the {claim.size_bytes:,} bytes declared for this file, so the upload is aborted. Start it again.")


def _parts_held(s3, bucket: str, claim: UploadClaim) -> dict[int, int]:
    """Part number -> size, of the parts S3 holds for the upload (ListParts, every page)."""
    held: dict[int, int] = {}
    marker = 0
    while True:
        try:
            page = s3.list_parts(Bucket=bucket, Key=claim.key, UploadId=claim.upload_id, PartNumberMarker=marker)
        except ClientError as error:
            if error_of(error)[0] == "NoSuchUpload":
                raise UploadNotFound(f"There is no upload {claim.upload_id[:100]} for {claim.key}: it was aborted "
                                     "(an incomplete upload is aborted after 7 days).") from None
            raise
        held |= {part["PartNumber"]: int(part["Size"]) for part in page.get("Parts", [])}
        if not page.get("IsTruncated"):
            return held
        marker = int(page["NextPartNumberMarker"])


def _no_upload(request: CompleteRequest) -> UploadNotFound:
    return UploadNotFound(f"There is no upload {request.upload_id[:100]} for {request.key[:300]}: it was completed or "
                          "aborted already, never started, or started by another principal.")


def _quoted(etag: str) -> str:
    """S3 returns ETags in double quotes; clients pass them on with or without."""
    return '"' + etag.strip('"') + '"'


def _check_upload_key(key: str) -> None:
    segments = key[len(INGEST_PREFIX):].replace("\\", "/").split("/")
    if not key.startswith(INGEST_PREFIX) or any(segment in ("", ".", "..") for segment in segments):
        raise InvalidRequest(f"The key must be the one POST /uploads returned, under {INGEST_PREFIX!r}.")


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB" if size_bytes >= 1024**3 else f"{size_bytes:,} bytes"
