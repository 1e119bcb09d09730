"""cfn-lint on every synthesized template: no errors, and only warnings justified below.

cfn-lint 1.x has no `python -m cfnlint` entry point (no __main__), so its Python API runs it
in-process; it reads the file the same way the `cfn-lint` command does.
"""

from pathlib import Path

import pytest

REGIONS = ["us-east-1"]
# Warnings accepted, each with the reason. Anything else fails the test.
JUSTIFIED_WARNINGS = {
    # CDK's Function L2 adds DependsOn on its role (and the role's default policy) so the policy
    # exists before the function is invoked; the role ARN GetAtt already implies half of it.
    # Redundant, harmless, and not ours to change.
    # `make synth` ignores the same list.
    "W3005": "redundant DependsOn emitted by CDK's Function and StateMachine constructs",
}


@pytest.fixture(scope="module")
def lint_matches(synth):
    from cfnlint.api import ManualArgs, lint_file

    templates = sorted(Path(synth.outdir).glob("*.template.json"))
    assert templates, "no template synthesized"
    return [
        (template.name, match)
        for template in templates
        for match in lint_file(template, config=ManualArgs(regions=REGIONS))
    ]


def _describe(name, match) -> str:
    return f"{name}: {match.rule.id} {match.message} (line {match.linenumber})"


def test_given_the_synthesized_templates_when_cfn_lint_runs_then_there_are_no_errors(lint_matches):
    errors = [_describe(n, m) for n, m in lint_matches if m.rule.id.startswith("E")]
    assert errors == []


def test_given_the_synthesized_templates_when_cfn_lint_runs_then_every_warning_is_a_justified_one(lint_matches):
    unjustified = [
        _describe(n, m) for n, m in lint_matches
        if not m.rule.id.startswith("E") and m.rule.id not in JUSTIFIED_WARNINGS
    ]
    assert unjustified == []
