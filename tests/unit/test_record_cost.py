"""record_cost: a job's cost by service from what it used, the price table's version in every report,
and `videoflow cost JOB` printing it.

compute_cost is checked against hand calculations with a test price table of round figures, so the
arithmetic is tested apart from the real (approximate, changing) prices.
"""

import json
import types
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.common import events as events_module
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.prices import PRICES, PRICES_VERSION, TokenPrice, bedrock_price
from lambdas.record_cost import handler as handler_module
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.logic import record_cost
from lambdas.record_cost.pricing import (
    FargateTasks,
    LambdaInvocation,
    MediaConvertOutput,
    ModelCall,
    SageMakerShare,
    Usage,
    compute_cost,
)
from lambdas.record_cost.usage import EVENT_COST_RECORDED, RecordCostRequest, function_of, gather_usage
from videoflow.cost import add_cost_parser, cost_command, estimate_per_video_hour
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "66b983b17399d5d79842f2489a04a2f4"
EVENTS_TABLE = "videoflow-events"
JOBS_TABLE = "videoflow-jobs"
OUTPUT_BUCKET = "videoflow-output"
MEMORY = {"start_pipeline": 256, "validate_upload": 256, "probe_media": 256, "enforce_limits": 128,
          "register_job": 128, "check_duplicate": 128, "warm_inference": 128, "build_mediaconvert_job": 128,
          "record_derivatives": 256, "build_frame_manifest": 256, "normalize_transcript": 512,
          "build_captions": 256, "aggregate_frames": 1024, "detect_shots": 512, "keyframe_inference": 1024,
          "publish_results": 256, "release_inference": 128, "plan_clips": 512, "record_cost": 256}
CONFIG = CostConfig(function_memory_mb=MEMORY, inference_instance_type="ml.g5.xlarge")

# Round unit prices, so every expected figure below is a hand calculation.
TEST_PRICES = PRICES.model_copy(update={
    "version": "test-1",
    "mediaconvert_per_output_minute": {"avc_sd_basic": 0.01, "avc_hd_basic": 0.02, "audio_only": 0.004,
                                       "audio_normalization": 0.001, "frame_capture": 0.01},
    "mediaconvert_high_frame_rate_multiplier": 2.0,
    "mediaconvert_min_billed_s": 10,
    "lambda_per_gb_second": 0.00001,
    "lambda_per_request": 0.000001,
    "step_functions_per_transition": 0.00002,
    "fargate_spot_per_vcpu_hour": 0.036,
    "fargate_spot_per_gb_hour": 0.0036,
    "fargate_min_billed_s": 60,
    "public_ipv4_per_hour": 0.0072,
    "transcribe_per_minute": 0.02,
    "transcribe_min_billed_s": 15,
    "sagemaker_per_instance_hour": {"ml.g5.xlarge": 1.5},
    "bedrock_per_1k_tokens": {"anthropic.claude-3-5-haiku": TokenPrice(input_per_1k=0.001, output_per_1k=0.005)},
    "s3_put_per_1k": 0.005,
    "s3_get_per_1k": 0.0004,
    "dynamodb_per_million_write_units": 1.0,
    "dynamodb_per_million_read_units": 0.2,
})


def _usage(**changes) -> Usage:
    """A job that used every service, in amounts whose cost is easy to work out by hand."""
    usage = dict(
        job_id=JOB_ID,
        mediaconvert=[
            MediaConvertOutput(name="proxy", rate="avc_sd_basic", duration_s=120, high_frame_rate=True),
            MediaConvertOutput(name="audio", rate="audio_only", duration_s=120, add_ons=["audio_normalization"]),
            MediaConvertOutput(name="frames", rate="frame_capture", duration_s=5),
        ],
        lambdas=[
            LambdaInvocation(function="aggregate_frames", duration_ms=1000.4, memory_mb=1024, measured_by="event_gap"),
            LambdaInvocation(function="detect_shots", duration_ms=500, memory_mb=512, measured_by="assumed"),
        ],
        state_transitions=40,
        fargate=[FargateTasks(purpose="frame workers", task_seconds=[30, 90], vcpu=1, memory_gb=2)],
        transcribe_audio_s=10,
        sagemaker=SageMakerShare(instance_type="ml.g5.xlarge", held_s=1800, instances=2, jobs_sharing=2,
                                 idle_instances=1),
        model_calls=[ModelCall(model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0", input_tokens=8_000,
                               output_tokens=600),
                     ModelCall(model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0", input_tokens=2_000,
                               output_tokens=400)],
        s3_put_requests=1_000,
        s3_get_requests=2_000,
        dynamodb_write_units=500_000,
        dynamodb_read_units=1_000_000,
    )
    return Usage(**{**usage, **changes})


