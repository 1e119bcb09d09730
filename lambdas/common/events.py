"""The one writer (and reader) of the job event log.

Compute appends; the API only reads. Each job's events are keyed (job_id, seq) with seq
strictly increasing and without gaps: the next seq is read with a consistent query and
claimed by a conditional put, so two writers racing for the same seq (parallel branches)
cannot both win; the loser reads again and takes the next one.
"""

import time
from datetime import UTC, datetime

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from lambdas.common import aws
from lambdas.common.dynamo import from_dynamo, to_dynamo
from lambdas.common.models import Event

_MAX_CLAIM_ATTEMPTS = 20


class EventLog:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def append(self, job_id: str, type: str, step: str, **detail) -> Event:
        for attempt in range(_MAX_CLAIM_ATTEMPTS):
            seq = self._last_seq(job_id) + 1
            event = Event(job_id=job_id, seq=seq, at=datetime.now(UTC), type=type, step=step, detail=detail)
            try:
                self._table.put_item(
                    Item=_to_item(event), ConditionExpression="attribute_not_exists(seq)"
                )
                return event
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"could not claim an event seq for job {job_id} after {_MAX_CLAIM_ATTEMPTS} tries")

    def read(self, job_id: str, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """Events after `after_seq`, in order; a reader that resumes from its last seq misses nothing."""
        query = {
            "KeyConditionExpression": Key("job_id").eq(job_id) & Key("seq").gt(after_seq),
            "ConsistentRead": True,
        }
        events: list[Event] = []
        while True:
            page = self._table.query(**query)
            events += [_from_item(item) for item in page["Items"]]
            if limit and len(events) >= limit:
                return events[:limit]
            if "LastEvaluatedKey" not in page:
                return events
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _last_seq(self, job_id: str) -> int:
        page = self._table.query(
            KeyConditionExpression=Key("job_id").eq(job_id),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
            ProjectionExpression="seq",
        )
        return int(page["Items"][0]["seq"]) if page["Items"] else 0


def _to_item(event: Event) -> dict:
    return to_dynamo(event.model_dump(mode="json"))


def _from_item(item: dict) -> Event:
    return Event.model_validate(from_dynamo(item))
