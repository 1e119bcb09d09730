"""The synthesized workflow, run locally: one synth per session, a fresh local account per test."""

import json
from pathlib import Path

import pytest

from videoflow.local.runner import LocalPipeline
from videoflow.local.synth import synthesize


@pytest.fixture(scope="session")
def outdir() -> Path:
    return synthesize()


@pytest.fixture
def run_job(outdir, tmp_path):
    """Submit a file (optionally under a given key, with fakes or env overrides) and wait for the end.

    Returns a JobRun: the execution, the exported folder and its manifest, and the pipeline
    (still open) for further questions to the local account. `synthesized`: another synth of
    the app (other settings) to run instead of the default one.
    """
    opened = []

    def run(video: Path, key: str | None = None, adapters=None, environment=None, synthesized: Path | None = None,
            timeout_s: float = 300) -> "JobRun":
        pipeline = LocalPipeline(synthesized or outdir, adapters=adapters, extra_environment=environment)
        pipeline.__enter__()
        opened.append(pipeline)
        submitted = pipeline.submit(video, key=key)
        execution = pipeline.wait(submitted.job_id, timeout_s=timeout_s)
        folder = pipeline.export(submitted.job_id, tmp_path / "out")
        return JobRun(pipeline, submitted.job_id, execution, folder)

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