# --- compute_cost: each service against a hand calculation ------------------------------------------


def test_mediaconvert_bills_each_output_for_its_minutes_with_the_frame_rate_multiplier_and_minimum():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["mediaconvert"]

    proxy = 2 * 0.01 * 2  # 2 min, SD, over 30 fps
    audio = 2 * 0.004 + 2 * 0.001  # audio-only + loudness add-on
    frames = 10 / 60 * 0.01  # 5 s is billed as the 10 s minimum
    assert cost.usd == pytest.approx(proxy + audio + frames)
    assert cost.quantity == pytest.approx(2 + 2 + 10 / 60)
    assert cost.unit == "output-min"


def test_lambda_bills_gb_seconds_rounded_up_to_the_millisecond_and_each_request():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["lambda"]

    gb_s = 1.001 * 1.0 + 0.5 * 0.5  # 1000.4 ms -> 1001 ms at 1 GB; 500 ms at 0.5 GB
    assert cost.quantity == pytest.approx(gb_s)
    assert cost.usd == pytest.approx(gb_s * 0.00001 + 2 * 0.000001)


def test_step_functions_bills_each_transition():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["step_functions"]

    assert (cost.quantity, cost.unit) == (40, "transitions")
    assert cost.usd == pytest.approx(40 * 0.00002)


def test_fargate_bills_vcpu_memory_and_public_ip_per_second_with_a_one_minute_minimum():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["batch_fargate"]

    billed_s = 60 + 90  # the 30 s task is billed a minute
    expected = billed_s / 3600 * 0.036 + billed_s * 2 / 3600 * 0.0036 + billed_s / 3600 * 0.0072
    assert cost.quantity == pytest.approx(150)  # vCPU-seconds
    assert cost.usd == pytest.approx(expected)


def test_transcribe_bills_audio_minutes_with_a_fifteen_second_minimum():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["transcribe"]

    assert cost.quantity == pytest.approx(0.25)
    assert cost.usd == pytest.approx(0.25 * 0.02)


def test_sagemaker_bills_the_jobs_share_of_the_warm_floor():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["sagemaker"]

    hours = 1800 * 2 / 2 / 3600  # two floor instances for 30 min, shared by two jobs
    assert cost.quantity == pytest.approx(hours)
    assert cost.usd == pytest.approx(hours * 1.5)
    assert "above the idle floor" in cost.note


def test_bedrock_bills_input_and_output_tokens_of_an_inference_profile_at_its_model_price():
    cost = compute_cost(_usage(), TEST_PRICES).by_service["bedrock"]

    assert cost.quantity == 11_000
    assert cost.usd == pytest.approx(10 * 0.001 + 1 * 0.005)


def test_s3_and_dynamodb_bill_requests():
    report = compute_cost(_usage(), TEST_PRICES)

    assert report.by_service["s3"].usd == pytest.approx(1 * 0.005 + 2 * 0.0004)
    assert report.by_service["dynamodb"].usd == pytest.approx(0.5 * 1.0 + 1 * 0.2)


def test_the_total_is_the_sum_of_the_services_and_the_report_names_its_price_table():
    report = compute_cost(_usage(), TEST_PRICES)

    assert report.total_usd == pytest.approx(sum(cost.usd for cost in report.by_service.values()))
    assert (report.prices_version, report.currency) == ("test-1", "USD")
    assert set(report.by_service) == {"mediaconvert", "lambda", "step_functions", "batch_fargate", "transcribe",
                                      "sagemaker", "bedrock", "s3", "dynamodb"}


def test_the_real_price_table_version_is_in_the_report():
    assert compute_cost(_usage()).prices_version == PRICES_VERSION == "2026-11"


