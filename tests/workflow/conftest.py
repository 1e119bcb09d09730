"""The synthesized workflow, run locally: one synth per session, a fresh local account per test."""

import json
from pathlib import Path

import pytest

from tests.synth import local_outdir
from tests.workflow import rendering
from tests.workflow.waits import scaled_wait_states
from videoflow.local.runner import LocalPipeline
from videoflow.sample import make_sample


@pytest.fixture(scope="session")
def outdir(request) -> Path:
    """build/cdk.out-<hash>, as `videoflow run` synthesizes it; if missing, from this worker's synth (tests/synth.py)."""
    return local_outdir(request)


RETRY_WAIT_SCALE = 0.1


@pytest.fixture
def run_job(outdir, tmp_path, inference_url):
    """Submit a file (optionally under a given key, with fakes or env overrides) and wait for the end.

    Returns a JobRun: the execution, the exported folder and its manifest, and the pipeline
    (still open) for further questions to the local account. `synthesized`: another synth of
    the app (other settings) to run instead of the default one. The waits between a state's
    retries run at a tenth of their synthesized length (RETRY_WAIT_SCALE): the same retries
    happen in the same order, the suite just does not sleep through backoffs. So do the workflow's
    Wait states (tests/workflow/waits.py): the same polls, sooner.
    """
    opened = []

    def run(video: Path, key: str | None = None, adapters=None, environment=None, synthesized: Path | None = None,
            timeout_s: float = 300, inference_server=None) -> "JobRun":
        pipeline = LocalPipeline(synthesized or outdir, adapters=adapters, extra_environment=environment,
                                 retry_wait_scale=RETRY_WAIT_SCALE, inference_url=inference_url,
                                 inference_server=inference_server)
        pipeline.__enter__()
        opened.append(pipeline)
        submitted = pipeline.submit(video, key=key)
        execution = pipeline.wait(submitted.job_id, timeout_s=timeout_s)
        folder = pipeline.export(submitted.job_id, tmp_path / "out")
        return JobRun(pipeline, submitted.job_id, execution, folder)

    with scaled_wait_states(RETRY_WAIT_SCALE):
        yield run
    for pipeline in reversed(opened):
        pipeline.__exit__(None, None, None)


class JobRun:
    def __init__(self, pipeline: LocalPipeline, job_id: str, execution: dict, folder: Path):
        self.pipeline, self.job_id, self.execution, self.folder = pipeline, job_id, execution, folder
        self.manifest = json.loads((folder / "manifest.json").read_text())
        self.events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]

    @property
    def event_types(self) -> list[str]:
        return [event["type"] for event in self.events]


# The render tests' footage (tests/workflow/rendering.py): a generated talk with real speech.
@pytest.fixture(scope="module")
def talk(media):
    return media("talk.mp4", make_sample, width=640, height=360)  # the clips' size is the render's, not the source's


@pytest.fixture(scope="module")
def short_heartbeat(request):
    """The same app synthesized with a 6 s heartbeat timeout, so a dead worker is noticed quickly."""
    return local_outdir(request, overrides={"render_heartbeat_s": rendering.SHORT_HEARTBEAT_S})
