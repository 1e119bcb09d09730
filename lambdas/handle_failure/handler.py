from lambdas.common.failures import FailureRequest, handle_failure
from lambdas.common.handler import step_handler


def _run(request: FailureRequest, step):
    failure = handle_failure(request, step.settings.output_bucket, step.jobs, step.events)
    step.metrics.add_metric(name=f"Jobs{failure.status.title()}", unit="Count", value=1)
    return failure


handler = step_handler("handle_failure", FailureRequest, _run)
