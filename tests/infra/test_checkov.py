"""checkov (pinned, tools/requirements-checkov.txt) finds nothing in the synthesized template.

Its configuration is .checkov.yaml at the repository root: the checks that cannot apply to this
design, each with its reason. A finding on one resource is acknowledged on that resource, in its
Metadata (stacks/nag.py, checkov_skip), with its reason too.
"""

import json
import subprocess

import pytest

from tests.infra.tools import CHECKOV, ROOT, tool

# Findings waiting for a change in a file owned elsewhere: (check, logical id prefix) -> why.
# Each must still fail: one that passes is reported, so that it is removed from here.
PENDING: dict[tuple[str, str], str] = {}  # (check, logical id prefix) -> why it still fails; none today


@pytest.fixture(scope="module")
def checkov_report(synth) -> dict:
    result = subprocess.run(
        [tool(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), "--file", str(synth.template_path),
         "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    # checkov exits 1 when a check fails; anything else is checkov itself failing.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    report = json.loads(result.stdout)
    (report,) = report if isinstance(report, list) else [report]
    return report


def _failures(report: dict) -> list[tuple[str, str, str]]:
    return sorted(
        (check["check_id"], check["resource"].split(".", 1)[1], check["check_name"])
        for check in report["results"]["failed_checks"]
    )


def _pending(check_id: str, logical_id: str) -> bool:
    return any(check_id == pending and logical_id.startswith(prefix) for pending, prefix in PENDING)


def test_given_the_synthesized_template_when_checkov_scans_it_then_every_resource_is_read(checkov_report):
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["resource_count"] > 100


def test_given_the_synthesized_template_when_checkov_scans_it_then_no_check_fails(checkov_report):
    failures = [failure for failure in _failures(checkov_report) if not _pending(*failure[:2])]
    assert not failures, "checkov findings:\n" + "\n".join("  ".join(failure) for failure in failures)


def test_given_a_finding_waiting_for_a_fix_elsewhere_then_it_still_fails(checkov_report):
    failing = {(check_id, logical_id) for check_id, logical_id, _ in _failures(checkov_report)}
    fixed = [
        f"{check_id} {prefix}*: {why}" for (check_id, prefix), why in PENDING.items()
        if not any(found == check_id and logical_id.startswith(prefix) for found, logical_id in failing)
    ]
    assert not fixed, "no longer failing, remove from PENDING:\n" + "\n".join(fixed)


def test_given_every_skipped_finding_then_it_gives_a_reason(checkov_report, synth):
    # .checkov.yaml: a reason on the line of every skipped check.
    for line in (ROOT / ".checkov.yaml").read_text().splitlines():
        if line.strip().startswith("- CKV"):
            check, _, reason = line.partition("#")
            assert len(reason.strip()) > 20, check
    # A resource's own skips: a reason with each.
    for logical_id, resource in synth.template_dict["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, (logical_id, skip)