def test_missing_prices_cost_zero_with_a_note_never_an_error():
    usage = _usage(
        sagemaker=SageMakerShare(instance_type="ml.p5.48xlarge", held_s=60, instances=1, jobs_sharing=1,
                                 idle_instances=1),
        model_calls=[ModelCall(model_id="cohere.command-r-v1:0", input_tokens=100, output_tokens=10),
                     ModelCall(model_id="mistral.large", input_tokens=100, output_tokens=10, recorded_usd=0.25)],
        mediaconvert=[MediaConvertOutput(name="proxy", rate="prores_hd", duration_s=60)],
    )

    report = compute_cost(usage, TEST_PRICES)

    assert report.by_service["sagemaker"].usd == 0
    assert "ml.p5.48xlarge" in report.by_service["sagemaker"].note
    assert report.by_service["bedrock"].usd == pytest.approx(0.25)  # the caller's own figure for mistral
    assert "cohere.command-r-v1:0 is not in the price table" in report.by_service["bedrock"].note
    assert report.by_service["mediaconvert"].usd == 0
    assert "prores_hd" in report.by_service["mediaconvert"].note


def test_an_empty_usage_costs_nothing():
    report = compute_cost(Usage(job_id=JOB_ID), TEST_PRICES)

    assert report.total_usd == 0
    assert all(cost.usd == 0 for cost in report.by_service.values())


def test_inference_profile_ids_find_their_model_family():
    assert bedrock_price("us.anthropic.claude-3-5-haiku-20241022-v1:0")[0] == "anthropic.claude-3-5-haiku"
    assert bedrock_price("anthropic.claude-3-haiku-20240307-v1:0")[0] == "anthropic.claude-3-haiku"
    assert bedrock_price("meta.llama3-70b") is None


# --- gather_usage from a job's event log ----------------------------------------------------------

T0 = datetime(2026, 11, 25, 5, 32, 43, 646000, tzinfo=UTC)
# (seconds after T0, type, step, detail): the log of a 36 s talk with sound, as `videoflow demo` wrote it,
# with two model calls of the planner.
TALK = [
    (0.0, "job.started", "StartPipeline", {"name": "talk.mp4", "execution_arn":
                                           f"arn:aws:states:us-east-1:123456789012:execution:vf-Job:{JOB_ID}"}),
    (0.31, "upload.validated", "ValidateUpload", {"detected_format": "mp4", "size_bytes": 16_614_652}),
    (0.44, "media.probed", "ProbeMedia", {"container": "mp4", "duration_s": 36, "width": 1280, "height": 720,
                                          "frame_rate": 25, "has_audio": True}),
    (0.46, "limits.passed", "EnforceLimits", {"duration_s": 36}),
    (0.47, "job.registered", "RegisterJob", {"status": "RUNNING"}),
    (0.51, "inference.warmed", "WarmInference", {"endpoint": "vf-Endpoint", "component": "vf-Model",
                                                 "jobs_in_flight": 1, "copies": 1}),
    (0.52, "derivatives.planned", "BuildMediaConvertJob", {"proxy": "960x540", "audio": True}),
    (4.97, "derivatives.recorded", "RecordDerivatives", {"proxy": "960x540", "audio": True, "frames": 18}),
    (4.98, "frames.manifest_built", "BuildFrameManifest", {"frames": 18, "chunks": 1}),
    (7.19, "frames.aggregated", "AggregateFrames", {"frames": 18, "chunks": 1}),
    (7.21, "shots.detected", "DetectShots", {"shot_count": 5}),
    (12.14, "transcript.normalized", "NormalizeTranscript", {"words": 67, "language": "en-US"}),
    (12.15, "captions.built", "BuildCaptions", {"cues": 7}),
    (12.28, "search.indexed", "KeyframeInference", {"segments": 10}),
    (13.0, "model.called", "PlanClips", {"model_id": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                                         "input_tokens": 3_000, "output_tokens": 500, "cost_usd": 0.0044,
                                         "duration_ms": 900}),
    (14.0, "model.called", "PlanClips", {"model_id": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                                         "input_tokens": 1_000, "output_tokens": 200, "cost_usd": 0.0016,
                                         "duration_ms": 800}),
    (14.31, "job.completed", "PublishResults", {"manifest_key": f"outputs/{JOB_ID}/manifest.json"}),
    (74.31, "inference.released", "ReleaseInference", {"endpoint": "vf-Endpoint", "component": "vf-Model",
                                                       "jobs_in_flight": 0, "copies": 0}),
]


