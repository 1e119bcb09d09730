"""Conversions between plain JSON values and what DynamoDB stores (Decimal, not float)."""

import json
from decimal import Decimal


def to_dynamo(value):
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def from_dynamo(value):
    return json.loads(json.dumps(value, default=_number))


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def newest_first(table, query: dict, limit: int) -> tuple[list[dict], dict | None]:
    """Up to `limit` items of an index query (newest first when the query says so), and the last of them
    when there are more. One more item than asked is read, so a page that ends the list says so."""
    query = {**query, "Limit": limit + 1}
    items: list[dict] = []
    while len(items) <= limit:
        page = table.query(**query)
        items += [from_dynamo(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if len(items) <= limit:
        return items, None
    return items[:limit], items[limit - 1]
