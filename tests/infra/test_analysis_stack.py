"""The analysis layer as synthesized: Batch on Fargate Spot, a VPC that costs nothing idle, Transcribe bounded."""

import pytest

from tests.infra import cfn


def _states(workflow) -> dict[str, dict]:
    return {name: state for name, state, _ in cfn.iter_states(workflow["States"])}


def test_frame_work_is_one_array_job_sized_by_the_frame_manifest_not_a_state_per_frame(workflow):
    analyze = _states(workflow)["AnalyzeFrames"]

    assert analyze["Resource"].endswith(":states:::batch:submitJob.sync")
    assert analyze["Parameters"]["ArrayProperties"] == {"Size.$": "$.frame_manifest.array_size"}
    # The one Map in the workflow iterates the planned clips (at most plan_max_clips), never frames.
    maps = {name: state for name, state in _states(workflow).items() if state["Type"] == "Map"}
    assert list(maps) == ["RenderClips"]
    assert maps["RenderClips"]["ItemsPath"] == "$.render.clips"


def test_the_compute_environment_is_fargate_spot_with_a_vcpu_ceiling(template_dict):
    (environment,) = cfn.resources(template_dict, "AWS::Batch::ComputeEnvironment").values()
    resources = environment["Properties"]["ComputeResources"]

    assert resources["Type"] == "FARGATE_SPOT"
    assert resources["MaxvCpus"] > 0


def test_lost_capacity_is_retried_and_a_failing_worker_is_not(template_dict):
    (definition,) = cfn.resources(template_dict, "AWS::Batch::JobDefinition").values()
    strategy = definition["Properties"]["RetryStrategy"]
    rules = strategy["EvaluateOnExit"]

    assert strategy["Attempts"] == 3
    assert len(rules) <= 5  # Batch's limit
    retried = [rule.get("OnStatusReason") for rule in rules if rule["Action"].upper() == "RETRY"]
    assert "Host EC2*" in retried and "Your Spot Task was interrupted*" in retried
    # Batch allows only a trailing * (a prefix match).
    assert all("*" not in value[:-1] for rule in rules for key, value in rule.items() if key.startswith("On"))
    # A worker's own failure (non-zero exit) ends the job; it comes after the capacity rules.
    assert rules[-1]["Action"].upper() == "EXIT" and rules[-1]["OnExitCode"] == "*"
    assert definition["Properties"]["Timeout"]["AttemptDurationSeconds"] > 0


def test_the_vpc_has_no_nat_gateway_and_logs_rejected_traffic(template_dict):
    assert cfn.resources(template_dict, "AWS::EC2::NatGateway") == {}
    (flow_log,) = cfn.resources(template_dict, "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "REJECT"
    endpoints = cfn.resources(template_dict, "AWS::EC2::VPCEndpoint").values()
    assert any(e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway" for e in endpoints)


def test_the_frame_workers_accept_no_inbound_traffic(template_dict):
    groups = [g["Properties"] for g in cfn.resources(template_dict, "AWS::EC2::SecurityGroup").values()
              if "frame workers" in g["Properties"]["GroupDescription"]]

    assert groups and all(not group.get("SecurityGroupIngress") for group in groups)


def test_the_transcribe_wait_loop_is_bounded_and_backs_off(workflow):
    states = _states(workflow)
    choice = states["Transcribed?"]

    # Bounded by the seconds waited against the bound sized from the video (SizeTimeouts), not a poll count.
    limits = [c for rule in choice["Choices"] for c in rule.get("And", []) if "NumericLessThanPath" in c]
    assert limits == [{"Variable": "$.transcription.waited_s", "NumericLessThanPath": "$.timeouts.transcribe_s"}]
    assert states["WaitForTranscript"]["SecondsPath"] == "$.transcription.wait_s"
    assert "States.MathAdd" in states["BackOff"]["Parameters"]["wait_s.$"]
    assert states["StartTranscription"]["Resource"].endswith(":states:::aws-sdk:transcribe:startTranscriptionJob")
    # Who spoke when: speaker partitioning, at most config max_speakers (default 4).
    assert states["StartTranscription"]["Parameters"]["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 4}


def test_a_failing_analysis_branch_fails_the_execution_at_the_analysis_state(workflow):
    analysis = _states(workflow)["Analysis"]

    assert analysis["Type"] == "Parallel" and len(analysis["Branches"]) == 2
    assert "Catch" not in analysis  # compensate records it; a redrive runs the analysis again


def test_the_frame_job_role_reads_the_frames_and_the_proxy_of_a_job_but_not_its_audio(synth, template_dict, bucket_ids):
    from videoflow.local.access import LocalAccess
    from videoflow.local.iam import AccessDenied
    from videoflow.local.template import LocalTemplate

    local = LocalTemplate(template_dict)
    access = LocalAccess(local)
    role = local.arn(synth.logical_id(synth.stack.pipeline.frame_workers.job_role))
    worker = access.role_principal(role, "the frame worker (job role)")
    output = local.arn(bucket_ids["output"])

    for key in ("derivatives/job-1/proxy/proxy.mp4", "derivatives/job-1/frames/frame.0000000.jpg",
                "manifests/job-1/frames.json"):
        access.check(worker, "s3:GetObject", f"{output}/{key}")
    with pytest.raises(AccessDenied):
        access.check(worker, "s3:GetObject", f"{output}/derivatives/job-1/audio/audio.wav")