class _Clock:
    """Stands in for datetime in lambdas.common.events, so each event gets its scripted time."""

    def __init__(self, times):
        self._times = iter(times)

    def now(self, tz=None):
        return next(self._times)


def _write_log(entries, job_id=JOB_ID) -> EventLog:
    """The entries appended by the real event log writer, each at its scripted time."""
    log = EventLog(EVENTS_TABLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events_module, "datetime", _Clock([T0 + timedelta(seconds=s) for s, *_ in entries]))
        for _, type_, step, detail in entries:
            log.append(job_id, type_, step, **detail)
    return log


def _request(**state) -> RecordCostRequest:
    return RecordCostRequest.model_validate({
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "size_bytes": 16_614_652},
        **state,
    })


@pytest.fixture
def talk_log(aws_state):
    return _write_log(TALK)


def test_usage_from_the_event_log_has_three_mediaconvert_outputs_for_the_source_duration(talk_log):
    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG)

    assert [(output.name, output.rate, output.duration_s, output.high_frame_rate) for output in usage.mediaconvert] \
        == [("proxy", "avc_sd_basic", 36, False), ("audio", "audio_only", 36, False),
            ("frames", "frame_capture", 36, False)]


def test_usage_from_the_event_log_transcribes_the_audio_and_estimates_the_frame_workers(talk_log):
    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG)

    assert usage.transcribe_audio_s == 36
    (workers,) = usage.fargate
    assert workers.task_seconds == pytest.approx([45 + 18 * 0.1, 45])  # one chunk, and the array's spare child
    assert (workers.vcpu, workers.memory_gb, workers.spot, workers.measured) == (1, 2, True, False)


def test_usage_from_the_event_log_holds_the_endpoint_from_warmed_to_released(talk_log):
    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG)

    assert usage.sagemaker.held_s == pytest.approx(74.31 - 0.51)
    assert usage.sagemaker.instance_seconds == pytest.approx(73.8)
    # The endpoint scales to zero at rest, so the job's one copy (one instance) is all its own.
    assert usage.sagemaker.above_idle_instance_seconds == pytest.approx(73.8)


def test_given_an_endpoint_kept_at_one_instance_at_rest_then_the_jobs_copy_costs_it_nothing_more(talk_log):
    config = CONFIG.model_copy(update={"inference_idle_instances": 1})

    usage = gather_usage(_request(), talk_log.read(JOB_ID), config)

    assert usage.sagemaker.above_idle_instance_seconds == 0  # the instance kept at rest is paid for anyway


def test_given_a_copy_asked_for_by_a_scheduled_action_then_the_job_pays_from_then_on(aws_state):
    """A long job takes its lease at ingest but asks for its copy later: the instance runs for it from then."""
    asked_at = (T0 + timedelta(seconds=40.51)).isoformat()
    entries = [(at, type_, step, {**detail, "asked_at": asked_at} if type_ == "inference.warmed" else detail)
               for at, type_, step, detail in TALK]

    usage = gather_usage(_request(), _write_log(entries).read(JOB_ID), CONFIG)

    assert usage.sagemaker.held_s == pytest.approx(74.31 - 40.51)


def test_usage_from_the_event_log_counts_the_model_calls_tokens(talk_log):
    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG)

    assert [(call.input_tokens, call.output_tokens) for call in usage.model_calls] == [(3_000, 500), (1_000, 200)]


def test_lambda_durations_come_from_duration_ms_then_event_gaps_and_never_from_a_service_wait(talk_log):
    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG)

    by_function = {invocation.function: invocation for invocation in usage.lambdas}
    assert by_function["start_pipeline"].measured_by == "assumed"  # the first event: no gap before it
    assert by_function["validate_upload"].duration_ms == pytest.approx(310, abs=1)
    assert by_function["validate_upload"].measured_by == "event_gap"
    assert by_function["record_derivatives"].measured_by == "assumed"  # the gap is the MediaConvert job
    assert by_function["plan_clips"].duration_ms == 1_700  # two calls in one run, their recorded durations
    assert by_function["plan_clips"].measured_by == "duration_ms"
    assert len(usage.lambdas) == 17  # 18 events, the two model calls in one invocation
    assert usage.state_transitions == 18
    assert "lower bound" in usage.notes["step_functions"][0]


