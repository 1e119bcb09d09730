"""jobs_api: a job belongs to the IAM principal that uploaded it; nobody else sees it, except an administrator.

Two editors (role sessions of one role, as IAM Identity Center makes them) and an
administrator (a session of the role named in ADMIN_PRINCIPAL_ARNS) call the API through API
Gateway REST proxy events against moto. A job another principal owns answers exactly like a job
that does not exist. A request with no principal is 403 (API Gateway's IAM authorization always
names one, so such a request did not come through it).
"""

import pytest

from lambdas.common.owners import Caller, caller_from, is_admin, is_principal_arn
from lambdas.common.settings import get_settings
from lambdas.jobs_api import handler as api
from tests.unit import test_jobs_api as base
from tests.unit.test_jobs_api import RedriveRecordingFake, _job, _open_uploads, _put_parts, api_event
from videoflow.local.lambda_runtime import LocalLambdaContext

# The jobs API's moto account and its fixtures (tests/unit/test_jobs_api.py).
jobs_api_state, stores, running_execution = base.jobs_api_state, base.stores, base.running_execution

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

MARIA = "arn:aws:sts::123456789012:assumed-role/Editors/maria@example.com"
TOM = "arn:aws:sts::123456789012:assumed-role/Editors/tom@example.com"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/ops/VideoFlowAdmins"
ADMIN = "arn:aws:sts::123456789012:assumed-role/VideoFlowAdmins/oncall"
CONTEXT = LocalLambdaContext("jobs_api")
MIB = 1024**2


def call_as(caller: str | None, method: str, path: str, **options) -> tuple[int, dict]:
    import json

    response = api.handler(api_event(method, path, caller=caller, **options), CONTEXT)
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def admins(monkeypatch):
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)
    get_settings.cache_clear()


def _upload_and_complete(caller: str, name: str = "talk.mp4") -> dict:
    _, created = call_as(caller, "POST", "/uploads", body={"filename": name, "content_type": "video/mp4",
                                                           "size_bytes": MIB})
    status, completed = call_as(caller, "POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": _put_parts(created, b"m" * MIB)})
    assert status == 200, completed
    return completed


@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("GET", "/jobs/marias0000001"),
                                              ("GET", "/jobs/marias0000001/events"),
                                              ("POST", "/jobs/marias0000001/retry"),
                                              ("POST", "/jobs/marias0000001/cancel")])
def test_a_request_with_no_iam_principal_is_403_on_every_route(stores, method, path):
    _job(stores, "marias0000001", "FAILED", owner=MARIA)

    status, body = call_as(None, method, path)

    assert status == 403
    assert "Signature Version 4" in body["message"]


def test_an_upload_cannot_be_started_without_an_iam_principal(jobs_api_state):
    status, _ = call_as(None, "POST", "/uploads", body={"filename": "a.mp4", "content_type": "video/mp4",
                                                        "size_bytes": MIB})

    assert status == 403
    assert _open_uploads(jobs_api_state) == []


def test_the_uploader_owns_the_job_and_another_principal_gets_404_on_every_route(jobs_api_state, monkeypatch):
    job_id = _upload_and_complete(MARIA)["job_id"]
    fake = RedriveRecordingFake()
    monkeypatch.setattr(api, "step_functions", lambda: fake)
    routes = (("GET", "/jobs/{}"), ("GET", "/jobs/{}/events"), ("POST", "/jobs/{}/retry"), ("POST", "/jobs/{}/cancel"))
    unknown = "0" * 32

    answers = [call_as(TOM, method, path.format(job_id)) for method, path in routes]
    for_unknown = [call_as(TOM, method, path.format(unknown)) for method, path in routes]
    _, toms_list = call_as(TOM, "GET", "/jobs")
    owner_status, owners_view = call_as(MARIA, "GET", f"/jobs/{job_id}")

    # The same answer as for a job that does not exist: a job id cannot be probed.
    assert answers == [(404, {"message": f"There is no job {job_id}."})] * len(routes)
    assert for_unknown == [(404, {"message": f"There is no job {unknown}."})] * len(routes)
    assert toms_list == {"jobs": [], "next_token": None}
    assert (owner_status, owners_view["owner"]) == (200, MARIA)
    assert fake.calls == []


def test_only_the_principal_that_started_an_upload_may_complete_it(jobs_api_state):
    _, created = call_as(MARIA, "POST", "/uploads", body={"filename": "a.mp4", "content_type": "video/mp4",
                                                          "size_bytes": MIB})
    parts = _put_parts(created, b"m" * MIB)

    status, body = call_as(TOM, "POST", "/uploads/complete",
                           body={"key": created["key"], "upload_id": created["upload_id"], "parts": parts})

    assert status == 404 and "started by another principal" in body["message"]
    assert [upload["UploadId"] for upload in _open_uploads(jobs_api_state)] == [created["upload_id"]]


def test_each_principal_lists_only_their_own_jobs_newest_first_across_pages(jobs_api_state):
    marias = [_upload_and_complete(MARIA, f"m{number}.mp4")["job_id"] for number in range(3)]
    toms = [_upload_and_complete(TOM, "t.mp4")["job_id"]]
    seen, token = [], None

    while True:
        _, page = call_as(MARIA, "GET", "/jobs", query={"limit": 2, **({"next_token": token} if token else {})})
        seen += [job["job_id"] for job in page["jobs"]]
        token = page["next_token"]
        if token is None:
            break
    _, toms_page = call_as(TOM, "GET", "/jobs")

    assert seen == list(reversed(marias))
    assert [job["job_id"] for job in toms_page["jobs"]] == toms
    assert {job["status"] for job in toms_page["jobs"]} == {"PENDING"}


