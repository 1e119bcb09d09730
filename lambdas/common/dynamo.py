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