def test_the_state_overrides_the_log_and_transitions_from_the_caller_are_used(talk_log):
    state = {
        "media": {"container": "mp4", "duration_s": 90.0, "size_bytes": 1, "video_codec": "h264", "coded_width": 1920,
                  "coded_height": 1080, "width": 1920, "height": 1080, "frame_rate": 50.0, "has_audio": True},
        "transitions": 61,
    }

    usage = gather_usage(_request(**state), talk_log.read(JOB_ID), CONFIG)

    assert usage.mediaconvert[0].duration_s == 90 and usage.mediaconvert[0].high_frame_rate
    assert usage.state_transitions == 61


def test_a_job_without_audio_has_no_transcribe_cost_and_no_audio_output(aws_state):
    silent = [(s, t, step, {**detail, "audio": False} if t.startswith("derivatives.") else detail)
              for s, t, step, detail in TALK if t not in ("transcript.normalized", "captions.built")]
    log = _write_log(silent)

    usage = gather_usage(_request(), log.read(JOB_ID), CONFIG)
    report = compute_cost(usage)

    assert report.by_service["transcribe"].usd == 0
    assert report.by_service["transcribe"].note == "The job has no audio: nothing was transcribed."
    assert [output.name for output in usage.mediaconvert] == ["proxy", "frames"]


def test_a_duplicate_upload_pays_for_no_transcoding_transcription_or_frame_work(aws_state):
    duplicate = [entry for entry in TALK[:5]] + [
        (0.5, "content.duplicate", "CheckDuplicate", {"duplicate_of": "earlier-job-0001"}),
        (0.6, "job.completed", "PublishResults", {"duplicate_of": "earlier-job-0001"}),
    ]
    log = _write_log(duplicate)

    report = compute_cost(gather_usage(_request(), log.read(JOB_ID), CONFIG))

    for service in ("mediaconvert", "transcribe", "batch_fargate", "sagemaker"):
        assert report.by_service[service].usd == 0, service
    assert "earlier-job-0001" in report.by_service["mediaconvert"].note
    assert report.by_service["lambda"].usd > 0


def test_an_empty_log_and_no_configuration_give_zeros_with_notes(aws_state):
    usage = gather_usage(_request(), [], CostConfig.model_validate({}))

    report = compute_cost(usage)

    assert report.total_usd == pytest.approx(report.by_service["s3"].usd + report.by_service["dynamodb"].usd)
    assert "FUNCTION_MEMORY_MB is not set." in report.by_service["lambda"].note
    assert report.by_service["mediaconvert"].note == "No MediaConvert job ran."


def test_a_malformed_memory_map_is_a_note_not_a_crash():
    config = CostConfig.model_validate({"FUNCTION_MEMORY_MB": "{not json", "FRAME_WORKER_VCPU": "two"})

    assert config.function_memory_mb == {}
    assert config.frame_worker_vcpu == 1.0
    assert len(config.problems) == 2


def test_the_memory_map_is_read_from_json():
    config = CostConfig.model_validate({"FUNCTION_MEMORY_MB": json.dumps({"validate_upload": 256}),
                                          "INFERENCE_INSTANCE_TYPE": "ml.c6i.large",
                                          "FRAME_WORKER_MEMORY_MB": "4096"})

    assert (config.function_memory_mb, config.inference_instance_type, config.frame_worker_memory_mb) == \
        ({"validate_upload": 256}, "ml.c6i.large", 4096)


def _history_event(id_, kind, at_s, previous, **details):
    return {"id": id_, "type": kind, "previousEventId": previous, "timestamp": T0 + timedelta(seconds=at_s),
            **details}


