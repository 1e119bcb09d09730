"""cdk-nag AwsSolutions: the app passes, every acknowledgement says why, and the check really bites.

How cdk-nag 3 works here (read from cdk-nag 3.0.2 and aws-cdk-lib 2.275): the pack is a CDK
policy-validation plugin (`Validations.of(app).add_plugins(...)`). At synth it walks the tree;
a finding not acknowledged on the resource or an ancestor fails synth with "ValidationFailed"
and CDK writes `validation-report.json` into the outdir. `Validations.of(c).acknowledge(...)`
records construct metadata under `Validations.ACKNOWLEDGED_RULES_METADATA_KEY`
("aws:cdk:acknowledged-rules"), `{"Annotation::<rule id>": "<reason>"}`, which also lands in
`<stack>.metadata.json`. A clean AwsSolutions run adds no entry to the report.
"""

import json

import pytest

from tests.infra import cfn

MIN_REASON_CHARS = 20
# How a reason may name the service of an action it excuses on Resource "*".
SERVICE_NAMES = {"xray": ("x-ray", "xray"), "mediaconvert": ("mediaconvert",), "logs": ("logs",)}


def _acknowledgements(app) -> list[tuple[str, str, str]]:
    """(construct path, acknowledged id, reason) for every acknowledgement in the app."""
    import aws_cdk as cdk

    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                found.extend((construct.node.path, rule, reason) for rule, reason in entry.data.items())
    return found


def _rule(acknowledged_id: str) -> str:
    """'Annotation::AwsSolutions-IAM5[Resource::*]' -> 'AwsSolutions-IAM5[Resource::*]'."""
    return acknowledged_id.split("::", 1)[1] if acknowledged_id.startswith("Annotation::") else acknowledged_id


def _bare_app(outdir, *, enforce_ssl: bool, acknowledgements: dict[str, str] | None = None):
    """A bare Stack with one bucket (no access logs), checked by AwsSolutions like the real app."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    from stacks.nag import acknowledge

    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Bare")
    bucket = s3.Bucket(stack, "Uploads", enforce_ssl=enforce_ssl, block_public_access=s3.BlockPublicAccess.BLOCK_ALL)
    if acknowledgements:
        acknowledge(bucket, acknowledgements)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


# --- the app passes --------------------------------------------------------------------------------------------


def test_given_the_app_when_synthesized_then_the_validation_report_has_no_violation(synth):
    report_path = synth.outdir / "validation-report.json"
    if not report_path.exists():  # written only when some plugin has something to say
        return
    for plugin in json.loads(report_path.read_text())["pluginReports"]:
        assert plugin["conclusion"] == "success", plugin["pluginName"]
        assert plugin["violations"] == [], plugin["pluginName"]


def test_given_the_app_when_aws_solutions_checks_walk_it_then_there_are_no_unacknowledged_findings(synth):
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(synth.app)
    findings = [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]
    assert report.success and findings == []


# --- every acknowledgement says why ----------------------------------------------------------------------------


def test_given_every_acknowledgement_then_it_carries_a_reason_a_reviewer_can_read(synth):
    acknowledgements = _acknowledgements(synth.app)
    assert any(_rule(rule).startswith("AwsSolutions-") for _, rule, _ in acknowledgements)
    for path, rule, reason in acknowledgements:
        assert len(reason.strip()) >= MIN_REASON_CHARS, (path, rule, reason)
        assert len(reason.split()) >= 4 and _rule(rule) not in reason, (path, rule, reason)


def test_given_every_acknowledgement_then_it_sits_on_a_construct_inside_the_stack_not_on_the_app_or_stack(synth):
    # Only ours: CDK's own constructs acknowledge CloudFormation-Validate rules on the stack (e.g. the VPC's AZs).
    for path, rule, _ in _acknowledgements(synth.app):
        if _rule(rule).startswith("AwsSolutions-"):
            assert path.count("/") >= 1, (path, rule)


def test_given_an_iam_acknowledgement_then_it_names_the_one_finding_not_the_whole_rule(synth):
    for path, rule, _ in _acknowledgements(synth.app):
        name = _rule(rule)
        if name.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5")):
            assert name.endswith("]") and "[" in name, (path, name)


def test_given_a_policy_with_resource_star_then_its_acknowledgement_names_every_service_it_excuses(synth):
    import aws_cdk as cdk

    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    unexplained = []
    for construct in synth.app.node.find_all():
        if not cdk.CfnResource.is_cfn_resource(construct) or construct.cfn_resource_type != "AWS::IAM::Policy":
            continue
        document = cfn.properties(synth.template_dict, synth.stack.get_logical_id(construct))["PolicyDocument"]
        services = {
            action.split(":")[0]
            for statement in cfn.as_list(document["Statement"])
            if statement["Effect"] == "Allow" and "*" in cfn.as_list(statement["Resource"])
            for action in cfn.as_list(statement["Action"])
        }
        if not services:
            continue
        reasons, scope = [], construct
        while scope is not None:
            for entry in scope.node.metadata:
                if entry.type == key:
                    reasons += [r for rule, r in entry.data.items() if _rule(rule) == "AwsSolutions-IAM5[Resource::*]"]
            scope = scope.node.scope
        text = " ".join(reasons).lower()
        missing = sorted(s for s in services if not any(n in text for n in SERVICE_NAMES.get(s, (s,))))
        if missing:
            unexplained.append((construct.node.path, missing))
    assert unexplained == []


# --- the check bites -------------------------------------------------------------------------------------------


def test_given_a_bucket_without_ssl_enforcement_when_synthesized_under_aws_solutions_then_synth_fails(tmp_path):
    app = _bare_app(tmp_path, enforce_ssl=False)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()

    report = json.loads((tmp_path / "validation-report.json").read_text())
    (aws_solutions,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert aws_solutions["conclusion"] == "failure"
    violated = {v["ruleName"]: v for v in aws_solutions["violations"]}
    assert "AwsSolutions-S10" in violated  # the bucket does not require TLS
    assert [c["constructPath"] for c in violated["AwsSolutions-S10"]["violatingConstructs"]] == ["Bare/Uploads/Resource"]


def test_given_findings_acknowledged_the_way_stacks_nag_does_when_synthesized_then_synth_passes(tmp_path):
    app = _bare_app(tmp_path, enforce_ssl=False, acknowledgements={
        "AwsSolutions-S1": "A throwaway bucket in a test: there is no traffic worth logging.",
        "AwsSolutions-S10": "A throwaway bucket in a test, acknowledged to prove acknowledgement works.",
    })

    app.synth()

    assert (tmp_path / "Bare.template.json").exists()
