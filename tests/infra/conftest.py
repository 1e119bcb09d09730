"""Fixtures over the synthesized VideoFlow app (tests/synth.py; `synth` comes from tests/conftest.py)."""

import pytest

from tests.infra import cfn
from tests.synth import JSII_QUIET, ROOT  # noqa: F401  (test_synth_cli imports them from here)


@pytest.fixture(scope="session")
def template(synth):
    """aws_cdk.assertions.Template of the VideoFlow stack."""
    return synth.template


@pytest.fixture(scope="session")
def template_dict(synth) -> dict:
    return synth.template_dict


@pytest.fixture(scope="session")
def state_machine_id(synth) -> str:
    return synth.logical_id(synth.stack.pipeline.orchestration.state_machine)


@pytest.fixture(scope="session")
def bucket_ids(synth) -> dict[str, str]:
    """The logical id of each bucket of the state layer: ingest, output, access_logs."""
    state = synth.stack.state
    return {name: synth.logical_id(bucket) for name, bucket in (
        ("ingest", state.ingest_bucket), ("output", state.output_bucket), ("access_logs", state.access_logs))}


@pytest.fixture(scope="session")
def table_ids(synth) -> dict[str, str]:
    """The logical id of the state layer's jobs, events and idempotency tables."""
    state = synth.stack.state
    return {name: synth.logical_id(table) for name, table in (
        ("jobs", state.jobs_table), ("events", state.events_table), ("idempotency", state.idempotency_table))}


@pytest.fixture(scope="session")
def workflow(template_dict, state_machine_id) -> dict:
    """The state machine definition as a dict, tokens replaced by "${Logical.Attr}" placeholders."""
    return cfn.definition(template_dict, state_machine_id)