def test_the_execution_history_gives_exact_lambda_durations_and_transitions(talk_log):
    history = [
        _history_event(1, "ExecutionStarted", 0, 0),
        _history_event(2, "TaskStateEntered", 0.1, 1, stateEnteredEventDetails={"name": "ValidateUpload"}),
        _history_event(3, "TaskScheduled", 0.1, 2, taskScheduledEventDetails={"resourceType": "lambda"}),
        _history_event(4, "TaskStarted", 0.1, 3),
        _history_event(5, "TaskSucceeded", 0.35, 4),
        _history_event(6, "TaskStateExited", 0.35, 5),
        _history_event(7, "TaskStateEntered", 0.4, 6, stateEnteredEventDetails={"name": "CheckDuplicate"}),
        _history_event(8, "LambdaFunctionScheduled", 0.4, 7),
        _history_event(9, "LambdaFunctionStarted", 0.4, 8),
        _history_event(10, "LambdaFunctionSucceeded", 0.52, 9),
        _history_event(11, "TaskStateExited", 0.52, 10),
        _history_event(12, "TaskStateEntered", 5, 11, stateEnteredEventDetails={"name": "AnalyzeFrames"}),
        _history_event(13, "TaskScheduled", 5, 12, taskScheduledEventDetails={"resourceType": "batch"}),
        _history_event(14, "TaskStarted", 5, 13),
        _history_event(15, "TaskSucceeded", 35, 14),
        _history_event(16, "ChoiceStateEntered", 35, 15, stateEnteredEventDetails={"name": "Duplicate?"}),
    ]

    usage = gather_usage(_request(), talk_log.read(JOB_ID), CONFIG, history=history)

    by_function = {invocation.function: invocation for invocation in usage.lambdas}
    assert by_function["validate_upload"].duration_ms == pytest.approx(250)
    assert by_function["validate_upload"].measured_by == "execution_history"
    assert by_function["check_duplicate"].duration_ms == pytest.approx(120)  # wrote no event, still counted
    assert by_function["start_pipeline"].measured_by == "assumed"  # runs before the execution: from its event
    assert by_function["probe_media"].measured_by == "event_gap"  # not in this (short) history: from its event
    assert usage.state_transitions == 4
    assert "AnalyzeFrames" in " ".join(usage.notes["lambda"])
    assert usage.fargate[0].task_seconds == pytest.approx([30, 30])  # capped at the array job's 30 s


def test_state_names_map_to_function_names():
    assert function_of("KeyframeInference") == "keyframe_inference"
    assert function_of("ReleaseAfterFailure") == "release_inference"
    assert function_of("BuildMediaConvertJob", MEMORY) == "build_mediaconvert_job"


# --- the step: stored with the job, logged, idempotent ----------------------------------------------


def test_record_cost_stores_the_report_on_the_job_and_logs_its_total(talk_log):
    jobs = JobStore(JOBS_TABLE)

    report = record_cost(_request(), talk_log, jobs, CONFIG)

    stored = jobs.get(JOB_ID)["cost"]
    assert stored["total_usd"] == pytest.approx(report.total_usd)
    assert stored["prices_version"] == PRICES_VERSION
    assert set(stored["by_service"]["transcribe"]) >= {"quantity", "unit", "usd"}
    last = talk_log.read(JOB_ID)[-1]
    assert (last.type, last.step, last.detail["total_usd"]) == (EVENT_COST_RECORDED, "RecordCost",
                                                                pytest.approx(report.total_usd))


def test_recording_twice_gives_the_same_cost(talk_log):
    jobs = JobStore(JOBS_TABLE)
    now = T0 + timedelta(minutes=5)

    first = record_cost(_request(), talk_log, jobs, CONFIG, now=now)
    second = record_cost(_request(), talk_log, jobs, CONFIG, now=now)

    assert second.by_service == first.by_service


def test_an_unreadable_history_falls_back_to_the_events(talk_log):
    def refuse(arn):
        raise PermissionError(f"not allowed to read {arn}")

    report = record_cost(_request(), talk_log, JobStore(JOBS_TABLE), CONFIG, read_history=refuse)

    assert "could not be read" in report.by_service["step_functions"].note
    assert report.by_service["step_functions"].quantity == 18


def test_the_handler_records_the_cost_of_the_workflow_state(talk_log, monkeypatch):
    monkeypatch.setenv("FUNCTION_MEMORY_MB", json.dumps(MEMORY))
    monkeypatch.setenv("INFERENCE_INSTANCE_TYPE", "ml.g5.xlarge")

    answer = handler_module.handler(_request().model_dump(mode="json"), LocalLambdaContext("record_cost"))

    assert answer["prices_version"] == PRICES_VERSION and answer["currency"] == "USD"
    assert answer["by_service"]["lambda"]["usd"] > 0
    # moto has no such execution: the history read fails and the events are used
    assert "could not be read" in answer["by_service"]["step_functions"]["note"]
    assert JobStore(JOBS_TABLE).get(JOB_ID)["cost"]["total_usd"] == pytest.approx(answer["total_usd"])


