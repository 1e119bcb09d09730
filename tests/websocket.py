"""Live push test doubles: the connections table's names and a PostToConnection fake.

moto's API Gateway Management API accepts every post and never answers 410, so most push
tests use ConnectionsRecordingFake, which records each message per connection and raises the
real GoneException / LimitExceededException ClientErrors. Shared by test_push_events.py and
test_ws_connections.py (the `live` fixture is in tests/unit/conftest.py).
"""

import json

from botocore.exceptions import ClientError

REGION = "us-east-1"
CONNECTIONS_TABLE = "videoflow-connections"
API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
CALLBACK_URL = f"https://{API_HOST}/v1"
JOB, OTHER_JOB = "pushjob000001", "otherjob00001"


class ConnectionsRecordingFake:
    """PostToConnection: records messages per connection; `gone` answer 410, `throttled` LimitExceeded."""

    def __init__(self, gone=(), throttled=()):
        self.gone, self.throttled = set(gone), set(throttled)
        self.sent: dict[str, list[dict]] = {}

    def post_to_connection(self, ConnectionId: str, Data: bytes):  # noqa: N803 (boto3's argument names)
        for ids, code, status in ((self.gone, "GoneException", 410), (self.throttled, "LimitExceededException", 429)):
            if ConnectionId in ids:
                raise ClientError({"Error": {"Code": code, "Message": code},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, "PostToConnection")
        self.sent.setdefault(ConnectionId, []).append(json.loads(Data))
        return {}

    def events(self, connection_id: str) -> list[tuple[str, int]]:
        return [(m["event"]["job_id"], m["event"]["seq"]) for m in self.sent.get(connection_id, [])
                if m["type"] == "event"]
