"""Powertools Logger, Tracer and Metrics for one function, named after it."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from lambdas.common.constants import METRICS_NAMESPACE


def instruments(function_name: str) -> tuple[Logger, Tracer, Metrics]:
    logger = Logger(service="videoflow", function=function_name)
    tracer = Tracer(service="videoflow")
    # Each Lambda runs one function, so the function name comes with the log stream and
    # metrics stay dimensioned by service only (Powertools shares metric state per process).
    metrics = Metrics(namespace=METRICS_NAMESPACE, service="videoflow")
    return logger, tracer, metrics