# --- videoflow cost ---------------------------------------------------------------------------------


def _exported(tmp_path, cost: dict | None, clips: list | None = None) -> str:
    folder = tmp_path / JOB_ID
    folder.mkdir()
    manifest = {"job_id": JOB_ID, "status": "COMPLETED", "clips": clips or []} | (
        {"cost": cost} if cost is not None else {})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_the_cost_command_prints_a_row_per_service_and_the_total(tmp_path, capsys):
    report = compute_cost(_usage(), TEST_PRICES)
    out = _exported(tmp_path, report.model_dump(mode="json"))

    code = cost_command(JOB_ID, out)

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "prices test-1" in lines[0]
    assert lines[1].split() == ["service", "quantity", "unit", "USD"]
    transcribe = next(line for line in lines if line.split()[0] == "transcribe").split()
    assert transcribe == ["transcribe", "0.2500", "audio-min", f"{0.25 * 0.02:.6f}"]
    assert lines[-1].split() == ["total", f"{report.total_usd:.6f}"]
    assert len(lines) == 2 + 9 + 1


def test_the_cost_command_says_how_many_renders_the_aspects_made_and_that_the_render_cost_grows_with_them(
        tmp_path, capsys):
    clips = [{"path": f"clips/{JOB_ID}/clip-{index:02d}-{name}.mp4", "aspect": aspect, "start_s": 10.0 * index,
              "end_s": 10.0 * index + 5} for index in range(2) for aspect, name in (("9:16", "9x16"), ("16:9", "16x9"))]
    out = _exported(tmp_path, compute_cost(_usage(), TEST_PRICES).model_dump(mode="json"), clips)

    assert cost_command(JOB_ID, out) == 0

    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("  renders: 2 clips x 2 aspects (9:16, 16:9) = 4;")
    assert "grows with the number of aspects (render_aspects)" in last


def test_the_cost_command_exits_2_for_a_missing_job(tmp_path, capsys):
    assert cost_command("no-such-job", tmp_path) == 2
    assert "No job folder" in capsys.readouterr().err


def test_the_cost_command_exits_2_when_the_job_has_no_cost(tmp_path, capsys):
    out = _exported(tmp_path, None)

    assert cost_command(JOB_ID, out) == 2
    assert "has no cost" in capsys.readouterr().err


def test_the_cost_subcommand_parses_job_and_out(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_cost_parser(parser.add_subparsers(dest="command"))

    args = parser.parse_args(["cost", JOB_ID, "--out", str(tmp_path)])

    assert (args.command, args.job_id, args.out) == ("cost", JOB_ID, tmp_path)


# --- the README's worked estimates --------------------------------------------------------------------


def test_the_estimate_per_video_hour_adds_up_from_the_price_table():
    estimate = estimate_per_video_hour(function_memory_mb=MEMORY | {"record_cost": 256})
    by_service = estimate["by_service"]

    assert by_service["transcribe"]["usd"] == pytest.approx(60 * PRICES.transcribe_per_minute)
    rates = PRICES.mediaconvert_per_output_minute
    assert by_service["mediaconvert"]["usd"] == pytest.approx(
        60 * (rates["avc_sd_basic"] + rates["audio_only"] + rates["audio_normalization"] + rates["frame_capture"]))
    # The copy is asked for 6 min (inference_scale_up_s) before the job embeds, and released 1 min after.
    assert by_service["sagemaker"]["usd"] == pytest.approx(7 / 60 * PRICES.sagemaker_per_instance_hour["ml.g5.xlarge"])
    assert estimate["total_usd"] == pytest.approx(sum(entry["usd"] for entry in by_service.values()))
    assert estimate["prices_version"] == PRICES_VERSION


def test_the_estimate_reads_the_deployed_memory_sizes():
    estimate = estimate_per_video_hour(model_id=None)

    assert estimate["by_service"]["lambda"]["quantity"] > 0
    assert estimate["by_service"]["bedrock"]["usd"] == 0


def test_usage_and_reports_are_plain_json(talk_log):
    report = compute_cost(gather_usage(_request(), talk_log.read(JOB_ID), CONFIG))

    assert json.loads(json.dumps(report.model_dump(mode="json")))["total_usd"] == report.total_usd
    assert isinstance(types.SimpleNamespace(**report.model_dump()).by_service, dict)
