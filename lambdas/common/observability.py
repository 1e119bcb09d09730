"""Powertools Logger, Tracer and Metrics for one function, named after it."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from lambdas.common.constants import METRICS_NAMESPACE


def instruments(function_name: str) -> tuple[Logger, Tracer, Metrics]:
    logger = Logger(service="videoflow", function=function_name)
    tracer = Tracer(service="videoflow")
    metrics = Metrics(namespace=METRICS_NAMESPACE, service="videoflow")
    metrics.set_default_dimensions(function=function_name)
    return logger, tracer, metrics
