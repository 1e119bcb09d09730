"""The analysis layer as synthesized: Batch on Fargate Spot, a VPC that costs nothing idle, Transcribe bounded."""

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


def test_a_failing_analysis_branch_fails_the_execution_at_the_analysis_state(workflow):
    analysis = _states(workflow)["Analysis"]

    assert analysis["Type"] == "Parallel" and len(analysis["Branches"]) == 2
    assert "Catch" not in analysis  # compensate records it; a redrive runs the analysis again
