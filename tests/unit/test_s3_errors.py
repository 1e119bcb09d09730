"""The S3 error sorting both container workers share (containers/s3_errors.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from containers import s3_errors

WHAT = "reading s3://bucket/key"


def _failing(error: Exception):
    def action():
        raise error

    return action


def _client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetObject")


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"])
def test_given_a_missing_object_code_when_called_then_it_is_s3_missing_naming_the_code(code):
    with pytest.raises(s3_errors.S3Missing) as raised:
        s3_errors.call_s3(_failing(_client_error(code)), WHAT, role="task role")

    assert str(raised.value) == f"{WHAT}: it does not exist ({code})"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_given_an_archived_object_when_called_then_it_is_s3_missing_saying_it_must_be_restored():
    with pytest.raises(s3_errors.S3Missing, match=r"it is archived; restore it first \(InvalidObjectState\)$"):
        s3_errors.call_s3(_failing(_client_error("InvalidObjectState")), WHAT, role="job role")


def test_given_access_denied_when_called_then_it_is_s3_denied_naming_the_role_to_check():
    with pytest.raises(s3_errors.S3Denied) as raised:
        s3_errors.call_s3(_failing(_client_error("AccessDenied", "Access Denied")), WHAT, role="job role")

    assert str(raised.value) == f"{WHAT}: AccessDenied (check the job role)"


def test_given_no_credentials_when_called_then_it_is_s3_denied_saying_the_role_is_missing():
    with pytest.raises(s3_errors.S3Denied, match=r"no AWS credentials \(the task role is missing\)$"):
        s3_errors.call_s3(_failing(NoCredentialsError()), WHAT, role="task role")


def test_given_a_server_error_when_called_then_it_is_s3_failed_with_the_code_and_message():
    with pytest.raises(s3_errors.S3Failed) as raised:
        s3_errors.call_s3(_failing(_client_error("SlowDown", "Please reduce your request rate.")), WHAT, role="x")

    assert str(raised.value) == f"{WHAT}: SlowDown: Please reduce your request rate."


def test_given_an_unreachable_endpoint_when_called_then_it_is_s3_failed():
    with pytest.raises(s3_errors.S3Failed, match="Could not connect"):
        s3_errors.call_s3(_failing(EndpointConnectionError(endpoint_url="http://s3")), WHAT, role="x")


def test_given_a_call_that_succeeds_when_called_then_its_result_comes_back():
    assert s3_errors.call_s3(lambda: {"ETag": "e"}, WHAT, role="x") == {"ETag": "e"}
