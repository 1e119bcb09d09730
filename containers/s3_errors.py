"""S3 failures sorted by what a container can do about them, for the frame worker and the renderer.

Both decide the same thing after a failed S3 call (is the input wrong, the role wrong, or was
it a passing fault?) and must say it in one readable line, so the sorting and the wording live
here once. Each image copies this file beside its own modules (their build context is
containers/); each worker turns the three kinds into its own errors and exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

T = TypeVar("T")

# No retry will read the object. NoSuchVersion comes only from versioned reads (the render's
# source); InvalidObjectState means the object is there but archived (a Glacier class), so it
# gets its own words below.
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket", "InvalidObjectState"})
DENIED_CODES = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"})


class S3Error(Exception):
    """A failed S3 call; the message names what was being done and why, in one line."""


class S3Missing(S3Error):
    """The object, its version or its bucket cannot be read: the input is wrong, a retry will not help."""


class S3Denied(S3Error):
    """The role may not do it, or there are no credentials: the deployment is wrong, a retry will not help."""


class S3Failed(S3Error):
    """Anything else (throttling, 5xx, the network) after the SDK's own retries: it may pass."""


def call_s3(action: Callable[[], T], what: str, role: str) -> T:
    """`action()`, with its S3 failure raised as S3Missing, S3Denied or S3Failed.

    `what` says what was being done ("reading the source s3://..."); `role` names the IAM role
    to check ("task role"). The SDK's own error is dropped: the message says all of it.
    """
    try:
        return action()
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = details.get("Code", ""), details.get("Message", "")
        if code == "InvalidObjectState":
            raise S3Missing(f"{what}: it is archived; restore it first ({code})") from None
        if code in MISSING_CODES:
            raise S3Missing(f"{what}: it does not exist ({code})") from None
        if code in DENIED_CODES:
            raise S3Denied(f"{what}: {code} (check the {role})") from None
        raise S3Failed(f"{what}: {code or 'error'}{': ' + message if message else ''}") from None
    except NoCredentialsError:
        raise S3Denied(f"{what}: no AWS credentials (the {role} is missing)") from None
    except BotoCoreError as error:
        raise S3Failed(f"{what}: {error}") from None