def test_a_next_token_cannot_open_another_principals_list(jobs_api_state):
    for number in range(3):
        _upload_and_complete(MARIA, f"m{number}.mp4")
    _, first = call_as(MARIA, "GET", "/jobs", query={"limit": 1})

    status, page = call_as(TOM, "GET", "/jobs", query={"next_token": first["next_token"]})

    assert (status, page["jobs"]) == (200, [])


def test_an_administrator_sees_lists_and_acts_on_every_job_including_one_uploaded_straight_to_s3(
        stores, admins, monkeypatch):
    _job(stores, "marias0000002", "FAILED", owner=MARIA, reason="x")
    _job(stores, "nobodys000001", owner=None)  # no owner: the file was put in the bucket, not uploaded by the API
    fake = RedriveRecordingFake()
    monkeypatch.setattr(api, "step_functions", lambda: fake)

    _, listed = call_as(ADMIN, "GET", "/jobs")
    unowned_status, unowned = call_as(ADMIN, "GET", "/jobs/nobodys000001")
    retried, _ = call_as(ADMIN, "POST", "/jobs/marias0000002/retry")
    editor_listed = call_as(MARIA, "GET", "/jobs")[1]
    editor_unowned, _ = call_as(MARIA, "GET", "/jobs/nobodys000001/events")

    assert {job["job_id"] for job in listed["jobs"]} == {"marias0000002", "nobodys000001"}
    assert (unowned_status, unowned["owner"]) == (200, None)
    assert retried == 202 and len(fake.calls) == 1
    assert stores[0].get("marias0000002")["retry_requested_by"] == ADMIN
    assert [job["job_id"] for job in editor_listed["jobs"]] == ["marias0000002"]
    assert editor_unowned == 404


def test_an_administrator_may_cancel_anyones_running_job(stores, running_execution, admins):
    stores[0].upsert("cancelme00001", owner=MARIA)

    refused, _ = call_as(TOM, "POST", "/jobs/cancelme00001/cancel")
    status, body = call_as(ADMIN, "POST", "/jobs/cancelme00001/cancel")

    assert (refused, status, body["status"]) == (404, 200, "CANCELLED")


# --- who is an administrator ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("caller", "admins_", "expected"), [
    (ADMIN, (ADMIN_ROLE,), True),  # any session of the listed role; the role's path is not in a session ARN
    ("arn:aws:sts::123456789012:assumed-role/VideoFlowAdmins/someone", (ADMIN_ROLE,), True),
    ("arn:aws:sts::999999999999:assumed-role/VideoFlowAdmins/oncall", (ADMIN_ROLE,), False),  # another account
    ("arn:aws:sts::123456789012:assumed-role/VideoFlowAdminsX/oncall", (ADMIN_ROLE,), False),
    ("arn:aws:iam::123456789012:user/ops", ("arn:aws:iam::123456789012:user/ops",), True),
    ("arn:aws:iam::123456789012:user/ops2", ("arn:aws:iam::123456789012:user/ops",), False),
    (MARIA, (MARIA,), True),  # one session named exactly
    (TOM, (MARIA,), False),
    (MARIA, (), False),  # nobody is an administrator unless listed
])
def test_administrators_are_the_listed_users_roles_and_sessions(caller, admins_, expected):
    assert is_admin(caller, admins_) is expected


def test_only_principal_arns_can_be_configured_as_administrators():
    from pydantic import ValidationError

    from stacks.config import load_config

    assert load_config({"admin_principal_arns": [ADMIN_ROLE, MARIA]}).admin_principal_arns == (ADMIN_ROLE, MARIA)
    assert not is_principal_arn("*") and not is_principal_arn("arn:aws:iam::123456789012:policy/x")
    with pytest.raises(ValidationError, match="not an IAM user, role or role session ARN"):
        load_config({"admin_principal_arns": ["*"]})


def test_the_caller_is_the_arn_api_gateway_reports_and_nothing_else():
    assert caller_from({"identity": {"userArn": MARIA, "caller": "AROAEXAMPLE:maria"}}, ()) == Caller(MARIA, False)
    for context in (None, {}, {"identity": None}, {"identity": {"userArn": None}}, {"identity": {"userArn": "x"}}):
        with pytest.raises(Exception, match="Signature Version 4"):
            caller_from(context, ())


def test_a_job_that_reused_another_principals_results_does_not_name_that_job(stores):
    _job(stores, "marias0000003", "COMPLETED", owner=MARIA)
    _job(stores, "toms000000001", "COMPLETED", owner=TOM, duplicate_of="marias0000003")
    _job(stores, "toms000000002", "COMPLETED", owner=TOM, duplicate_of="toms000000001")

    _, reused_marias = call_as(TOM, "GET", "/jobs/toms000000001")
    _, reused_own = call_as(TOM, "GET", "/jobs/toms000000002")

    assert reused_marias["duplicate_of"] is None
    assert reused_own["duplicate_of"] == "toms000000001"
