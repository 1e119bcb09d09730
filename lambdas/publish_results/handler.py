from lambdas.common.handler import step_handler
from lambdas.publish_results.logic import PublishRequest, publish_results


def _run(request: PublishRequest, step):
    published = publish_results(request, step.settings.output_bucket, step.jobs, step.events)
    if published.status == "COMPLETED":
        step.metrics.add_metric(name="JobsCompleted", unit="Count", value=1)
    else:
        step.logger.warning("the job ended before it was published; its manifest follows its record",
                            extra={"job_id": request.job_id, "status": published.status})
    return published


handler = step_handler("publish_results", PublishRequest, _run)
